// MARK: - ScoredExample

/// One validated `(score, label, weight)` triple kept for exact per-window AUC.
///
/// Scores stored here are always finite (callers validate before appending), so `<` is a total order.
struct ScoredExample: Sendable, Equatable {
    /// Predicted probability (or any finite score).
    var score: Double
    /// Non-negative, finite example weight.
    var weight: Double
    /// True for a positive example.
    var label: Bool
}

// MARK: - ExactAUC

/// Exact weighted ROC AUC of a small buffer: in-place sort, then one sweep over groups of equal scores.
///
/// Nothing here allocates: the sort is a radix sort into caller-owned working space, so callers can run it on a
/// reused window buffer from a hot path.
enum ExactAUC {
    // MARK: Sorting

    /// Number of `Int` counters ``sortByScore(_:scratch:counts:)`` needs: 256 per byte of the 64-bit key.
    static let radixCounterCount = 8 * 256

    /// Sorts `buffer` by ascending score without allocating: an LSD radix sort on the score's bit pattern.
    ///
    /// Eight passes of one byte each (a pass whose byte is the same for every key is skipped), so O(n) whatever
    /// the data. Stable, total on non-NaN scores (−0 sorts just before +0, and the AUC sweep groups them as equal).
    ///
    /// - Parameters:
    ///   - buffer: the examples; sorted in place.
    ///   - scratch: at least `buffer.count` slots of working space (contents overwritten).
    ///   - counts: at least ``radixCounterCount`` counters of working space (contents overwritten).
    static func sortByScore(
        _ buffer: UnsafeMutableBufferPointer<ScoredExample>,
        scratch: UnsafeMutableBufferPointer<ScoredExample>,
        counts: UnsafeMutableBufferPointer<Int>
    ) {
        let n = buffer.count
        guard n > 1, let bufferBase = buffer.baseAddress, let scratchBase = scratch.baseAddress,
            let countBase = counts.baseAddress
        else { return }
        precondition(scratch.count >= n && counts.count >= radixCounterCount, "radix sort working space too small")
        countBase.update(repeating: 0, count: radixCounterCount)
        for index in 0..<n {
            let key = sortKey(bufferBase[index].score)
            var pass = 0
            while pass < 8 {
                countBase[pass &<< 8 | Int(truncatingIfNeeded: (key &>> UInt64(pass &* 8)) & 0xFF)] &+= 1
                pass &+= 1
            }
        }
        var source = bufferBase
        var destination = scratchBase
        for pass in 0..<8 {
            let shift = UInt64(pass &* 8)
            let bucket = countBase + (pass &<< 8)
            let firstDigit = Int(truncatingIfNeeded: (sortKey(source[0].score) &>> shift) & 0xFF)
            if bucket[firstDigit] == n { continue }  // every key has this byte: nothing to reorder
            var offset = 0
            for digit in 0..<256 {
                let c = bucket[digit]
                bucket[digit] = offset
                offset &+= c
            }
            for index in 0..<n {
                let example = source[index]
                let digit = Int(truncatingIfNeeded: (sortKey(example.score) &>> shift) & 0xFF)
                destination[bucket[digit]] = example
                bucket[digit] &+= 1
            }
            swap(&source, &destination)
        }
        if source != bufferBase { bufferBase.update(from: source, count: n) }
    }

    /// Maps a Double to a UInt64 whose unsigned order is the Double's numeric order (non-NaN values).
    @inline(__always)
    static func sortKey(_ score: Double) -> UInt64 {
        let bits = score.bitPattern
        return bits & (1 &<< 63) == 0 ? bits | (1 &<< 63) : ~bits
    }

    // MARK: AUC

    /// Weighted ROC AUC of examples already sorted by ascending score.
    ///
    /// AUC = Σ over (positive i, negative j) of wᵢ·wⱼ·[sᵢ > sⱼ] + ½·wᵢ·wⱼ·[sᵢ = sⱼ], divided by W⁺·W⁻.
    /// Returns NaN when the positive or the negative weight is zero (AUC is undefined there).
    static func auc(sorted buffer: UnsafeBufferPointer<ScoredExample>) -> Double {
        var numerator = 0.0
        var negativesBelow = 0.0
        var positiveTotal = 0.0
        var index = 0
        let n = buffer.count
        while index < n {
            let score = buffer[index].score
            var groupPositive = 0.0
            var groupNegative = 0.0
            while index < n, buffer[index].score == score {
                if buffer[index].label {
                    groupPositive += buffer[index].weight
                } else {
                    groupNegative += buffer[index].weight
                }
                index &+= 1
            }
            numerator += groupPositive * (negativesBelow + 0.5 * groupNegative)
            negativesBelow += groupNegative
            positiveTotal += groupPositive
        }
        let pairs = positiveTotal * negativesBelow
        guard pairs > 0 else { return .nan }
        return numerator / pairs
    }
}
