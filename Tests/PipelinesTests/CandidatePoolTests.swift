import Events
import Foundation
import Learning
import Persistence
import Testing
@testable import Pipelines

/// The popularity pool of the catalog (`outputs.candidates`): kept exactly and incrementally, restored from a
/// checkpoint, and the only candidates of a score refresh.
@Suite struct CandidatePoolTests {
    /// Checks the pool's definition: min(n, count) distinct items sorted by positives (with a half-life: by
    /// popularity), descending, and no item outside with more than the smallest inside.
    static func checkPool(_ catalog: ItemCatalog, _ n: Int, _ context: String = "") {
        let pool = catalog.pool.map(Int.init)
        #expect(pool.count == min(n, catalog.count), "\(context)")
        #expect(Set(pool).count == pool.count, "\(context)")
        let counts = pool.map { catalog.popularity(of: $0) }
        if catalog.halfLifeMs == 0 { #expect(counts == pool.map { Double(catalog.positiveCount(of: $0)) }) }
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 >= $1 }, "not sorted: \(counts) \(context)")
        let inside = Set(pool), smallest = counts.last ?? 0
        #expect((0..<catalog.count).allSatisfy { inside.contains($0) || catalog.popularity(of: $0) <= smallest }, "\(context)")
    }

    /// With a half-life the pool holds the items with the most *recent* feedback: checked against decayed counts
    /// computed directly (Σ 2^−(age / half-life) per item at the end), over a stream long enough (3,000 half-lives)
    /// to move the epoch forward many times, with purchases out of order.
    @Test(arguments: [1, 9, 64])
    func decayedPoolHoldsTheItemsWithTheMostRecentFeedback(capacity: Int) {
        let halfLife: Int64 = 1000
        var catalog = ItemCatalog(capacity: 500, featureWidth: 1, poolCapacity: capacity, halfLifeMs: halfLife)
        var state: UInt64 = 0x51ED_2701 &+ UInt64(capacity)
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        var times: [[Int64]] = []
        var now: Int64 = 1_700_000_000_000, latest = now
        var checks = 0
        for step in 0..<30_000 {
            now += Int64(next() % 200)
            let id = Array("m\(next() % UInt64(10 + step / 100))".utf8)
            let key = UInt64(id.hashValue.magnitude) | 1
            guard let item = id.withUnsafeBytes({ catalog.lookupOrInsert(key: key, id: $0) }) else { continue }
            if item == times.count { times.append([]) }
            if next() % 3 != 0 {
                let hot = catalog.count > 20 && next() % 2 == 0 ? catalog.count - 1 - Int(next() % 20) : item
                let t = next() % 10 == 0 ? now - Int64(next() % 5_000) : now  // some arrive late
                catalog.recordPositive(hot, at: t)
                times[hot].append(t)
                latest = max(latest, t)
            }
            if step % 97 == 0 {
                Self.checkPool(catalog, capacity, "step \(step)")
                checks += 1
            }
        }
        Self.checkPool(catalog, capacity)
        #expect(checks > 300)
        // The epoch moved forward (the run spans ~3,000 half-lives) and the numbers stayed finite.
        let epoch = try! #require(catalog.epochMs)
        #expect(latest - epoch < 257 * halfLife)
        #expect((0..<catalog.count).allSatisfy { catalog.popularity(of: $0).isFinite })
        // Each popularity is the item's decayed count at `latest`, up to the common factor 2^((latest − epoch)/h).
        let factor = exp2(Double(latest - epoch) / Double(halfLife))
        for item in 0..<catalog.count {
            let direct = times[item].reduce(0.0) { $0 + exp2(Double($1 - latest) / Double(halfLife)) }
            let kept = catalog.popularity(of: item) / factor
            #expect(abs(kept - direct) <= 1e-9 * max(direct, 1e-300) || (direct < 1e-200 && kept < 1e-200), "item \(item): \(kept) vs \(direct)")
        }
        // And so the pool is the top of the directly computed decayed counts (where they are not tied).
        let direct = (0..<catalog.count).map { item in times[item].reduce(0.0) { $0 + exp2(Double($1 - latest) / Double(halfLife)) } }
        let poolSmallest = catalog.pool.map { direct[Int($0)] }.min()!
        let outsideLargest = (0..<catalog.count).filter { !catalog.pool.contains(Int32($0)) }.map { direct[$0] }.max() ?? 0
        #expect(outsideLargest <= poolSmallest * (1 + 1e-9))
        // The pool moved on: items bought long ago left it.
        var rebuilt = catalog
        rebuilt.rebuildPool()
        Self.checkPool(rebuilt, capacity)
    }

    @Test func aNewBestSellerReplacesLastSeasonsWithAHalfLifeButNotWithout() {
        func run(halfLife: Int64) -> [String] {
            var catalog = ItemCatalog(capacity: 10, featureWidth: 1, poolCapacity: 1, halfLifeMs: halfLife)
            func item(_ id: String) -> Int { Array(id.utf8).withUnsafeBytes { catalog.lookupOrInsert(key: UInt64(id.utf8.first!), id: $0)! } }
            let day: Int64 = 86_400_000
            let old = item("old"), new = item("new")
            for k in 0..<100 { catalog.recordPositive(old, at: Int64(k) * 1000) }         // 100 purchases on day 0
            for k in 0..<5 { catalog.recordPositive(new, at: 30 * day + Int64(k) * 1000) }  // 5 on day 30
            return catalog.pool.map { catalog.id(of: Int($0)) }
        }
        #expect(run(halfLife: 0) == ["old"])
        #expect(run(halfLife: 86_400_000) == ["new"])
    }

    @Test func checkpointRestoresDecayedPopularityExactly() throws {
        let spec = try Self.spec(candidates: 10, halfLife: "2s")
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        let lines = CandidateScoringTests.stream(events: 3000, seed: 11)  // 1,500 s of event time: the epoch moves
        PipelineStepTests.feed(&p, Array(lines[..<2000]), &sink)
        #expect(p.catalog.epochMs != nil && p.catalog.epochMs! > 0)
        let bytes = p.checkpointBytes(positions: [])
        let (restored, _) = try Pipeline.restore(spec: spec, from: bytes)
        #expect(restored.catalog.pool == p.catalog.pool)
        #expect(restored.catalog.epochMs == p.catalog.epochMs)
        #expect((0..<p.catalog.count).allSatisfy { restored.catalog.popularity(of: $0).bitPattern == p.catalog.popularity(of: $0).bitPattern })
        var a = p, b = restored
        PipelineStepTests.feed(&a, Array(lines[2000...]), &sink)
        PipelineStepTests.feed(&b, Array(lines[2000...]), &sink)
        #expect(a.catalog.pool == b.catalog.pool)
        #expect(a.checkpointBytes(positions: []) == b.checkpointBytes(positions: []))
        // The half-life may change across a restart (it is not part of the state's definition): off ranks by the
        // counts, on-from-off starts from the counts, and another half-life keeps the popularity's order.
        let (off, _) = try Pipeline.restore(spec: try Self.spec(candidates: 10), from: bytes)
        Self.checkPool(off.catalog, 10)
        #expect(off.catalog.halfLifeMs == 0)
        let (other, _) = try Pipeline.restore(spec: try Self.spec(candidates: 10, halfLife: "1h"), from: bytes)
        Self.checkPool(other.catalog, 10)
        #expect(other.catalog.pool == p.catalog.pool)
        let (fromCounts, _) = try Pipeline.restore(spec: spec, from: off.checkpointBytes(positions: []))
        Self.checkPool(fromCounts.catalog, 10)
        #expect(fromCounts.catalog.epochMs == nil)
        #expect((0..<p.catalog.count).allSatisfy { fromCounts.catalog.popularity(of: $0) == Double(p.catalog.positiveCount(of: $0)) })
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

    static func spec(candidates: Int, halfLife: String = "off") throws -> PipelineSpec {
        if candidates == 0 {
            return try PipelineSpec.parse(yaml: CandidateScoringTests.spec + "\noutputs: {top_k: 5, candidates: all}\n")
        }
        return try PipelineSpec.parse(
            yaml: CandidateScoringTests.spec + "\noutputs: {top_k: 5, candidates: \(candidates), popularity_half_life: \(halfLife)}\n")
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

    @Test(arguments: ["off", "20s"])
    func candidateRecallCountsPurchasesOfItemsThatWereCandidates(halfLife: String) throws {
        var p = Pipeline(spec: try Self.spec(candidates: 10, halfLife: halfLife))
        var sink = PipelineStepTests.RecordingSink()
        var expected: (checked: UInt64, hits: UInt64) = (0, 0)
        var candidate = false
        for line in CandidateScoringTests.stream(events: 3000, seed: 21) {
            if line.contains(#""type":"purchase""#) {
                // Its click came just before (same item) and clicks do not move the pool.
                expected.checked += 1
                if candidate { expected.hits += 1 }
            }
            PipelineStepTests.feed(&p, [line], &sink)
            if line.contains(#""type":"click""#) { candidate = p.lastItem >= 0 && Set(p.catalog.pool).contains(Int32(p.lastItem)) }
        }
        #expect(p.candidateRecall == expected)
        #expect(expected.checked == p.counters.feedback)
        #expect(expected.hits > 0 && expected.hits < expected.checked)
        // Without a pool every catalog item is a candidate.
        var all = Pipeline(spec: try Self.spec(candidates: 0))
        PipelineStepTests.feed(&all, CandidateScoringTests.stream(events: 3000, seed: 21), &sink)
        #expect(all.candidateRecall.hits == all.candidateRecall.checked)
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
        #expect(try PipelineSpec.parse(yaml: base).outputs.popularityHalfLifeMs == 0)
        #expect(try PipelineSpec.parse(yaml: base + "\noutputs: {popularity_half_life: 7d}").outputs.popularityHalfLifeMs == 7 * 86_400_000)
        #expect(try PipelineSpec.parse(yaml: base + "\noutputs: {popularity_half_life: off}").outputs.popularityHalfLifeMs == 0)
        for bad in ["500ms", "-1d", "soon"] {
            do {
                _ = try PipelineSpec.parse(yaml: base + "\noutputs:\n  popularity_half_life: \(bad)\n", file: "p.yaml")
                Issue.record("popularity_half_life \(bad) accepted")
            } catch {
                #expect(error.key == "outputs.popularity_half_life")
                #expect(error.line == 21)
            }
        }
        // Not part of the state's definition: a checkpoint restores under another half-life.
        #expect(Pipeline(spec: try PipelineSpec.parse(yaml: base + "\noutputs: {popularity_half_life: 7d}")).specFingerprint
            == Pipeline(spec: try PipelineSpec.parse(yaml: base)).specFingerprint)
    }
}

/// A full catalog gives cold items' slots to new ones (`ItemCatalog` eviction), never an item that something
/// outside the catalog may still refer to.
@Suite struct CatalogEvictionTests {
    @Test func newItemsReplaceColdOnesAndNeverAPooledPendingOrRecentlySeenOne() throws {
        let capacity = 40, guardEvents = ItemCatalog.evictionGuardEvents
        var catalog = ItemCatalog(capacity: capacity, featureWidth: 1, poolCapacity: 8)
        var state: UInt64 = 77
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        var lastSeen: [String: UInt64] = [:]     // the test's own record, by id
        var pending: [String: Int] = [:]
        var now: UInt64 = 0
        var evictions = 0, refused = 0
        for step in 0..<6_000 {
            now += 97  // events between lookups: the guard (65,536) passes every ~675 lookups
            // Ids from a window that drifts: the assortment turns over about 4 times.
            let base = step / 40
            let id = "item-\(base + Int(next() % 60))"
            let key = UInt64(truncatingIfNeeded: id.hashValue) | 1
            let before = (count: catalog.count, evicted: catalog.evicted)
            let ids = (0..<catalog.count).map { catalog.id(of: $0) }
            let pool = Set(catalog.pool.map(Int.init))
            guard let item = Array(id.utf8).withUnsafeBytes({ catalog.lookupOrInsert(key: key, id: $0, now: now) }) else {
                refused += 1
                #expect(catalog.count == capacity)
                continue
            }
            if catalog.evicted > before.evicted {
                evictions += 1
                let old = ids[item]
                #expect(!pool.contains(item), "evicted a pooled item")
                #expect(pending[old, default: 0] == 0, "evicted \(old) with an example pending")
                #expect(now > lastSeen[old, default: 0] + guardEvents, "evicted \(old) seen \(now - lastSeen[old, default: 0]) events ago")
                #expect(catalog.lookup(key: UInt64(truncatingIfNeeded: old.hashValue) | 1) == nil, "the evicted key still resolves")
                lastSeen[old] = nil
            }
            #expect(catalog.id(of: item) == id)
            lastSeen[id] = now
            // Some examples stay pending for a while; some items get bought (the pool).
            if next() % 4 == 0 { catalog.examplePending(item); pending[id, default: 0] += 1 }
            if next() % 3 == 0, let (other, _) = pending.first(where: { $0.value > 0 }),
               let j = catalog.lookup(key: UInt64(truncatingIfNeeded: other.hashValue) | 1) {
                catalog.exampleResolved(j, now: now)
                pending[other]! -= 1
                lastSeen[other] = now
            }
            if next() % 5 == 0 { catalog.recordPositive(item) }
            #expect(catalog.count <= capacity)
        }
        #expect(evictions > 50, "evictions \(evictions)")
        #expect(catalog.evicted == UInt64(evictions))
        #expect(catalog.overflow == UInt64(refused))
        // Every live id resolves to its own slot; the id bytes were compacted along the way.
        for item in 0..<catalog.count {
            let id = catalog.id(of: item)
            #expect(catalog.lookup(key: UInt64(truncatingIfNeeded: id.hashValue) | 1) == item)
        }
        CandidatePoolTests.checkPool(catalog, 8)
        // The eviction state round-trips exactly through a checkpoint's catalog section, and both copies go on alike.
        var w = BinaryWriter()
        catalog.write(to: &w, format: 3)
        var restored = ItemCatalog(capacity: capacity, featureWidth: 1, poolCapacity: 8)
        var r = BinaryReader(w.bytes)
        let pendingItems = pending.flatMap { id, n in
            Array(repeating: catalog.lookup(key: UInt64(truncatingIfNeeded: id.hashValue) | 1) ?? -1, count: n)
        }
        try restored.read(from: &r, version: 3, now: now, pendingItems: pendingItems)
        #expect(restored.referenced == catalog.referenced && restored.lastSeen == catalog.lastSeen)
        #expect(restored.pendingExamples == catalog.pendingExamples)
        #expect(restored.hand == catalog.hand && restored.sweepAfter == catalog.sweepAfter && restored.evicted == catalog.evicted)
        #expect(restored.referenced.contains(0) && restored.referenced.contains(1), "a clock with one state only tests little")
        for step in 0..<2_000 {
            now += 97
            let id = Array("item-\(150 + step / 40 + Int(next() % 60))".utf8)
            let key = UInt64(truncatingIfNeeded: String(decoding: id, as: UTF8.self).hashValue) | 1
            let x = id.withUnsafeBytes { catalog.lookupOrInsert(key: key, id: $0, now: now) }
            let y = id.withUnsafeBytes { restored.lookupOrInsert(key: key, id: $0, now: now) }
            #expect(x == y)
        }
        #expect(restored.evicted == catalog.evicted && restored.referenced == catalog.referenced)
    }

    /// A pipeline with a small catalog over a long stream: evictions happen, the pool keeps its definition, refreshes
    /// rank live items, and a checkpoint taken mid-way continues bit-identically (eviction state included).
    @Test func evictingPipelineRestoresAndContinuesBitIdentically() throws {
        // ~190 items over the stream, a catalog of 40: the stream's items drift so old ones go cold.
        var lines: [String] = []
        var state: UInt64 = 5
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        for t in 0..<120_000 {  // ~160k events: well past the guard (65,536 events)
            let item = "m\(t / 800 + Int(next() % 40))", user = "u\(next() % 30)"
            let context = #""age":\#(20 + next() % 40),"tags":["x"],"genres":["Drama"],"price":1.5"#
            lines.append(#"{"event_id":"e\#(t)","type":"click","user_id":"\#(user)","item_id":"\#(item)","ts":\#(t * 10),"context":{\#(context)}}"#)
            if next() % 3 == 0 {
                lines.append(#"{"event_id":"p\#(t)","type":"purchase","user_id":"\#(user)","item_id":"\#(item)","ts":\#(t * 10 + 5),"context":{\#(context)}}"#)
            }
        }
        let spec = try PipelineSpec.parse(yaml: CandidateScoringTests.spec + "\noutputs: {top_k: 5, candidates: 10, catalog_capacity: 40}\n")
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        let half = lines.count * 3 / 4  // the sweep rests after each failure: evictions start near 83k events
        PipelineStepTests.feed(&p, Array(lines[..<half]), &sink)
        #expect(p.catalog.evicted > 0, "no eviction before the checkpoint")
        let (restored, _) = try Pipeline.restore(spec: spec, from: p.checkpointBytes(positions: []))
        var a = p, b = restored
        var diverged: Int? = nil
        for chunk in stride(from: half, to: lines.count, by: 2_000) {
            let part = Array(lines[chunk..<min(chunk + 2_000, lines.count)])
            PipelineStepTests.feed(&a, part, &sink)
            PipelineStepTests.feed(&b, part, &sink)
            if diverged == nil, a.checkpointBytes(positions: []) != b.checkpointBytes(positions: []) { diverged = chunk }
        }
        #expect(a.catalog.evicted > p.catalog.evicted)
        #expect(diverged == nil, "the restored run's state differs from line \(diverged ?? 0) on")
        #expect(a.catalog.count == 40)
        CandidatePoolTests.checkPool(a.catalog, 10)
        // The refresh ranks live catalog items, by their current ids.
        var top: [(item: Int, probability: Double)] = []
        a.topItems(k: 5, into: &top)
        #expect(top.count == 5)
        let ids = top.map { a.catalog.id(of: $0.item) }
        #expect(Set(ids).count == 5 && ids.allSatisfy { $0.hasPrefix("m") }, "\(ids)")
        #expect(top.allSatisfy { Set(a.catalog.pool).contains(Int32($0.item)) })
    }
}
