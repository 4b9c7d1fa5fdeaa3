import Foundation

/// Delays in log-spaced buckets (about 4.4% wide, 1 µs to ~1.2 h): quantiles within one bucket's width, fixed
/// memory, no allocation per value. For the worker's exit summary; Prometheus gets the same values as Timers.
struct DelayHistogram: Sendable {
    /// Buckets per doubling.
    static let perOctave = 16.0
    static let bucketCount = 512
    private(set) var counts = [UInt64](repeating: 0, count: bucketCount)
    private(set) var count: UInt64 = 0
    private(set) var maxNanoseconds: UInt64 = 0

    mutating func record(nanoseconds: UInt64) {
        count &+= 1
        maxNanoseconds = max(maxNanoseconds, nanoseconds)
        counts[Self.bucket(of: nanoseconds)] &+= 1
    }

    static func bucket(of nanoseconds: UInt64) -> Int {
        let micros = Double(nanoseconds) / 1_000
        guard micros > 1 else { return 0 }
        return min(bucketCount - 1, Int((log2(micros) * perOctave).rounded(.up)))
    }

    /// The upper edge (ms) of the bucket holding quantile `q` (0...1); 0 when empty.
    func quantileMilliseconds(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        let rank = UInt64((q * Double(count)).rounded(.up))
        var seen: UInt64 = 0
        for (i, n) in counts.enumerated() {
            seen &+= n
            guard seen >= max(rank, 1) else { continue }
            // The last bucket is open-ended: its values are only bounded by the maximum.
            if i == Self.bucketCount - 1 { return Double(maxNanoseconds) / 1e6 }
            return min(Double(maxNanoseconds) / 1e6, exp2(Double(i) / Self.perOctave) / 1_000)
        }
        return Double(maxNanoseconds) / 1e6
    }

    /// `count`, `p50_ms`, `p90_ms`, `p99_ms`, `max_ms` for the summary JSON.
    var summary: [String: Any] {
        ["count": count, "p50_ms": quantileMilliseconds(0.5), "p90_ms": quantileMilliseconds(0.9),
         "p99_ms": quantileMilliseconds(0.99), "max_ms": Double(maxNanoseconds) / 1e6]
    }
}
