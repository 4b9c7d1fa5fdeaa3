import Learning
import Testing
@testable import Pipelines

/// The label join's per-partition rules against a plain reference: examples live in arrival order per partition;
/// `popExpired(partition:watermark:)` takes the oldest pending example of that partition when its deadline is before
/// the watermark (and never another partition's); feedback takes the newest pending example of its key; overflow
/// takes the globally oldest. Random operations over a small ring (so slots are reused many times over).
@Suite struct LabelJoinPartitionTests {
    struct Reference {
        struct Example { var seq: Int; var key: UInt64; var deadline: Int64; var partition: Int; var item: Int }
        var pending: [Example] = []  // arrival order

        mutating func expire(partition: Int, watermark: Int64) -> Example? {
            guard let i = pending.firstIndex(where: { $0.partition == partition }), pending[i].deadline < watermark else { return nil }
            return pending.remove(at: i)
        }

        mutating func take(key: UInt64) -> Example? {
            guard let i = pending.lastIndex(where: { $0.key == key }) else { return nil }
            // The join keeps the newest example per key; an older one of the same key is no longer reachable by key.
            return pending.remove(at: i)
        }

        mutating func oldest() -> Example? { pending.isEmpty ? nil : pending.removeFirst() }
    }

    struct Rng {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
    }

    @Test(arguments: [1, 2, 5])
    func randomOperationsMatchThePerPartitionReference(partitions: Int) {
        var join = LabelJoin(capacity: 16, featuresPerExample: 4)
        var reference = Reference()
        var rng = Rng(state: UInt64(partitions) &* 977)
        var seq = 0
        var times = [Int64](repeating: 0, count: partitions)
        var row = FeatureRow()
        for step in 0..<40_000 {
            switch rng.next(10) {
            case 0...4:  // insert
                let p = rng.next(partitions)
                times[p] += Int64(rng.next(5))
                let key = UInt64(rng.next(24))
                let deadline = times[p] + Int64(rng.next(30))
                row.removeAll()
                for j in 0..<(1 + rng.next(6)) { row.append(index: UInt32(j), value: 1, field: 0) }
                while let forced = join.makeRoom(for: row.count) {
                    let expected = reference.oldest()
                    #expect(forced.item == expected?.item, "step \(step): overflow took \(forced.item), reference \(expected?.item ?? -1)")
                }
                // A newer example of the same key hides the older one from feedback (the join keeps one per key).
                join.insert(key: key, deadline: deadline, probability: 0.5, weight: 1, item: seq, row: row, partition: p)
                reference.pending.append(.init(seq: seq, key: key, deadline: deadline, partition: p, item: seq))
                seq += 1
            case 5...7:  // a partition's time advances
                let p = rng.next(partitions)
                times[p] += Int64(rng.next(8))
                let watermark = times[p] - 10
                while let got = join.popExpired(partition: p, watermark: watermark) {
                    let expected = reference.expire(partition: p, watermark: watermark)
                    #expect(got.item == expected?.item, "step \(step): expired \(got.item), reference \(expected?.item ?? -1)")
                    #expect(expected?.partition == p)
                }
                #expect(reference.expire(partition: p, watermark: watermark) == nil, "step \(step): the join left an expired example")
            default:  // feedback
                let key = UInt64(rng.next(24))
                let got = join.takePending(key: key)
                // The reference takes the newest of the key only if it is the join's newest for that key.
                if let got {
                    let i = reference.pending.firstIndex { $0.item == got.item }
                    #expect(i != nil && reference.pending[i!].key == key, "step \(step): took \(got.item)")
                    if let i { reference.pending.remove(at: i) }
                }
            }
            #expect(join.pendingCount == reference.pending.count, "step \(step)")
            if join.pendingCount != reference.pending.count { return }
        }
        for p in 0..<partitions {
            #expect(join.pendingCount(partition: p) == reference.pending.filter { $0.partition == p }.count)
        }
    }
}
