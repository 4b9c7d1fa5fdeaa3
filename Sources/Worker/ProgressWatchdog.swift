/// The worker's progress watchdog: input is waiting (lag > 0 on an assigned partition) and no message has been
/// handled for `stallAfterSeconds` — the consumer is stuck (a fetch that never returns, a broker that stopped
/// answering, a wedged partition) although the loop itself keeps turning. `/healthz` then answers 503 with the
/// reason, the log says so once, and `feedloop_stalled` is 1, until a message is handled again.
///
/// No input waiting is never a stall, however long it lasts: an idle topic is healthy. Pure state, driven by the
/// loop with the time and the counts it observed, so its rules are tested without a broker or a clock.
struct ProgressWatchdog {
    /// How long without a handled message, while input waits, counts as stalled.
    let stallAfterSeconds: Double
    /// Messages handled when progress was last seen, and when (uptime ns).
    private(set) var handledAtProgress: UInt64 = 0
    private(set) var progressAt: UInt64
    /// Whether the watchdog currently reports a stall.
    private(set) var isStalled = false

    /// What changed with an observation.
    enum Transition: Equatable {
        /// The consumer just became stuck: the reason for `/healthz` and the log.
        case stalled(String)
        /// It handled a message again after a stall.
        case recovered
    }

    init(stallAfterSeconds: Double, now: UInt64) {
        self.stallAfterSeconds = stallAfterSeconds
        self.progressAt = now
    }

    /// Records what the loop saw at `now`: the count of messages handled so far and the lag of each assigned
    /// partition (nil where it is not known). Returns a transition when the state changes.
    mutating func observe(handled: UInt64, lag: [(partition: String, lag: Int64?)], now: UInt64) -> Transition? {
        let waiting = lag.reduce(Int64(0)) { $0 + max(0, $1.lag ?? 0) }
        if handled != handledAtProgress || waiting == 0 {
            // Progress, or nothing to do: the clock restarts (an idle worker that gets input has a full period).
            handledAtProgress = handled
            progressAt = now
            if isStalled {
                isStalled = false
                return .recovered
            }
            return nil
        }
        let seconds = Double(now &- min(now, progressAt)) / 1e9
        guard !isStalled, seconds >= stallAfterSeconds else { return nil }
        isStalled = true
        let behind = lag.filter { ($0.lag ?? 0) > 0 }.map { "\($0.partition) lag \($0.lag!)" }
        return .stalled(
            "consumer stalled: no event handled for \(Int(seconds)) s while \(waiting) wait (\(behind.joined(separator: ", ")); limit \(Self.format(stallAfterSeconds)) s)")
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}
