import Dispatch
import Synchronization

/// The worker loop's liveness, for `GET /healthz`: the loop beats once per turn (a poll batch, at least every
/// 100 ms when idle, and while it waits for output deliveries before a checkpoint), and the HTTP server reads
/// how long ago the last beat was. A loop that stops turning — a deadlock, a wedged call — turns `/healthz` to
/// 503 after `stallSeconds`, while `/metrics` keeps answering, so an orchestrator's liveness probe can restart
/// it (the restart resumes from the last checkpoint). The loop also reports a stalled *consumer* here (see
/// ``ProgressWatchdog``): input waits and no event was handled for `--stall-after`, although the loop turns.
public final class LoopHeartbeat: Sendable {
    /// Why the consumer makes no progress, set and cleared by the loop on the watchdog's transitions (rare); nil
    /// while it progresses or has nothing to do.
    private let consumerStall = Mutex<String?>(nil)
    /// Uptime (ns) of the last beat; 0 before the loop's first turn. Relaxed: a reader needs no other memory.
    private let last = Atomic<UInt64>(0)
    /// Uptime (ns) when the heartbeat was made: start-up (checkpoint restore, group join) counts from here.
    private let created: UInt64
    /// How long without a beat counts as stalled.
    public let stallSeconds: Double

    public init(stallSeconds: Double) {
        self.stallSeconds = stallSeconds
        created = DispatchTime.now().uptimeNanoseconds
    }

    /// Records a turn of the loop (at `now`, uptime ns).
    public func beat(at now: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        last.store(now, ordering: .relaxed)
    }

    /// Seconds since the last beat (or since start-up, before the first one).
    public func secondsSinceBeat(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Double {
        let beat = last.load(ordering: .relaxed)
        let since = beat == 0 ? created : beat
        return Double(now &- min(now, since)) / 1e9
    }

    /// Sets (or clears, with nil) the consumer-stall reason `/healthz` reports.
    public func reportConsumerStall(_ reason: String?) {
        consumerStall.withLock { $0 = reason }
    }

    /// nil while the loop turns and its consumer progresses; otherwise why `/healthz` fails.
    public func stall(now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> String? {
        let seconds = secondsSinceBeat(now: now)
        guard seconds > stallSeconds else { return consumerStall.withLock { $0 } }
        return "worker loop stalled: no turn for \(Int(seconds)) s (limit \(Int(stallSeconds)) s)"
    }
}
