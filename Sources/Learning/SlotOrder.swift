/// Ascending slot order for the increments of a replica (``Model/takeIncrements()``): keys `slot << 32 | position`
/// ordered by slot. The touched slots of an interval (distinct) go by buckets of their high bits (``order(_:count:largest:into:counts:)``);
/// the others' increments received meanwhile (a slot may repeat) by a least-significant-digit radix sort, 11 bits a
/// pass over the bits the largest slot uses — two passes for a model of up to 2^22 slots. Both are linear in the keys:
/// the increments of an interval are thousands of slots, where a comparison sort cost more than the rest of taking them.
enum SlotOrder {
    /// Writes the keys `slot << 32 | position` of the `count` distinct `slots` (position: the index in `slots`) to
    /// `keys`, ascending. A bucket sort: the slots' high bits pick one of at most 2,048 buckets (about one per two
    /// keys; a count and a prefix sum over them), and each key is inserted in place into its bucket as it is scattered
    /// — hashed slots spread evenly, so a bucket holds a few keys. Denser than 16 keys a bucket on average (more
    /// than 2,048 buckets' worth), the radix sort (``sort(_:scratch:counts:)``) orders them instead. `largest` bounds every slot.
    static func order(
        _ slots: UnsafePointer<UInt32>, count n: Int, largest: Int, into keys: UnsafeMutablePointer<UInt64>, counts: inout [Int]
    ) {
        // About one bucket per two keys (at most 2,048): a few keys a bucket, and a prefix sum no longer than the keys.
        let bucketBits = min(11, max(0, Int.bitWidth - 1 - n.leadingZeroBitCount))
        let shift = max(0, (Int.bitWidth - largest.leadingZeroBitCount) - bucketBits)
        let buckets = (largest &>> shift) &+ 1
        if n > 16 &* buckets {
            var all = (0..<n).map { UInt64(slots[$0]) << 32 | UInt64($0) }
            var scratch: [UInt64] = []
            sort(&all, scratch: &scratch, counts: &counts)
            for k in 0..<n { keys[k] = all[k] }
            return
        }
        if counts.count < 2 &* buckets { counts = Array(repeating: 0, count: 2 &* buckets) }
        counts.withUnsafeMutableBufferPointer { c in
            let next = c.baseAddress!, start = next + buckets
            next.update(repeating: 0, count: buckets)
            for i in 0..<n { next[Int(truncatingIfNeeded: slots[i]) &>> shift] &+= 1 }
            var sum = 0
            for b in 0..<buckets {
                let x = next[b]
                next[b] = sum
                start[b] = sum
                sum &+= x
            }
            for i in 0..<n {
                let slot = slots[i]
                let key = UInt64(slot) &<< 32 | UInt64(truncatingIfNeeded: i)
                let b = Int(truncatingIfNeeded: slot) &>> shift
                var p = next[b]
                next[b] = p &+ 1
                let first = start[b]
                while p > first && keys[p &- 1] > key {
                    keys[p] = keys[p &- 1]
                    p &-= 1
                }
                keys[p] = key
            }
        }
    }

    /// Sorts `keys` by their upper 32 bits (the slot); `scratch` and `counts` are reused between calls.
    static func sort(_ keys: inout [UInt64], scratch: inout [UInt64], counts: inout [Int]) {
        let n = keys.count
        guard n > 1 else { return }
        if n < 64 {
            keys.sort()
            return
        }
        var largest: UInt64 = 0
        for k in keys { largest = max(largest, k >> 32) }
        let bitsUsed = 64 - largest.leadingZeroBitCount
        let digit = 11, buckets = 1 << digit
        if scratch.count < n { scratch = Array(repeating: 0, count: n) }
        if counts.count < buckets { counts = Array(repeating: 0, count: buckets) }
        var shift = 32
        var inKeys = true  // where the keys are now: `keys` or `scratch`
        while shift < 32 + bitsUsed {
            keys.withUnsafeMutableBufferPointer { a in
                scratch.withUnsafeMutableBufferPointer { b in
                    counts.withUnsafeMutableBufferPointer { c in
                        let from = inKeys ? a.baseAddress! : b.baseAddress!
                        let to = inKeys ? b.baseAddress! : a.baseAddress!
                        for i in 0..<buckets { c[i] = 0 }
                        for i in 0..<n { c[Int((from[i] >> UInt64(shift)) & UInt64(buckets - 1))] &+= 1 }
                        var sum = 0
                        for i in 0..<buckets {
                            let x = c[i]
                            c[i] = sum
                            sum &+= x
                        }
                        for i in 0..<n {
                            let k = from[i]
                            let d = Int((k >> UInt64(shift)) & UInt64(buckets - 1))
                            to[c[d]] = k
                            c[d] &+= 1
                        }
                    }
                }
            }
            inKeys.toggle()
            shift += digit
        }
        if !inKeys {
            keys.withUnsafeMutableBufferPointer { a in
                scratch.withUnsafeBufferPointer { b in a.baseAddress!.update(from: b.baseAddress!, count: n) }
            }
        }
    }
}
