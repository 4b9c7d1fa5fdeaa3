import Learning
import Replay
import Testing

/// The order of a topic-range replay: whatever order and batching the partitions arrive in, the merge hands the
/// messages over sorted by (timestamp so far in their partition, partition, offset).
@Suite struct PartitionMergeTests {
    struct Message: Equatable {
        var partition: Int32
        var offset: Int64
        var timestamp: Int64?
        var value: [UInt8]
    }

    typealias Generator = SplitMix64

    /// Partitions of random length, timestamps mostly rising with repeats, some going back, some missing.
    static func partitions(_ rng: inout Generator) -> (ids: [Int32], messages: [[Message]]) {
        let ids: [Int32] = [3, 0, 7, 1].shuffled(using: &rng).prefix(Int.random(in: 1...4, using: &rng)).map { $0 }
        return (ids, ids.map { p in
            var t = Int64.random(in: 0...50, using: &rng)
            return (0..<Int.random(in: 0...40, using: &rng)).map { i in
                t += Int64.random(in: -3...5, using: &rng)
                let stamp: Int64? = Int.random(in: 0..<10, using: &rng) == 0 ? nil : t
                return Message(partition: p, offset: 100 + Int64(i), timestamp: stamp, value: Array("p\(p)o\(i)".utf8))
            }
        })
    }

    /// The order the merge promises, computed directly.
    static func expected(_ parts: [[Message]]) -> [Message] {
        var keyed: [(Int64, Int32, Int64, Message)] = []
        for part in parts {
            var last = Int64.min
            for m in part {
                last = max(last, m.timestamp ?? .min)
                keyed.append((last, m.partition, m.offset, m))
            }
        }
        return keyed.sorted { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }.map(\.3)
    }

    /// Feeds the partitions in a random interleaving and random batches, draining between batches, with some
    /// messages delivered twice (as after a pause); returns what the merge handed over.
    static func merged(ids: [Int32], _ parts: [[Message]], _ rng: inout Generator) -> [Message] {
        var merge = PartitionMerge(partitions: ids)
        var next = Array(repeating: 0, count: parts.count)
        for (i, part) in parts.enumerated() where part.isEmpty { merge.finish(partition: ids[i]) }
        let byOffset = Dictionary(uniqueKeysWithValues: parts.joined().map { ("\($0.partition)/\($0.offset)", $0) })
        var out: [Message] = []
        func take() {
            merge.drain { value, partition in
                let text = String(decoding: value, as: UTF8.self)
                let offset = 100 + Int64(text.split(separator: "o")[1])!
                out.append(byOffset["\(partition)/\(offset)"]!)
                return true
            }
        }
        while next.indices.contains(where: { next[$0] < parts[$0].count }) {
            let open = next.indices.filter { next[$0] < parts[$0].count }
            let i = open.randomElement(using: &rng)!
            for _ in 0..<Int.random(in: 1...6, using: &rng) where next[i] < parts[i].count {
                let m = parts[i][next[i]]
                m.value.withUnsafeBytes { merge.append(partition: m.partition, offset: m.offset, timestampMs: m.timestamp, value: $0) }
                if next[i] > 0, Bool.random(using: &rng) {  // a re-delivery of the previous one: dropped
                    let again = parts[i][next[i] - 1]
                    again.value.withUnsafeBytes { merge.append(partition: again.partition, offset: again.offset, timestampMs: again.timestamp, value: $0) }
                }
                next[i] += 1
                if next[i] == parts[i].count { merge.finish(partition: m.partition) }
            }
            if Bool.random(using: &rng) { take() }
        }
        take()
        #expect(merge.isDone)
        return out
    }

    @Test(arguments: 0..<200)
    func anyArrivalOrderGivesTheSameOrder(seed: UInt64) {
        var rng = Generator(seed: seed)
        let (ids, parts) = Self.partitions(&rng)
        let merged = Self.merged(ids: ids, parts, &rng)
        #expect(merged == Self.expected(parts), "seed \(seed)")
        #expect(merged.count == parts.joined().count)
    }

    @Test func nothingIsHandedOverWhileAnUnfinishedPartitionHasNothingBuffered() {
        var merge = PartitionMerge(partitions: [1, 0])
        Array("a".utf8).withUnsafeBytes { merge.append(partition: 0, offset: 0, timestampMs: 10, value: $0) }
        #expect(merge.isWaiting)
        #expect(merge.waitingFor == [1])
        #expect(merge.drain { _, _ in true } == 0)
        // …unless the read stopped short: then what is buffered is all there is.
        var seen: [Int32] = []
        #expect(merge.drain(all: true) { _, p in seen.append(p); return true } == 1)
        #expect(seen == [0])
        Array("b".utf8).withUnsafeBytes { merge.append(partition: 1, offset: 5, timestampMs: 3, value: $0) }
        merge.finish(partition: 0)
        merge.finish(partition: 1)
        #expect(!merge.isWaiting)
        #expect(merge.drain { _, p in seen.append(p); return true } == 1)
        #expect(merge.isDone)
    }

    @Test func bufferedBytesShrinkAsMessagesAreHandedOver() {
        var merge = PartitionMerge(partitions: [0, 1])
        for i in 0..<10_000 {
            Array(repeating: UInt8(7), count: 100).withUnsafeBytes { merge.append(partition: 0, offset: Int64(i), timestampMs: Int64(i), value: $0) }
        }
        merge.finish(partition: 1)
        #expect(merge.bufferedBytes(of: 0) == 1_000_000)
        #expect(merge.drain(limit: 6_000) { _, _ in true } == 6_000)
        #expect(merge.bufferedBytes(of: 0) == 400_000)  // after a compaction (more than 4,096 handed over)
        var sizes = Set<Int>()
        merge.finish(partition: 0)
        #expect(merge.drain { v, _ in sizes.insert(v.count); return true } == 4_000)
        #expect(sizes == [100])
        #expect(merge.isDone)
    }
}
