import Foundation

/// CPU seconds this process has used so far, all threads (user + system; `CLOCK_PROCESS_CPUTIME_ID`). The summary's
/// `run.cpu_seconds` is the difference between its readings at the run's first and latest message, so the CPU per
/// event of a drain leaves out start-up, the group join and idle waiting.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
