/// The staleness bound of a replica: stale once the increments topic has not been read to its end for longer than
/// `maxStalenessMs` (0: never), fresh again at the next read to the end. Judged at the times it is given.
struct StalenessBound {
    let maxStalenessMs: Int64
    private(set) var lastCaughtUpAt: UInt64
    private(set) var isStale = false

    enum Transition: Equatable {
        /// Stale after this many seconds without reading to the end.
        case stale(seconds: Double)
        case fresh
    }

    init(maxStalenessMs: Int64, now: UInt64) {
        self.maxStalenessMs = maxStalenessMs
        lastCaughtUpAt = now
    }

    func age(now: UInt64) -> Double { Double(now &- min(now, lastCaughtUpAt)) / 1e9 }

    mutating func observe(caughtUp: Bool, now: UInt64) -> Transition? {
        if caughtUp { lastCaughtUpAt = max(lastCaughtUpAt, now) }
        let seconds = age(now: now)
        let stale = maxStalenessMs > 0 && seconds * 1000 > Double(maxStalenessMs)
        guard stale != isStale else { return nil }
        isStale = stale
        return stale ? .stale(seconds: seconds) : .fresh
    }
}
