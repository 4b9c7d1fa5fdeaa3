// MARK: - StreamingAUC

/// ROC AUC on a stream with constant memory.
///
/// Keeps one histogram of predicted probability per class: `bins` equal-width bins over `[0, 1]`
/// (bin `i` holds `i/bins ≤ p < (i+1)/bins`, the last bin also holds `p = 1`), each a weighted count.
/// A positive/negative pair in different bins counts 1 when the positive's bin is higher, 0 otherwise;
/// a pair inside one bin counts ½.
///
/// **Error bound.** The only approximation is inside one bin: a positive/negative pair whose scores
/// fall into the same bin of width `1/bins` (2⁻²⁰ by default) counts ½ whatever its true order, while
/// the exact AUC counts it 0, ½ or 1. Hence
///
///     |value − exact AUC| ≤ ½ · Σ_b w⁺_b · w⁻_b / (W⁺ · W⁻)
///
/// which ``errorBound`` reports at run time. Pairs with equal scores are ties in the exact AUC too
/// (counted ½), so streams whose distinct scores differ by at least `1/bins` give the exact AUC; with
/// a power-of-two `bins` the bin index `⌊p·bins⌋` is computed without rounding, so this holds exactly.
///
/// **How.** Bins are grouped in blocks of 16. Pairs inside one block are counted as examples arrive:
/// a positive adds the negative weight below it in its block, a negative adds the positive weight above
/// it in its block (at most 15 neighbouring bins, four cache lines). Pairs across blocks come from the
/// block totals when ``value`` is read: one pass over `bins/16` blocks (65,536 at the default, tens of
/// microseconds).
///
/// **Memory and cost.** `2 · bins` doubles plus `2 · ⌈bins/16⌉` block totals: 17 MiB at the default 2²⁰
/// bins, fixed at `init`, never growing. ``record(_:label:weight:)`` is O(16) and does not allocate;
/// ``value`` and ``errorBound`` are O(bins/16).
///
/// **Invalid input.** A score that is NaN or outside `[0, 1]`, or a weight that is negative, NaN or
/// infinite, is not recorded: it is counted in ``rejected`` instead, so it is never silent and never
/// crashes a long-running worker.
///
/// **Undefined AUC.** With no positive weight or no negative weight, ``value`` is NaN.
public struct StreamingAUC: Sendable {
    // MARK: Storage

    /// Number of histogram bins per class.
    public let bins: Int
    /// `counts[2b]` = positive weight in bin `b`, `counts[2b + 1]` = negative weight (one cache region per bin).
    @usableFromInline private(set) var counts: [Double]
    /// The same, summed per block of `blockSize` bins.
    @usableFromInline private(set) var blockCounts: [Double]
    /// Σ over positive/negative pairs in the same block, positive in a higher bin, of w⁺ · w⁻.
    private var withinBlockOrdered = 0.0
    /// Σ over positive/negative pairs in the same bin of w⁺ · w⁻.
    private var sameBin = 0.0
    private var recorded = 0
    private var rejectedCount = 0
    private var positiveTotal = 0.0
    private var negativeTotal = 0.0

    /// log2 of the number of bins per block.
    @inlinable static var blockShift: Int { 4 }
    @inlinable static var blockSize: Int { 1 << blockShift }

    // MARK: Init

    /// Creates an empty histogram with `bins` equal-width bins per class (default 2²⁰).
    ///
    /// - Precondition: `bins > 0`.
    public init(bins: Int = 1 << 20) {
        precondition(bins > 0, "StreamingAUC needs at least one bin")
        self.bins = bins
        counts = Array(repeating: 0, count: 2 * bins)
        let blocks = (bins + Self.blockSize - 1) >> Self.blockShift
        blockCounts = Array(repeating: 0, count: 2 * blocks)
    }

    // MARK: Recording

    /// Adds one example: predicted probability `p`, its true `label` and a non-negative `weight`.
    ///
    /// Invalid input (NaN or out-of-range `p`; negative, NaN or infinite `weight`) is counted in
    /// ``rejected`` and otherwise ignored. O(1) (at most 15 neighbouring bins read), no allocation.
    public mutating func record(_ p: Double, label: Bool, weight: Double = 1) {
        guard p >= 0, p <= 1, weight >= 0, weight < .infinity else {
            rejectedCount &+= 1
            return
        }
        let bin = min(Int(p * Double(bins)), bins &- 1)
        let block = bin &>> Self.blockShift
        let blockStart = block &<< Self.blockShift
        counts.withUnsafeMutableBufferPointer { c in
            if label {
                var negativesBelow = 0.0
                var j = blockStart
                while j < bin {
                    negativesBelow += c[2 &* j &+ 1]
                    j &+= 1
                }
                withinBlockOrdered += weight * negativesBelow
                sameBin += weight * c[2 &* bin &+ 1]
                c[2 &* bin] += weight
            } else {
                var positivesAbove = 0.0
                var j = bin &+ 1
                let blockEnd = min(blockStart &+ Self.blockSize, bins)
                while j < blockEnd {
                    positivesAbove += c[2 &* j]
                    j &+= 1
                }
                withinBlockOrdered += weight * positivesAbove
                sameBin += weight * c[2 &* bin]
                c[2 &* bin &+ 1] += weight
            }
        }
        if label {
            blockCounts[2 &* block] += weight
            positiveTotal += weight
        } else {
            blockCounts[2 &* block &+ 1] += weight
            negativeTotal += weight
        }
        recorded &+= 1
    }

    /// The bins holding any weight, ascending: `(bin, positive weight, negative weight)`. Histograms of one bin
    /// count over disjoint examples add up bin by bin, and the AUC of the sum is that of the examples together
    /// (what the members of a group learn is judged as one stream this way).
    public func nonEmptyBins() -> [(bin: Int, positive: Double, negative: Double)] {
        var result: [(bin: Int, positive: Double, negative: Double)] = []
        for b in 0..<bins where counts[2 &* b] != 0 || counts[2 &* b &+ 1] != 0 {
            result.append((b, counts[2 &* b], counts[2 &* b &+ 1]))
        }
        return result
    }

    /// Starts loading the counters ``record(_:label:weight:)`` of `p` will touch (a cache hint; changes nothing).
    @inlinable @inline(__always)
    public func prefetch(_ p: Double) {
        guard p >= 0, p <= 1 else { return }
        let bin = min(Int(p * Double(bins)), bins &- 1)
        let block = bin &>> Self.blockShift
        let blockStart = block &<< Self.blockShift
        counts.withUnsafeBufferPointer { c in
            let first = UnsafeRawPointer(c.baseAddress! + 2 &* blockStart)
            let bytes = 2 &* Self.blockSize &* MemoryLayout<Double>.stride
            var offset = 0
            while offset < bytes {
                Learning.prefetch(first + offset)
                offset &+= 64
            }
            Learning.prefetch(first + (bytes &- 1))
        }
        blockCounts.withUnsafeBufferPointer { b in Learning.prefetch(UnsafeRawPointer(b.baseAddress! + 2 &* block)) }
    }

    // MARK: Results

    /// Examples recorded (rejected ones excluded).
    public var count: Int { recorded }

    /// Examples refused because of a NaN/out-of-range score or an invalid weight.
    public var rejected: Int { rejectedCount }

    /// Total weight of positive examples recorded.
    public var positiveWeight: Double { positiveTotal }

    /// Total weight of negative examples recorded.
    public var negativeWeight: Double { negativeTotal }

    /// ROC AUC of everything recorded, exact up to pairs sharing one bin (see ``errorBound``).
    ///
    /// NaN when no positive weight or no negative weight has been recorded. O(bins/16).
    public var value: Double {
        let pairs = positiveTotal * negativeTotal
        guard pairs > 0 else { return .nan }
        return (withinBlockOrdered + acrossBlocksOrdered() + 0.5 * sameBin) / pairs
    }

    /// Upper bound on `|value − exact AUC|`: half the weight of positive/negative pairs that share a bin,
    /// over all pairs. NaN when ``value`` is NaN. O(1).
    public var errorBound: Double {
        let pairs = positiveTotal * negativeTotal
        guard pairs > 0 else { return .nan }
        return 0.5 * sameBin / pairs
    }

    /// Σ over blocks k of (positive weight in k) × (negative weight in blocks before k).
    ///
    /// Four interleaved lanes (quarters of the block range), each with its own running negative total from 0,
    /// keep four floating-point dependency chains in flight; each lane's pairs with the negatives before it are
    /// added at the end as (lane positive weight) × (negative weight before the lane).
    private func acrossBlocksOrdered() -> Double {
        blockCounts.withUnsafeBufferPointer { b in
            let blocks = b.count / 2
            let lane = blocks / 4
            var o0 = 0.0, o1 = 0.0, o2 = 0.0, o3 = 0.0
            var n0 = 0.0, n1 = 0.0, n2 = 0.0, n3 = 0.0
            var p0 = 0.0, p1 = 0.0, p2 = 0.0, p3 = 0.0
            for j in 0..<lane {
                let k0 = 2 &* j
                let k1 = k0 &+ 2 &* lane
                let k2 = k1 &+ 2 &* lane
                let k3 = k2 &+ 2 &* lane
                o0 += b[k0] * n0
                o1 += b[k1] * n1
                o2 += b[k2] * n2
                o3 += b[k3] * n3
                n0 += b[k0 &+ 1]
                n1 += b[k1 &+ 1]
                n2 += b[k2 &+ 1]
                n3 += b[k3 &+ 1]
                p0 += b[k0]
                p1 += b[k1]
                p2 += b[k2]
                p3 += b[k3]
            }
            var ordered = o0
            var negativesBefore = n0
            ordered += o1 + p1 * negativesBefore
            negativesBefore += n1
            ordered += o2 + p2 * negativesBefore
            negativesBefore += n2
            ordered += o3 + p3 * negativesBefore
            negativesBefore += n3
            for k in (4 * lane)..<blocks {  // the few blocks left over
                ordered += b[2 &* k] * negativesBefore
                negativesBefore += b[2 &* k &+ 1]
            }
            return ordered
        }
    }
}
