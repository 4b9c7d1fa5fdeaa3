import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A subprocess (the `feedloop` binary or a broker) with its stdout and stderr in a log file.
///
/// Never outlives its test: ``waitForExit(timeout:)`` kills it when the bound passes, and `deinit` kills it if
/// it is still running (a test that throws early leaves nothing behind).
final class ChildProcess {
    let name: String
    let logPath: String
    private let process: Process
    private let logHandle: FileHandle

    /// Starts `executable` with `arguments` and this process's environment plus `environment` (which wins);
    /// output goes to `logPath` (created or truncated).
    init(name: String, executable: String, arguments: [String], environment: [String: String] = [:], logPath: String) throws {
        self.name = name
        self.logPath = logPath
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        guard let handle = FileHandle(forWritingAtPath: logPath) else {
            throw WorkerTestEnvironment.Invalid(description: "cannot write \(logPath)")
        }
        logHandle = handle
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, given in given }
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
    }

    deinit {
        if process.isRunning {
            signalProcess(process.processIdentifier, SIGCONT)
            signalProcess(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        try? logHandle.close()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// Sends `signal` (SIGTERM, SIGKILL, SIGSTOP, SIGCONT…).
    func send(_ signal: Int32) {
        signalProcess(process.processIdentifier, signal)
    }

    /// How the process ended.
    enum Termination: Equatable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signalled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// Waits for the process to end; after `timeout` kills it (SIGKILL) and throws ``TimedOut`` with its log tail.
    @discardableResult
    func waitForExit(timeout: Duration) async throws -> Termination {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                kill()
                throw TimedOut(description: "\(name) still running after \(timeout); killed it. Log \(logPath), tail:\n\(logTail())")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        return termination
    }

    /// SIGKILL (after SIGCONT, in case it is stopped) and wait until it is gone.
    func kill() {
        guard process.isRunning else { return }
        send(SIGCONT)
        send(SIGKILL)
        process.waitUntilExit()
    }

    var termination: Termination {
        process.terminationReason == .uncaughtSignal ? .signalled(process.terminationStatus) : .exited(process.terminationStatus)
    }

    /// Everything the process wrote so far.
    func log() -> String {
        String(decoding: FileManager.default.contents(atPath: logPath) ?? Data(), as: UTF8.self)
    }

    /// The last lines of the log, for failure messages.
    func logTail(_ lines: Int = 40) -> String {
        log().split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Waits until `condition` holds for the log; throws (killing the process) after `timeout` or when the process
    /// exits first.
    func waitForLog(_ what: String, timeout: Duration, _ condition: (String) -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let text = log()
            if condition(text) { return }
            if !process.isRunning {
                throw TimedOut(description: "\(name) exited (\(termination)) before \(what). Log \(logPath), tail:\n\(logTail())")
            }
            if ContinuousClock.now >= deadline {
                kill()
                throw TimedOut(description: "\(name): no \(what) after \(timeout); killed it. Log \(logPath), tail:\n\(logTail())")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

/// `kill(2)` (a free function, so the name does not clash with ``ChildProcess/kill()``).
func signalProcess(_ pid: Int32, _ signal: Int32) {
    _ = kill(pid, signal)
}
