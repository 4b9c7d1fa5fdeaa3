import Foundation

extension Replay {
    /// The processors this process may use at once: on Linux the CPUs of its affinity mask (`taskset`, a cpuset:
    /// `Cpus_allowed` in /proc/self/status) and its CPU quota rounded up (a container's CPU limit: cgroup v2
    /// `cpu.max`, v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`, as a container sees them under /sys/fs/cgroup), both of
    /// which `ProcessInfo.activeProcessorCount` ignores; elsewhere, or when none can be read, the active processors.
    /// The default of `--threads`: a replay limited to one core reads, decodes and learns on one thread, since a
    /// reading thread taking turns with the learning thread on one core costs more than it overlaps. Read once per
    /// process (``feed(_:bytes:deadLetters:)`` asks for every batch).
    public static let availableCores: Int = {
        var cores = ProcessInfo.processInfo.activeProcessorCount
        #if os(Linux)
        func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
        if let status = read("/proc/self/status"), let allowed = allowedCPUs(status: status) { cores = min(cores, allowed) }
        if let quota = cpuQuota(cgroup2: read("/sys/fs/cgroup/cpu.max"),
                                cgroup1Quota: read("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                                cgroup1Period: read("/sys/fs/cgroup/cpu/cpu.cfs_period_us")) {
            cores = min(cores, quota)
        }
        #endif
        return max(cores, 1)
    }()

    /// The number of CPUs in the `Cpus_allowed:` line of a /proc/PID/status text (a hexadecimal mask in groups of
    /// 32 bits separated by commas); nil when there is no such line or it names none.
    static func allowedCPUs(status: String) -> Int? {
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return nil }
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0 != "," && !$0.isWhitespace }
        guard !mask.isEmpty, mask.allSatisfy(\.isHexDigit) else { return nil }
        let count = mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
        return count > 0 ? count : nil
    }

    /// CPUs a CPU quota allows, rounded up: cgroup v2's `cpu.max` ("QUOTA PERIOD", or "max PERIOD" for none), else
    /// cgroup v1's quota (-1 for none) and period in microseconds; nil without a quota.
    static func cpuQuota(cgroup2: String?, cgroup1Quota: String?, cgroup1Period: String?) -> Int? {
        func cores(_ quota: String, _ period: String) -> Int? {
            guard let q = Int(quota), let p = Int(period), q > 0, p > 0 else { return nil }
            return (q + p - 1) / p
        }
        if let line = cgroup2?.split(whereSeparator: \.isWhitespace), line.count == 2 {
            return cores(String(line[0]), String(line[1]))
        }
        if let quota = cgroup1Quota?.trimmingCharacters(in: .whitespacesAndNewlines),
           let period = cgroup1Period?.trimmingCharacters(in: .whitespacesAndNewlines) {
            return cores(quota, period)
        }
        return nil
    }
}
