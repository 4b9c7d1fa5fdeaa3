import Testing
@testable import Worker

/// The progress watchdog's rules, at given times (no broker, no clock): input waiting with nothing handled for
/// `stallAfter` is a stall; idle input never is; progress clears it.
@Suite struct ProgressWatchdogTests {
    static let s: UInt64 = 1_000_000_000

    @Test func waitingInputWithNoProgressStallsAfterTheLimitAndRecoversOnProgress() {
        var w = ProgressWatchdog(stallAfterSeconds: 10, now: 0)
        let behind = [(partition: "events[0]", lag: Int64?(0)), (partition: "events[1]", lag: Int64?(154_899))]
        #expect(w.observe(handled: 476, lag: behind, now: 1 * Self.s) == nil, "handled moved: progress")
        #expect(w.observe(handled: 476, lag: behind, now: 10 * Self.s) == nil, "9 s without progress: not yet")
        guard case .stalled(let reason) = w.observe(handled: 476, lag: behind, now: 11 * Self.s) else {
            Issue.record("no stall after 10 s without progress while 154,899 wait")
            return
        }
        #expect(reason.contains("events[1] lag 154899") && reason.contains("10 s"), "\(reason)")
        #expect(!reason.contains("events[0]"), "partitions that are caught up are not named: \(reason)")
        #expect(w.isStalled)
        #expect(w.observe(handled: 476, lag: behind, now: 30 * Self.s) == nil, "reported once per stall")
        #expect(w.observe(handled: 477, lag: behind, now: 31 * Self.s) == .recovered)
        #expect(!w.isStalled)
        #expect(w.observe(handled: 477, lag: behind, now: 40 * Self.s) == nil, "the period restarts at the progress")
        if case .stalled = w.observe(handled: 477, lag: behind, now: 41 * Self.s) {} else { Issue.record("no second stall") }
    }

    @Test func anIdleTopicIsNeverAStallHoweverLong() {
        var w = ProgressWatchdog(stallAfterSeconds: 5, now: 0)
        let caughtUp = [(partition: "events[0]", lag: Int64?(0))]
        for t in stride(from: UInt64(1), through: 3_600, by: 7) {
            #expect(w.observe(handled: 100, lag: caughtUp, now: t * Self.s) == nil)
        }
        #expect(w.observe(handled: 100, lag: caughtUp, now: 3_600 * Self.s) == nil)
        // Input arrives after an hour idle: a full period from the last idle observation before it can be a stall.
        let arrived = [(partition: "events[0]", lag: Int64?(50))]
        #expect(w.observe(handled: 100, lag: arrived, now: 3_601 * Self.s) == nil)
        #expect(w.observe(handled: 100, lag: arrived, now: 3_604 * Self.s) == nil)
        if case .stalled = w.observe(handled: 100, lag: arrived, now: 3_605 * Self.s) {} else { Issue.record("no stall") }
        // Draining to the end clears it even with no handled message counted (e.g. the topic was truncated).
        #expect(w.observe(handled: 100, lag: caughtUp, now: 3_606 * Self.s) == .recovered)
    }

    @Test func unknownLagIsNotTakenForWaitingInput() {
        var w = ProgressWatchdog(stallAfterSeconds: 1, now: 0)
        let unknown = [(partition: "events[0]", lag: Int64?.none)]
        for t in 1...100 { #expect(w.observe(handled: 0, lag: unknown, now: UInt64(t) * Self.s) == nil) }
    }
}
