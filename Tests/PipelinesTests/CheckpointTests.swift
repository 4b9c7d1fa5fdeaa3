import Foundation
import Learning
import Persistence
import Testing
@testable import Pipelines

/// Checkpoints restore the exact pipeline state: a restored run continues bit-identically.
@Suite struct CheckpointTests {
    static func lines(_ n: Int, seed: UInt64) -> [String] {
        var state = seed
        var out: [String] = []
        for t in 0..<n {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let user = "u\(state >> 59)", item = "i\((state >> 40) % 31)"
            out.append(PipelineStepTests.event("click", user: user, item: item, ts: Int64(t) * 400))
            if (state >> 33) % 3 == 0 { out.append(PipelineStepTests.event("purchase", user: user, item: item, ts: Int64(t) * 400 + 100)) }
        }
        return out
    }

    /// The worker's group state (its increments exchange) is kept with the checkpoint (format 5), byte for byte; a
    /// format-4 checkpoint restores with none.
    @Test func theGroupStateTravelsWithTheCheckpoint() throws {
        let spec = try PipelineStepTests.spec(window: "1s")
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&p, Self.lines(100, seed: 3), &sink)
        p.groupState = Array("FLGS and whatever the worker keeps".utf8) + [0, 255, 7]
        let (restored, _) = try Pipeline.restore(spec: spec, from: p.checkpointBytes(positions: []))
        #expect(restored.groupState == p.groupState)
        var w = BinaryWriter()
        p.writeCheckpoint(positions: [], into: &w, format: 4)
        let (older, _) = try Pipeline.restore(spec: spec, from: w.bytes)
        #expect(older.groupState.isEmpty)
        #expect(older.model.snapshotBytes() == p.model.snapshotBytes())
    }

    @Test func restoredPipelineContinuesBitIdentically() throws {
        // Window 1s with events every 400 ms: examples are pending across the checkpoint.
        let spec = try PipelineStepTests.spec(window: "1s", capacity: 8, ranking: "{k: 3, negatives: 4, seed: 3}", model: "type: fm\n  factors: 4")
        let input = Self.lines(600, seed: 5)
        var straight = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&straight, input, &sink)

        var first = Pipeline(spec: spec)
        var sink1 = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&first, Array(input[..<333]), &sink1)
        #expect(first.join.pendingCount > 0)
        let bytes = first.checkpointBytes(positions: [InputPosition(topic: "events", partition: 0, offset: 333)])
        var (restored, positions) = try Pipeline.restore(spec: spec, from: bytes)
        #expect(positions == [InputPosition(topic: "events", partition: 0, offset: 333)])
        var sink2 = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&restored, Array(input[333...]), &sink2)

        #expect(restored.model.snapshotBytes() == straight.model.snapshotBytes())
        #expect(sink1.labelled + sink2.labelled == sink.labelled)
        #expect(restored.counters == straight.counters)
        #expect(restored.join.forcedByOverflow == straight.join.forcedByOverflow)
        #expect(restored.checkpointBytes(positions: []) == straight.checkpointBytes(positions: []))
    }

    /// The store keeps one serialization buffer across checkpoints: each file must hold exactly the checkpoint of its
    /// moment, also when it is smaller than an earlier one (nothing of the earlier one may remain).
    @Test func storeWritesExactlyTheCheckpointBytesWhenItsBufferIsReused() throws {
        let spec = try PipelineStepTests.spec()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flck-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = try CheckpointStore(directory: dir, keep: 3)
        var big = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&big, Self.lines(400, seed: 3), &sink)
        let small = Pipeline(spec: spec)
        let position = [InputPosition(topic: "events", partition: 0, offset: 7)]
        for pipeline in [big, small, big] {
            let path = try store.write(pipeline, positions: position)
            #expect(try AtomicFile.read(from: path) == pipeline.checkpointBytes(positions: position))
        }
        #expect(big.checkpointBytes(positions: []).count > small.checkpointBytes(positions: []).count)
    }

    @Test func corruptedCheckpointIsRejectedAndStoreFallsBackToTheOlderOne() throws {
        let spec = try PipelineStepTests.spec()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flck-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = try CheckpointStore(directory: dir, keep: 2)
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&p, Self.lines(50, seed: 1), &sink)
        try store.write(p, positions: [InputPosition(topic: "events", partition: 0, offset: 50)])
        PipelineStepTests.feed(&p, Self.lines(50, seed: 2), &sink)
        let newest = try store.write(p, positions: [InputPosition(topic: "events", partition: 0, offset: 100)])
        try store.write(p, positions: [InputPosition(topic: "events", partition: 0, offset: 100)])
        #expect(store.files().count == 2)

        // Flip one byte of the newest file.
        let newestNow = store.files()[0].path
        var bytes = try AtomicFile.read(from: newestNow)
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: newestNow))
        var skipped: [CheckpointError] = []
        let restored = try #require(try store.restoreNewest(spec: spec) { skipped.append($0) })
        #expect(skipped.count == 1)
        #expect(restored.path == newest)
        #expect(restored.positions.first?.offset == 100)
    }

    @Test func checkpointOfAnotherDefinitionIsRefused() throws {
        let bytes = Pipeline(spec: try PipelineStepTests.spec()).checkpointBytes(positions: [])
        #expect(throws: CheckpointError.self) {
            _ = try Pipeline.restore(spec: try PipelineStepTests.spec(window: "2s"), from: bytes)
        }
    }
}

/// The checkpoint's spec fingerprint: canonical (same in every process and build), and sensitive to exactly the
/// parts of the definition the state depends on.
@Suite struct CheckpointFingerprintTests {
    static let yaml = """
        version: 1
        name: fp
        features:
          bits: 18
          namespaces:
            - {name: u, field: user_id}
            - {name: i, field: item_id}
            - {name: a, field: context.age, transform: bucket, width: 10, side: user}
            - {name: p, field: context.price, transform: numeric, scale: 0.5, side: item}
          crosses: [[u, i]]
        label:
          examples: {click: 1.0, view: 0.25}
          positives: [purchase, add_to_cart]
          attribution_window: 30m
        model:
          type: fm
          factors: 4
        optimizer: {type: ftrl, alpha: 0.1}
        """

    static func fingerprint(_ yaml: String) throws -> UInt32 {
        Pipeline(spec: try PipelineSpec.parse(yaml: yaml)).specFingerprint
    }

    @Test func fingerprintIsPinnedAcrossProcessesAndBuilds() throws {
        // Several example weights and positives: their Dictionary/Set order is randomised per process, so a
        // fingerprint over that order would miss this constant in about every other run.
        let got = try Self.fingerprint(Self.yaml)
        #expect(got == 0x2f20_fa01, "got 0x\(String(got, radix: 16))")
        // Encoding 1 (checkpoint format 2, with the catalog capacity) keeps its value, so format-2 checkpoints
        // still restore.
        let legacy = Pipeline(spec: try PipelineSpec.parse(yaml: Self.yaml)).specFingerprint(encoding: 1)
        #expect(legacy == 0x27f9_3209, "got 0x\(String(legacy, radix: 16))")
    }

    @Test func formatTwoCheckpointRestoresAndTheCatalogCapacityMayGrowButNotShrinkBelowIt() throws {
        let yaml = CandidateScoringTests.spec + "\noutputs: {top_k: 5, candidates: 10, catalog_capacity: 100}\n"
        let spec = try PipelineSpec.parse(yaml: yaml)
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&p, CandidateScoringTests.stream(events: 1500, seed: 3), &sink)
        #expect(p.catalog.count == 60)
        var w = BinaryWriter()
        p.writeCheckpoint(positions: [InputPosition(topic: "events", partition: 0, offset: 42)], into: &w, format: 2)
        let current = p.checkpointBytes(positions: [InputPosition(topic: "events", partition: 0, offset: 42)])
        for bytes in [w.bytes, current] {
            let (restored, positions) = try Pipeline.restore(spec: spec, from: bytes)
            #expect(positions.map(\.offset) == [42])
            #expect(restored.model.snapshotBytes() == p.model.snapshotBytes())
            #expect(restored.catalog.pool == p.catalog.pool)
            if bytes == current {
                // Written again, the same bytes.
                let again = restored.checkpointBytes(positions: positions)
                #expect(again == current, "rewritten checkpoint differs (\(again.count) vs \(current.count) bytes)")
            } else {
                // Format 2 has no eviction state: every item counts as seen at the restore.
                #expect(restored.catalog.lastSeen.allSatisfy { $0 == restored.counters.events })
                #expect(restored.catalog.pendingExamples == p.catalog.pendingExamples, "pending examples recounted from the join")
            }
            // A larger catalog keeps everything; a smaller one than the checkpoint holds is refused by name.
            // (Format 2's fingerprint covered the capacity, so those checkpoints restore only with the same one.)
            guard bytes == current else { continue }
            let larger = try PipelineSpec.parse(yaml: yaml.replacingOccurrences(of: "catalog_capacity: 100", with: "catalog_capacity: 1000"))
            let (grown, _) = try Pipeline.restore(spec: larger, from: bytes)
            #expect(grown.model.snapshotBytes() == p.model.snapshotBytes())
            #expect(grown.catalog.pool == p.catalog.pool)
            let smaller = try PipelineSpec.parse(yaml: yaml.replacingOccurrences(of: "catalog_capacity: 100", with: "catalog_capacity: 50"))
            do {
                _ = try Pipeline.restore(spec: smaller, from: bytes, path: "c.flck")
                Issue.record("a catalog of 60 items restored into a capacity of 50")
            } catch {
                #expect(error == .catalogTooSmall(path: "c.flck", items: 60, capacity: 50))
                #expect(error.description.contains("raise it to at least 60"))
            }
        }
        // The store refuses it too (never skips it as corrupt and starts fresh).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fl-cap-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var store = try CheckpointStore(directory: dir)
        try store.write(p, positions: [])
        let smaller = try PipelineSpec.parse(yaml: yaml.replacingOccurrences(of: "catalog_capacity: 100", with: "catalog_capacity: 50"))
        #expect(throws: CheckpointError.self) { _ = try store.restoreNewest(spec: smaller) }
    }

    @Test func outputAndEvaluationOptionsKeepTheFingerprintStateDefinitionChangesIt() throws {
        let base = try Self.fingerprint(Self.yaml)
        let kept = [
            Self.yaml.replacingOccurrences(of: "name: fp", with: "name: renamed"),
            Self.yaml + "\noutputs: {top_k: 20, candidates: 50, min_bias_shift: 0.1, scores_topic: s2}",
            Self.yaml + "\nevaluation: {window: 10, ranking: off}",
            Self.yaml + "\ninput: {topics: [other]}",
            Self.yaml + "\noutputs: {catalog_capacity: 10, popularity_half_life: 7d}",
        ]
        for yaml in kept { #expect(try Self.fingerprint(yaml) == base, "\(yaml)") }
        let changed = [
            Self.yaml.replacingOccurrences(of: "bits: 18", with: "bits: 19"),
            Self.yaml.replacingOccurrences(of: "width: 10", with: "width: 5"),
            Self.yaml.replacingOccurrences(of: "scale: 0.5", with: "scale: 0.25"),
            Self.yaml.replacingOccurrences(of: "[[u, i]]", with: "[[i, u]]"),
            Self.yaml.replacingOccurrences(of: "view: 0.25", with: "view: 0.3"),
            Self.yaml.replacingOccurrences(of: "[purchase, add_to_cart]", with: "[purchase]"),
            Self.yaml.replacingOccurrences(of: "attribution_window: 30m", with: "attribution_window: 31m"),
            Self.yaml.replacingOccurrences(of: "alpha: 0.1", with: "alpha: 0.2"),
            Self.yaml.replacingOccurrences(of: "factors: 4", with: "factors: 8"),
        ]
        for yaml in changed { #expect(try Self.fingerprint(yaml) != base, "\(yaml)") }
    }

    @Test func checkpointOfAChangedDefinitionIsRefusedNotSkipped() throws {
        let spec = try PipelineSpec.parse(yaml: Self.yaml)
        let bytes = Pipeline(spec: spec).checkpointBytes(positions: [])
        let other = try PipelineSpec.parse(yaml: Self.yaml.replacingOccurrences(of: "bits: 18", with: "bits: 19"))
        #expect(throws: CheckpointError.self) { _ = try Pipeline.restore(spec: other, from: bytes) }
        do {
            _ = try Pipeline.restore(spec: other, from: bytes)
        } catch {
            guard case .pipelineChanged = error else { Issue.record("expected pipelineChanged, got \(error)"); return }
        }
        let retuned = try PipelineSpec.parse(yaml: Self.yaml + "\noutputs: {top_k: 3}")
        _ = try Pipeline.restore(spec: retuned, from: bytes)
    }

    @Test func formatOneCheckpointIsRefusedNotRestoredUnverified() throws {
        // Format 1 carried a fingerprint that cannot be recomputed; the store must refuse it, not skip it silently.
        var w = BinaryWriter(capacity: 64)
        let frame = w.beginFrame(magic: "FLCK", version: 1)
        w.write(string: "fp")
        w.endFrame(frame)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flck-v1-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try CheckpointStore(directory: dir, keep: 2)
        try AtomicFile.write(w.bytes, to: dir + "/checkpoint-0000000000000001.flck")
        let spec = try PipelineSpec.parse(yaml: Self.yaml)
        do {
            _ = try store.restoreNewest(spec: spec)
            Issue.record("a format-1 checkpoint was accepted")
        } catch {
            guard case .unverifiable(_, let version) = error else { Issue.record("expected unverifiable, got \(error)"); return }
            #expect(version == 1)
            #expect(error.description.contains("move the checkpoint directory away"))
        }
    }
}
