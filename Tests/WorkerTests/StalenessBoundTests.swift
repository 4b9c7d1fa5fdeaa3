import Testing
@testable import Worker

/// A replica that has not read its group's increments to the end for longer than `sync.max_staleness` is stale (its
/// score refreshes are withheld) until it reads to the end again; judged at given times.
@Suite struct StalenessBoundTests {
    static let s: UInt64 = 1_000_000_000

    @Test func staleOnlyAfterTheBoundWithoutReadingToTheEnd() {
        var b = StalenessBound(maxStalenessMs: 3_000, now: 100 * Self.s)
        #expect(b.observe(caughtUp: false, now: 101 * Self.s) == nil)
        #expect(b.observe(caughtUp: false, now: 103 * Self.s) == nil, "exactly at the bound is not past it")
        #expect(b.observe(caughtUp: false, now: 103 * Self.s + 1) == .stale(seconds: 3.000000001))
        #expect(b.isStale)
        #expect(b.observe(caughtUp: false, now: 110 * Self.s) == nil, "one transition, not one per check")
        #expect(b.age(now: 110 * Self.s) == 10)
        #expect(b.observe(caughtUp: true, now: 111 * Self.s) == .fresh)
        #expect(!b.isStale && b.age(now: 111 * Self.s) == 0)
    }

    @Test func readingToTheEndKeepsItFresh() {
        var b = StalenessBound(maxStalenessMs: 2_000, now: 0)
        for t in 1...100 { #expect(b.observe(caughtUp: t % 2 == 0, now: UInt64(t) * Self.s) == nil) }
        #expect(!b.isStale)
    }

    @Test func offNeverGoesStale() {
        var b = StalenessBound(maxStalenessMs: 0, now: 0)
        #expect(b.observe(caughtUp: false, now: 1_000_000 * Self.s) == nil)
        #expect(!b.isStale)
    }
}
