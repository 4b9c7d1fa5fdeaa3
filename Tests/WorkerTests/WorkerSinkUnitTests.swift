import Foundation
import Testing
@testable import Worker

/// Pieces of the worker's sink that need no broker.
@Suite struct WorkerSinkUnitTests {
    @Test func refreshLimiterAllowsOneRefreshPerIntervalPerUser() {
        var limiter = RefreshLimiter(intervalMs: 1_000)
        #expect(limiter.allows(42, at: 0))
        limiter.record(42, at: 0)
        #expect(!limiter.allows(42, at: 999))
        #expect(limiter.allows(42, at: 1_000))
        #expect(limiter.allows(43, at: 10), "another user is independent")
        let off = RefreshLimiter(intervalMs: 0)
        #expect(off.allows(42, at: 0))
    }

    @Test func refreshLimiterIsExactForManyUsersAndNeverLate() {
        // 40,000 users (fewer than the 65,536 sets) refreshed at t = user: a second refresh is refused for every
        // user within the interval, and allowed after it.
        var limiter = RefreshLimiter(intervalMs: 100_000)
        let users = (1...40_000).map { UInt64($0) &* 0x2545_F491_4F6C_DD1D }
        for (t, u) in users.enumerated() { limiter.record(u, at: Int64(t)) }
        var refused = 0
        for (t, u) in users.enumerated() {
            if !limiter.allows(u, at: Int64(t) + 99_999) { refused += 1 }
            #expect(limiter.allows(u, at: Int64(t) + 100_000))
        }
        // 2-way sets: a few users may share a set with two others and lose their entry (allowed early, not late).
        #expect(refused >= 39_000, "refused \(refused) of 40,000")
        // Bounded: a million more users change nothing in the memory it holds, and never block anyone late.
        for u in 1...1_000_000 { limiter.record(UInt64(u) &* 0x9E37_79B9, at: 200_000) }
        #expect(users.allSatisfy { limiter.allows($0, at: 200_000) })
    }

    @Test func numbersAreTheShortestFloatDecimalsAndNonFiniteIsNull() {
        var e = OutputEncoder()
        for (v, text) in [(0.0, "0.0"), (0.1, "0.1"), (-1.5, "-1.5"), (0.81095743, "0.81095743"), (1e-7, "1e-07"),
                          (Double.nan, "null"), (Double.infinity, "null"), (3e39, "null")] {
            e.begin()
            e.number(v)
            #expect(String(decoding: e.bytes, as: UTF8.self) == text, "\(v)")
        }
        // Every Float round-trips through its text, and the text is valid JSON.
        var state: UInt32 = 12345
        for _ in 0..<10_000 {
            state = state &* 1_664_525 &+ 1_013_904_223
            let f = Float(bitPattern: state)
            guard f.isFinite else { continue }
            e.begin()
            e.number(Double(f))
            let text = String(decoding: e.bytes, as: UTF8.self)
            #expect(Float(text) == f, "\(text)")
            #expect((try? JSONSerialization.jsonObject(with: Data(e.bytes), options: [.fragmentsAllowed])) != nil, "\(text)")
        }
    }

    @Test func delayHistogramQuantilesAreWithinOneBucket() {
        var h = DelayHistogram()
        #expect(h.quantileMilliseconds(0.99) == 0)
        // 1..10,000 µs uniformly: p50 ≈ 5 ms, p99 ≈ 9.9 ms, max 10 ms.
        for micros in 1...10_000 { h.record(nanoseconds: UInt64(micros) * 1_000) }
        #expect(h.count == 10_000)
        let width = exp2(1 / DelayHistogram.perOctave)  // one bucket, ~4.4%
        #expect(h.quantileMilliseconds(0.5) >= 5.0 && h.quantileMilliseconds(0.5) <= 5.0 * width)
        #expect(h.quantileMilliseconds(0.99) >= 9.9 && h.quantileMilliseconds(0.99) <= 10.0)
        #expect(h.quantileMilliseconds(1.0) == 10.0)
        h.record(nanoseconds: 0)
        h.record(nanoseconds: UInt64.max / 2)  // beyond the last bucket: counted there, max kept exactly
        #expect(h.count == 10_002)
        #expect(h.quantileMilliseconds(1.0) == Double(UInt64.max / 2) / 1e6)
    }
}
