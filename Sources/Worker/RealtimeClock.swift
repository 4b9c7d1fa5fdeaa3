import Foundation

/// Wall-clock time in ms, the clock of Kafka's CreateTime timestamps.
enum RealtimeClock {
    static func milliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}
