/// Ascending slot order for the increments of a replica (``Model/takeIncrements()``): keys `slot << 32 | position`
/// sorted by slot with a least-significant-digit radix sort, 11 bits a pass over the bits the largest slot uses —
/// two passes for a model of up to 2^22 slots. Linear in the keys: the increments of an interval are thousands of
/// slots, where a comparison sort cost more than the rest of taking them.
enum SlotOrder {
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
