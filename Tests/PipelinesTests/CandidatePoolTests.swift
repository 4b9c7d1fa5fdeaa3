import Events
import Foundation
import Learning
import Testing
@testable import Pipelines

/// The popularity pool of the catalog (`outputs.candidates`): kept exactly and incrementally, restored from a
/// checkpoint, and the only candidates of a score refresh.
@Suite struct CandidatePoolTests {
    /// Checks the pool's definition: min(n, count) distinct items sorted by positives (descending), and no item
    /// outside with more positives than the smallest inside.
    static func checkPool(_ catalog: ItemCatalog, _ n: Int, _ context: String = "") {
        let pool = catalog.pool.map(Int.init)
        #expect(pool.count == min(n, catalog.count), "\(context)")
        #expect(Set(pool).count == pool.count, "\(context)")
        let counts = pool.map { catalog.positiveCount(of: $0) }
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 >= $1 }, "not sorted: \(counts) \(context)")
        let inside = Set(pool), smallest = counts.last ?? 0
        #expect((0..<catalog.count).allSatisfy { inside.contains($0) || catalog.positiveCount(of: $0) <= smallest }, "\(context)")
    }

    @Test(arguments: [1, 7, 64])
    func poolKeptIncrementallyHoldsTheItemsWithTheMostPositives(capacity: Int) {
        var catalog = ItemCatalog(capacity: 500, featureWidth: 1, poolCapacity: capacity)
        var state: UInt64 = 0x9E37_79B9 &+ UInt64(capacity)
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        var checks = 0
        for step in 0..<30_000 {
            // New items keep arriving (ids drawn from a growing range); positives favour a drifting set of items.
            let id = Array("m\(next() % UInt64(10 + step / 100))".utf8)
            let key = UInt64(id.hashValue.magnitude) | 1
            guard let item = id.withUnsafeBytes({ catalog.lookupOrInsert(key: key, id: $0) }) else { continue }
            if next() % 3 != 0 {
                // Skewed: low item indices early, later items once they exist, so the pool's membership changes.
                let hot = catalog.count > 20 && next() % 2 == 0 ? catalog.count - 1 - Int(next() % 20) : item
                catalog.recordPositive(hot)
            }
            if step % 97 == 0 {
                Self.checkPool(catalog, capacity, "step \(step)")
                checks += 1
            }
        }
        Self.checkPool(catalog, capacity)
        #expect(checks > 300)
        #expect(catalog.count > capacity)
        // The pool changed membership over the run: its members are not simply the first items seen.
        #expect(Set(catalog.pool) != Set((0..<Int32(capacity)).map { $0 }))
        // The counts-only rebuild (older checkpoints) satisfies the same definition and ranks the same counts.
        var rebuilt = catalog
        rebuilt.rebuildPool()
        Self.checkPool(rebuilt, capacity)
        #expect(rebuilt.pool.map { rebuilt.positiveCount(of: Int($0)) } == catalog.pool.map { catalog.positiveCount(of: Int($0)) })
    }

    static func spec(candidates: Int) throws -> PipelineSpec {
        try PipelineSpec.parse(yaml: CandidateScoringTests.spec + "\noutputs: {top_k: 5, candidates: \(candidates)}\n")
    }

    @Test func scoreRefreshRanksOnlyThePoolAndScoresItBitIdentically() throws {
        var p = Pipeline(spec: try Self.spec(candidates: 12))
        var sink = PipelineStepTests.RecordingSink()
        var checked = 0
        for (n, line) in CandidateScoringTests.stream(events: 3000, seed: 5).enumerated() {
            PipelineStepTests.feed(&p, [line], &sink)
            guard n % 101 == 0, p.catalog.count > 12 else { continue }
            Self.checkPool(p.catalog, 12)
            var top: [(item: Int, probability: Double)] = []
            p.topItems(k: 12, into: &top)
            #expect(Set(top.map { Int32($0.item) }) == Set(p.catalog.pool), "the refresh ranks exactly the pool")
            for entry in top {
                #expect(entry.probability.bitPattern == sigmoid(p.score(candidate: entry.item)).bitPattern)
            }
            var best: [(item: Int, probability: Double)] = []
            p.topItems(k: 5, into: &best)
            #expect(best.map(\.item) == Array(top.prefix(5).map(\.item)))
            checked += 1
        }
        #expect(checked > 20)
        #expect(p.catalog.count == 60)
        // Excluded items are left out and the rest keep their order: the ranking without them.
        var all: [(item: Int, probability: Double)] = []
        p.topItems(k: 12, into: &all)
        let excluded = [all[0].item, all[3].item]
        var rest: [(item: Int, probability: Double)] = []
        p.topItems(k: 10, excluding: excluded, into: &rest)
        #expect(rest.map(\.item) == all.map(\.item).filter { !excluded.contains($0) })
    }

    @Test func checkpointRestoresCountsAndPool() throws {
        let spec = try Self.spec(candidates: 10)
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        let lines = CandidateScoringTests.stream(events: 2000, seed: 9)
        PipelineStepTests.feed(&p, Array(lines[..<1200]), &sink)
        let (restored, _) = try Pipeline.restore(spec: spec, from: p.checkpointBytes(positions: []))
        #expect(restored.catalog.pool == p.catalog.pool)
        #expect((0..<p.catalog.count).allSatisfy { restored.catalog.positiveCount(of: $0) == p.catalog.positiveCount(of: $0) })
        #expect(p.catalog.positiveCount(of: Int(p.catalog.pool[0])) > 0)
        // And they keep evolving identically.
        var a = p, b = restored
        PipelineStepTests.feed(&a, Array(lines[1200...]), &sink)
        PipelineStepTests.feed(&b, Array(lines[1200...]), &sink)
        #expect(a.catalog.pool == b.catalog.pool)
        // outputs.candidates may change across a restart: the pool is then rebuilt from the counts.
        let (resized, _) = try Pipeline.restore(spec: try Self.spec(candidates: 20), from: p.checkpointBytes(positions: []))
        Self.checkPool(resized.catalog, 20)
        let counts = p.catalog.pool.map { p.catalog.positiveCount(of: Int($0)) }
        #expect(Array(resized.catalog.pool.prefix(10).map { resized.catalog.positiveCount(of: Int($0)) }) == counts)
    }

    @Test func candidatesAndMinimumBiasShiftParseAndBadValuesNameTheirKey() throws {
        let base = PipelineSpecParsingTests.minimal
        #expect(try PipelineSpec.parse(yaml: base).outputs.candidates == 500)
        #expect(try PipelineSpec.parse(yaml: base + "\noutputs: {candidates: all}").outputs.candidates == 0)
        #expect(try PipelineSpec.parse(yaml: base + "\noutputs: {top_k: 800}").outputs.candidates == 800)
        #expect(try PipelineSpec.parse(yaml: base + "\noutputs: {min_bias_shift: 0.01}").outputs.minBiasShift == 0.01)
        do {
            _ = try PipelineSpec.parse(yaml: base + "\noutputs:\n  top_k: 20\n  candidates: 10\n", file: "p.yaml")
            Issue.record("candidates < top_k accepted")
        } catch {
            #expect(error.key == "outputs.candidates")
            #expect(error.line == 22)
            #expect(error.message.contains("at least top_k"))
        }
        do {
            _ = try PipelineSpec.parse(yaml: base + "\noutputs:\n  min_bias_shift: -1\n", file: "p.yaml")
            Issue.record("negative min_bias_shift accepted")
        } catch {
            #expect(error.key == "outputs.min_bias_shift")
        }
    }
}
