import Foundation
import Learning
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

    @Test func corruptedCheckpointIsRejectedAndStoreFallsBackToTheOlderOne() throws {
        let spec = try PipelineStepTests.spec()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("flck-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try CheckpointStore(directory: dir, keep: 2)
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
