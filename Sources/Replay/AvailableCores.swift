import Foundation

extension Replay {
    /// The processors this process may run on: on Linux the CPUs of its affinity mask (`taskset`, a container's
    /// cpuset: `Cpus_allowed` in /proc/self/status), which `ProcessInfo.activeProcessorCount` ignores; elsewhere, or
    /// when that cannot be read, the active processors. The default of `--threads`: a replay pinned to one core
    /// reads, decodes and learns on one thread, since a reading thread taking turns with the learning thread on one
    /// core costs more than it overlaps.
    public static var availableCores: Int {
        let active = ProcessInfo.processInfo.activeProcessorCount
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let count = allowedCPUs(status: status) {
            return min(count, active)
        }
        #endif
        return active
    }

    /// The number of CPUs in the `Cpus_allowed:` line of a /proc/PID/status text (a hexadecimal mask in groups of
    /// 32 bits separated by commas); nil when there is no such line or it names none.
    static func allowedCPUs(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0 != "," && !$0.isWhitespace }
        guard !mask.isEmpty, mask.allSatisfy(\.isHexDigit) else { return nil }
        let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
        return count > 0 ? count : nil
    }
}
