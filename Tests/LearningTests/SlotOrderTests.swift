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
}
