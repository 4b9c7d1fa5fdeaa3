import Foundation
import Kafka
import Logging
import Testing

// MARK: - Environment

/// What the worker integration tests need from the environment `scripts/test` sets up, and the names they share.
///
/// Every variable is required: a missing one fails the test with instructions (these tests never skip).
enum WorkerTestEnvironment {
    /// A required environment variable is not set.
    struct Missing: Error, CustomStringConvertible {
        let variable: String
        let meaning: String
        var description: String {
            """
            \(variable) is not set (\(meaning)). The worker tests run the real `feedloop` binary against a real \
            broker; run them with `scripts/test --filter WorkerTests`, which builds everything, starts a broker and \
            exports FEEDLOOP_BROKERS, FEEDLOOP_BIN, FEEDLOOP_TANSU, FEEDLOOP_DATA and LD_LIBRARY_PATH.
            """
        }
    }

    /// A variable is set but names something that is not there.
    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    static func value(_ variable: String, meaning: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            throw Missing(variable: variable, meaning: meaning)
        }
        return value
    }

    /// `FEEDLOOP_BROKERS`: the shared test broker.
    static func brokers() throws -> String {
        try value("FEEDLOOP_BROKERS", meaning: "host:port of the test broker")
    }

    /// Fails unless the librdkafka loaded here (and inherited by the worker subprocesses, from `LD_LIBRARY_PATH`) can
    /// talk to Tansu.
    static func checkRuntime() throws {
        guard KafkaRuntime.runtimeVersion >= KafkaRuntime.minimumVersionForTaggedFields else {
            throw Invalid(description: """
                librdkafka \(KafkaRuntime.version) is loaded; Tansu needs >= \(KafkaRuntime.minimumVersionForTaggedFields). \
                Put the project's runtime/lib on LD_LIBRARY_PATH (scripts/test does).
                """)
        }
    }

    /// `FEEDLOOP_BIN`: the `feedloop` executable under test.
    static func binary() throws -> String {
        let path = try value("FEEDLOOP_BIN", meaning: "path of the built feedloop executable")
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Invalid(description: "FEEDLOOP_BIN=\(path) is not an executable file (run `swift build` first)")
        }
        return path
    }

    /// `FEEDLOOP_TANSU`: the Tansu broker binary, for tests that need a broker of their own.
    static func tansu() throws -> String {
        let path = try value("FEEDLOOP_TANSU", meaning: "path of the Tansu broker binary")
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Invalid(description: "FEEDLOOP_TANSU=\(path) is not an executable file")
        }
        return path
    }

    /// `FEEDLOOP_DATA`/events.jsonl: the MovieLens-100K event log.
    static func eventsFile() throws -> String {
        let directory = try value("FEEDLOOP_DATA", meaning: "directory of the MovieLens-100K data (data/ml-100k)")
        let path = directory + "/events.jsonl"
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw Invalid(description: "\(path) is missing (scripts/fetch-movielens creates it)")
        }
        return path
    }

    /// The first `count` lines of the MovieLens event log (bytes without the newline).
    static func eventLines(_ count: Int) throws -> [[UInt8]] {
        let path = try eventsFile()
        guard let data = FileManager.default.contents(atPath: path) else { throw Invalid(description: "cannot read \(path)") }
        var lines: [[UInt8]] = []
        lines.reserveCapacity(count)
        var start = data.startIndex
        while lines.count < count, start < data.endIndex {
            let end = data[start...].firstIndex(of: 0x0A) ?? data.endIndex
            if end > start { lines.append(Array(data[start..<end])) }
            start = end < data.endIndex ? data.index(after: end) : end
        }
        guard lines.count == count else { throw Invalid(description: "\(path) has only \(lines.count) lines, need \(count)") }
        return lines
    }

    /// The repository (for `pipelines/`), from this file's location.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // Support
        .deletingLastPathComponent()  // WorkerTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()

    /// A tag unique to this test process, so topics and groups never collide with earlier runs on the same broker.
    static let runID: String = {
        let random = UInt32.random(in: 0...UInt32.max)
        return "\(ProcessInfo.processInfo.processIdentifier)-\(String(random, radix: 36))"
    }()

    /// This run's directory for pipelines, logs, checkpoints, snapshots and summaries:
    /// `$TMPDIR/feedloop-worker-tests/<runID>`. Kept after the run for inspection; runs older than a day are removed
    /// when the next one starts.
    static let runDirectory: String = {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("feedloop-worker-tests").path
        let dayAgo = Date().addingTimeInterval(-86_400)
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            let path = root + "/" + name
            if let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date, modified < dayAgo {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
        return root + "/" + runID
    }()

    /// Group session timeout given to every worker: Tansu holds a group join for about half of it.
    static let sessionTimeoutSeconds = 6

    static let logger: Logger = {
        var logger = Logger(label: "feedloop.worker-tests")
        logger.logLevel = .warning
        return logger
    }()

    /// For clients of a broker that a test stops on purpose.
    static let quietLogger: Logger = {
        var logger = Logger(label: "feedloop.worker-tests.quiet")
        logger.logLevel = .critical
        return logger
    }()
}

// MARK: - Deadlines

/// A test step took longer than its bound (its subprocesses are killed before this is thrown).
struct TimedOut: Error, CustomStringConvertible {
    let description: String
}

/// Polls `condition` every `interval` until it holds; throws ``TimedOut`` after `timeout`.
func waitUntil(
    _ what: @autoclosure () -> String, timeout: Duration, interval: Duration = .milliseconds(100),
    _ condition: () throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try !condition() {
        guard ContinuousClock.now < deadline else { throw TimedOut(description: "timed out after \(timeout) waiting for \(what())") }
        try await Task.sleep(for: interval)
    }
}
