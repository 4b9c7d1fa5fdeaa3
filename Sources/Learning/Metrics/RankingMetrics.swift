#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - RankingMetrics

/// Ranking quality for next-purchase prediction: hit rate@K and NDCG@K from the rank of the true item.
///
/// Record, for every evaluated event, the 0-based rank of the item that was actually purchased among the
/// candidates scored (see ``Ranking/rank(of:among:)``). With one relevant item the ideal DCG is 1, so an
/// event contributes `1 / log2(rank + 2)` to NDCG@K when `rank < k` and 0 otherwise; it is a hit when
/// `rank < k`. O(1) per event, constant memory.
public struct RankingMetrics: Sendable {
    // MARK: State

    /// Cut-off: ranks `0..<k` count.
    public let k: Int
    private var recorded = 0
    private var hitCount = 0
    private var gainSum = 0.0
    /// `discounts[r] = 1 / log2(r + 2)` for `r < k`.
    private let discounts: [Double]

    // MARK: Init

    /// Creates empty metrics with cut-off `k` (> 0).
    public init(k: Int = 10) {
        precondition(k > 0, "k must be positive")
        self.k = k
        discounts = (0..<k).map { 1 / log2(Double($0 + 2)) }
    }

    // MARK: Recording

    /// Records the 0-based rank of the true item: a hit if `rank < k`, NDCG gain `1/log2(rank+2)` if `rank < k`.
    ///
    /// - Precondition: `rank >= 0`.
    public mutating func record(rank: Int) {
        precondition(rank >= 0, "rank is 0-based and cannot be negative")
        recorded &+= 1
        if rank < k {
            hitCount &+= 1
            gainSum += discounts[rank]
        }
    }

    // MARK: Results

    /// Events recorded.
    public var count: Int { recorded }

    /// Events whose true item ranked within the top `k`.
    public var hits: Int { hitCount }

    /// Hit rate@K: fraction of events with `rank < k`; NaN before any event.
    public var hitRate: Double { Double(hitCount) / Double(recorded) }

    /// Mean NDCG@K over events; NaN before any event.
    public var ndcg: Double { gainSum / Double(recorded) }
}
