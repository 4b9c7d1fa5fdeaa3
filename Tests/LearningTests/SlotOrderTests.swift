import Testing
@testable import Learning

/// The order in which increments travel: ascending slots, whatever the order and the number of touches.
@Suite struct SlotOrderTests {
    /// Keys as `takeIncrements` builds them (slot << 32 | position, positions ascending in input order), sorted by
    /// the radix sort, equal the comparison sort's order: ascending slots, equal slots in input order.
    @Test(arguments: [0, 1, 2, 63, 64, 65, 1_000, 20_000])
    func theRadixOrderIsTheComparisonOrder(count: Int) {
        var generator = SplitMix64(seed: UInt64(count) &+ 7)
        var scratch: [UInt64] = [], counts: [Int] = []
        let largestSlots: [UInt64] = [3, 2_048, 1_048_576, 4_194_305, 2_147_483_648]
        for largest in largestSlots {
            let keys: [UInt64] = (0..<count).map { i in
                let slot: UInt64 = generator.next() % (largest + 1)
                return slot << 32 | UInt64(i)
            }
            var sorted = keys
            SlotOrder.sort(&sorted, scratch: &scratch, counts: &counts)
            #expect(sorted == keys.sorted(), "\(count) keys, slots up to \(largest)")
        }
    }

    /// The bucket order of an interval's touched slots (distinct, in first-touch order) is the sorted order of their
    /// keys, for tables of every size, sparse and dense (past 16 keys a bucket it hands over to the radix sort).
    @Test(arguments: [0, 1, 2, 63, 1_000, 20_000])
    func theBucketOrderIsTheSortedOrder(count: Int) {
        var generator = SplitMix64(seed: UInt64(count) &+ 11)
        var counts: [Int] = []
        for bits in [3, 8, 11, 12, 20, 24] {
            let largest = 1 << bits  // the bias slot
            var seen = Set<UInt32>()
            var slots: [UInt32] = []
            while slots.count < min(count, largest + 1) {
                // Mostly spread, some runs of neighbours (one bucket), the bias slot among them.
                let slot = generator.next() % 4 == 0 ? UInt32(min(largest, slots.last.map { Int($0) + 1 } ?? 0))
                    : UInt32(generator.next() % UInt64(largest + 1))
                if seen.insert(slot).inserted { slots.append(slot) }
            }
            let expected = slots.enumerated().map { UInt64($0.element) << 32 | UInt64($0.offset) }.sorted()
            var keys = [UInt64](repeating: 0, count: slots.count)
            slots.withUnsafeBufferPointer { s in
                keys.withUnsafeMutableBufferPointer { k in
                    if let base = s.baseAddress, let out = k.baseAddress {
                        SlotOrder.order(base, count: s.count, largest: largest, into: out, counts: &counts)
                    }
                }
            }
            #expect(keys == expected, "\(slots.count) slots of a table of 2^\(bits)")
        }
    }
}
