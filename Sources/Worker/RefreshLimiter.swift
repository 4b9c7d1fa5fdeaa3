/// "At most one score refresh per user per interval of event time", in bounded memory.
///
/// A 2-way set-associative table of (user key, last refresh time): 2^16 sets, 2 MiB, whatever the number of users
/// over months. When both entries of a set hold other users, the one refreshed longest ago is replaced, so a user
/// can lose their entry only to more recently refreshed users of the same set; that user may then be refreshed once
/// early (never late, and never not at all). With fewer active users than sets this is exact.
struct RefreshLimiter {
    static let setBits = 16
    let intervalMs: Int64
    private var keys: [UInt64]
    private var times: [Int64]

    init(intervalMs: Int64) {
        self.intervalMs = intervalMs
        let entries = intervalMs > 0 ? 2 << Self.setBits : 0
        keys = Array(repeating: 0, count: entries)
        times = Array(repeating: .min, count: entries)
    }

    /// Whether `user` (a 64-bit key, never 0) may be refreshed at event time `now`.
    func allows(_ user: UInt64, at now: Int64) -> Bool {
        guard intervalMs > 0 else { return true }
        let s = set(of: user)
        for i in s..<(s + 2) where keys[i] == user {
            return now >= times[i] &+ intervalMs
        }
        return true
    }

    /// Records a refresh of `user` at event time `now`.
    mutating func record(_ user: UInt64, at now: Int64) {
        guard intervalMs > 0 else { return }
        let s = set(of: user)
        let slot = keys[s] == user ? s : keys[s + 1] == user ? s + 1 : (times[s] <= times[s + 1] ? s : s + 1)
        keys[slot] = user
        times[slot] = now
    }

    @inline(__always) private func set(of user: UInt64) -> Int {
        Int(truncatingIfNeeded: (user &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - Self.setBits)) << 1
    }
}
