// MARK: - Ranking

/// Ranks a target score among candidate scores, for ``RankingMetrics``.
public enum Ranking {
    /// The 0-based rank of `target` among `others` (higher score = better rank).
    ///
    /// Rank = (number of `others` scoring strictly higher) + ⌊(number of `others` scoring equal) / 2⌋: ties count
    /// half, which is the expected rank under a random tie-break rounded down, and deterministic. So a model that
    /// scores every candidate the same ranks the target in the middle, not first.
    ///
    /// `others` must not contain the target itself. NaN in `others` never outranks the target; a NaN `target`
    /// ranks last (`others.count`). O(n), no allocation.
    @inlinable
    public static func rank(of target: Double, among others: UnsafeBufferPointer<Double>) -> Int {
        if target.isNaN { return others.count }
        var higher = 0
        var equal = 0
        for score in others {
            higher &+= score > target ? 1 : 0
            equal &+= score == target ? 1 : 0
        }
        return higher &+ equal / 2
    }

    /// The same rank as the buffer overload, for scores held in an array.
    @inlinable
    public static func rank(of target: Double, among others: [Double]) -> Int {
        others.withUnsafeBufferPointer { rank(of: target, among: $0) }
    }
}
