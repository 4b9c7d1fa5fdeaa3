import Foundation
import Kafka
import Testing

// MARK: - Scenario

/// One test's world: a temp directory, a copy of `pipelines/movielens-ftrl.yaml` whose input and output topics
/// carry names unique to the test, the broker, and helpers to create topics, produce, run workers and read outputs.
struct WorkerScenario {
    let purpose: String
    /// Bootstrap brokers; ``moved(to:)`` gives the same scenario on another broker.
    private(set) var brokers: String
    let directory: String
    let pipelinePath: String
    let inputTopic: String
    let scoresTopic: String
    let adjustmentsTopic: String
    let deadLetterTopic: String
    let binary: String

    /// Creates the directory and the pipeline file: `template` (a shipped pipeline) passed through `edit`, then
    /// given the test's topics. `brokers` defaults to `FEEDLOOP_BROKERS`.
    init(
        _ purpose: String, brokers: String? = nil, template: String = "pipelines/movielens-ftrl.yaml",
        edit: (String) -> String = { $0 }
    ) throws {
        self.purpose = purpose
        try WorkerTestEnvironment.checkRuntime()
        self.brokers = try brokers ?? WorkerTestEnvironment.brokers()
        binary = try WorkerTestEnvironment.binary()
        let prefix = "wt-\(WorkerTestEnvironment.runID)-\(purpose)"
        inputTopic = prefix + "-events"
        scoresTopic = prefix + "-scores"
        adjustmentsTopic = prefix + "-adjustments"
        deadLetterTopic = prefix + "-events.dlq"
        directory = WorkerTestEnvironment.runDirectory + "/" + purpose
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        let template = WorkerTestEnvironment.repositoryRoot.appendingPathComponent(template).path
        var yaml = edit(try String(contentsOfFile: template, encoding: .utf8))
        for (line, replacement) in [
            ("topics: [events]", "topics: [\(inputTopic)]"),
            ("scores_topic: scores", "scores_topic: \(scoresTopic)"),
            ("adjustments_topic: adjustments", "adjustments_topic: \(adjustmentsTopic)"),
            ("dlq_topic: events.dlq", "dlq_topic: \(deadLetterTopic)"),
        ] {
            guard yaml.contains(line) else {
                throw WorkerTestEnvironment.Invalid(description: "\(template) no longer contains `\(line)`; update WorkerScenario")
            }
            yaml = yaml.replacingOccurrences(of: line, with: replacement)
        }
        pipelinePath = directory + "/pipeline.yaml"
        try yaml.write(toFile: pipelinePath, atomically: true, encoding: .utf8)
    }

    func path(_ name: String) -> String { directory + "/" + name }

    /// The same scenario (directory, pipeline, topic names) on another broker.
    func moved(to brokers: String) -> WorkerScenario {
        var copy = self
        copy.brokers = brokers
        return copy
    }

    // MARK: Running feedloop

    /// Runs `feedloop topics create` for the pipeline (input topic with `partitions`, outputs with 1).
    func createTopics(partitions: Int) async throws {
        let process = try ChildProcess(
            name: "feedloop topics create", executable: binary,
            arguments: ["topics", "create", "--pipeline", pipelinePath, "--partitions", String(partitions), "--brokers", brokers],
            logPath: path("topics.log"))
        let termination = try await process.waitForExit(timeout: .seconds(60))
        guard termination == .exited(0) else {
            throw WorkerTestEnvironment.Invalid(description: "feedloop topics create: \(termination)\n\(process.log())")
        }
    }

    /// Starts `feedloop worker` with the test settings: 6 s session timeout, checkpoints every 1000 events,
    /// score refreshes at most hourly (event time) per user, progress lines every second, metrics on a free port.
    ///
    /// Outputs of the run named `run` are `<run>.log`, `<run>.snapshot` and `<run>.summary.json`;
    /// `checkpoints` names the checkpoint directory (shared by restarts of the same worker). `extraArguments` are
    /// appended to the command line, `environment` added to the inherited environment.
    func startWorker(
        run: String, group: String, checkpoints: String, exitWhenIdle: Double? = 3,
        extraArguments: [String] = [], environment: [String: String] = [:]
    ) throws -> ChildProcess {
        var arguments = [
            "worker", "--pipeline", pipelinePath, "--brokers", brokers,
            "--group", "wt-\(WorkerTestEnvironment.runID)-\(purpose)-\(group)",
            "--session-timeout", String(WorkerTestEnvironment.sessionTimeoutSeconds),
            "--checkpoint-dir", path(checkpoints), "--checkpoint-events", "1000",
            "--final-snapshot", snapshotPath(run), "--summary-json", summaryPath(run),
            "--metrics-port", "0", "--refresh-interval", "1h", "--progress-seconds", "1",
        ]
        if let exitWhenIdle { arguments += ["--exit-when-idle", String(exitWhenIdle)] }
        return try ChildProcess(
            name: "worker \(run)", executable: binary, arguments: arguments + extraArguments, environment: environment,
            logPath: path(run + ".log"))
    }

    func snapshotPath(_ run: String) -> String { path(run + ".snapshot") }
    func summaryPath(_ run: String) -> String { path(run + ".summary.json") }

    /// Runs a worker until it exits by itself (idle) and requires exit status 0; returns its summary.
    func runWorkerToCompletion(run: String, group: String, checkpoints: String, timeout: Duration = .seconds(150)) async throws -> WorkerSummary {
        let worker = try startWorker(run: run, group: group, checkpoints: checkpoints)
        let termination = try await worker.waitForExit(timeout: timeout)
        try #require(termination == .exited(0), "\(worker.name) ended with \(termination):\n\(worker.logTail())")
        return try summary(run)
    }

    /// The `--summary-json` of `run`.
    func summary(_ run: String) throws -> WorkerSummary {
        let data = try Data(contentsOf: URL(fileURLWithPath: summaryPath(run)))
        return try JSONDecoder().decode(WorkerSummary.self, from: data)
    }

    /// The `--final-snapshot` bytes of `run`.
    func snapshot(_ run: String) throws -> [UInt8] {
        try Array(Data(contentsOf: URL(fileURLWithPath: snapshotPath(run))))
    }

    /// Checkpoint files (`checkpoint-*.flck`) in `checkpoints`, sorted by name (oldest first).
    func checkpointFiles(_ checkpoints: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path(checkpoints))) ?? [])
            .filter { $0.hasPrefix("checkpoint-") && $0.hasSuffix(".flck") }.sorted()
    }

    /// Waits until `checkpoints` holds a checkpoint file newer than every name in `before` (the worker made progress
    /// and checkpointed it); fails (killing the worker) if it exits first or `timeout` passes.
    func waitForNewCheckpoint(in checkpoints: String, after before: [String], writtenBy worker: ChildProcess, timeout: Duration) async throws {
        let newest = before.max() ?? ""
        try await worker.waitForLog("a checkpoint newer than '\(newest)'", timeout: timeout) { _ in
            (checkpointFiles(checkpoints).last ?? "") > newest
        }
    }

    // MARK: Kafka

    func configuration(group: String? = nil, properties: [String: String] = [:]) -> KafkaConfiguration {
        var configuration = KafkaConfiguration(brokers: brokers, clientID: "worker-tests", groupID: group)
        configuration.sessionTimeout = .seconds(WorkerTestEnvironment.sessionTimeoutSeconds)
        configuration.properties = properties
        return configuration
    }

    /// Produces `values` in order to the input topic (key: the event's user id when it has one, else `keys[i]`),
    /// waits for every delivery report and returns them in input order.
    func produce(_ values: [[UInt8]], keys: [[UInt8]?]? = nil, properties: [String: String] = [:]) throws -> [KafkaDeliveryReport] {
        let producer = try KafkaProducer(configuration: configuration(properties: properties), logger: WorkerTestEnvironment.logger)
        for (i, value) in values.enumerated() {
            let key = keys?[i] ?? EventLine.userID(value).map { Array($0.utf8) }
            try producer.send(topic: inputTopic, key: key, value: value, token: UInt64(i))
        }
        try producer.flush(timeout: .seconds(60))
        var reports: [KafkaDeliveryReport] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while reports.count < values.count && ContinuousClock.now < deadline {
            producer.poll(timeout: .milliseconds(100)) { reports.append($0) }
        }
        try #require(reports.count == values.count, "delivery reports: \(reports.count) of \(values.count)")
        try #require(reports.allSatisfy { $0.isDelivered }, "failed deliveries: \(reports.filter { !$0.isDelivered }.prefix(3))")
        return reports.sorted { $0.token < $1.token }
    }

    /// Every message of `topic` (partition 0, from the beginning): polls until at least `expected` arrived, then
    /// keeps polling for `settle` to catch any extra ones.
    func readAll(_ topic: String, expected: Int, timeout: Duration = .seconds(60), settle: Duration = .seconds(2)) throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(configuration: configuration(group: "wt-\(WorkerTestEnvironment.runID)-reader"), logger: WorkerTestEnvironment.logger)
        defer { try? consumer.close() }
        try consumer.assign([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: .beginning)])
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + timeout
        while messages.count < expected && ContinuousClock.now < deadline {
            messages += try consumer.poll(timeout: .milliseconds(200), maxMessages: 4096)
        }
        let settled = ContinuousClock.now + settle
        while ContinuousClock.now < settled {
            messages += try consumer.poll(timeout: .milliseconds(200), maxMessages: 4096)
        }
        return messages
    }
}

// MARK: - Summary

/// The worker's `--summary-json` (the fields the tests check).
struct WorkerSummary: Decodable {
    struct Position: Decodable, Hashable {
        let topic: String
        let partition: Int32
        let offset: Int64
    }

    struct Published: Decodable {
        let scores: Int
        let adjustments: Int
        let deadLetters: Int
        let deadLettersTruncated: Int?
        enum CodingKeys: String, CodingKey {
            case scores, adjustments
            case deadLetters = "dead_letters"
            case deadLettersTruncated = "dead_letters_truncated"
        }
    }

    let events: Int
    let rejected: Int
    let rejectedByReason: [String: Int]
    let examples: Int
    let labelled: Int
    let positives: Int
    let pending: Int
    let expiredNegatives: Int?
    let overflowNegatives: Int?
    let unattributedFeedback: Int?
    /// The progressive metrics of the examples labelled since the process last restored a checkpoint (nil: none).
    let logloss: Double?
    let auc: Double?
    let progressiveExamples: Int
    let modelVersion: Int
    let positions: [Position]
    let published: Published
    /// The model exchange of a group (pipelines with `sync:`).
    let sync: Sync?

    struct Sync: Decodable {
        let member: String
        let ownSequence: UInt64
        let applied: [String: UInt64]
        let examplesLearnedElsewhere: Int
        let withheldRefreshes: Int
        let run: Run

        /// This process's share of the exchange.
        struct Run: Decodable {
            let appliedRecords: Int
            let applyDelay: Delay

            struct Delay: Decodable {
                let count: Int
                let p50: Double
                let max: Double

                enum CodingKeys: String, CodingKey {
                    case count
                    case p50 = "p50_ms", max = "max_ms"
                }
            }

            enum CodingKeys: String, CodingKey {
                case appliedRecords = "applied_records", applyDelay = "apply_delay"
            }
        }

        enum CodingKeys: String, CodingKey {
            case member, applied, run
            case ownSequence = "own_sequence"
            case examplesLearnedElsewhere = "examples_learned_elsewhere"
            case withheldRefreshes = "withheld_refreshes"
        }
    }

    enum CodingKeys: String, CodingKey {
        case events, rejected, examples, labelled, positions, published, positives, pending, logloss, auc, sync
        case expiredNegatives = "expired_negatives", overflowNegatives = "overflow_negatives"
        case unattributedFeedback = "unattributed_feedback"
        case rejectedByReason = "rejected_by_reason"
        case modelVersion = "model_version"
        case progressiveExamples = "progressive_examples"
    }

    /// The next offset of each partition of `topic`.
    func offsets(of topic: String) -> [Int32: Int64] {
        var result: [Int32: Int64] = [:]
        for p in positions where p.topic == topic { result[p.partition] = p.offset }
        return result
    }
}

// MARK: - Event lines

/// Light access to fields of a MovieLens event line (test-side, Foundation JSON).
enum EventLine {
    static func object(_ line: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line))) as? [String: Any]
    }

    static func userID(_ line: [UInt8]) -> String? { object(line)?["user_id"] as? String }

    /// The number of `click` events (the pipeline's examples) among `lines`.
    static func clickCount(_ lines: [[UInt8]]) -> Int {
        lines.reduce(0) { $0 + ((object($1)?["type"] as? String) == "click" ? 1 : 0) }
    }
}

// MARK: - Progress

extension ChildProcess {
    /// The `events=` counter of the worker's last progress line (cumulative, restored from checkpoints), or nil.
    func lastProgressEvents() -> Int? { Self.lastProgressEvents(in: log()) }

    static func lastProgressEvents(in log: String) -> Int? {
        guard let line = log.split(separator: "\n").last(where: { $0.contains("[Worker] progress") }),
              let range = line.range(of: " events=") else { return nil }
        return Int(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// The input offset of the checkpoint the worker restored at start (single partition), or nil when it started fresh.
    func restoredOffset() -> Int64? { Self.restoredOffset(in: log()) }

    static func restoredOffset(in log: String) -> Int64? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("restored checkpoint") }),
              let range = line.range(of: "]@") else { return nil }
        return Int64(line[range.upperBound...].prefix { $0.isNumber })
    }

    /// The port of the worker's metrics endpoint, from its start-up log line.
    func metricsPort() async throws -> Int {
        try await announcedPort(after: "metrics on http://127.0.0.1:", what: "the metrics address")
    }

    /// The port in the first log line that has `prefix` followed by digits.
    func announcedPort(after prefix: String, what: String) async throws -> Int {
        var port = 0
        try await waitForLog(what, timeout: .seconds(60)) { log in
            guard let range = log.range(of: prefix) else { return false }
            port = Int(log[range.upperBound...].prefix { $0.isNumber }) ?? 0
            return port > 0
        }
        return port
    }

    /// Waits until the worker's progress line shows at least `events` events.
    func waitForProgress(atLeast events: Int, timeout: Duration) async throws {
        try await waitForLog("a progress line with events >= \(events)", timeout: timeout) { log in
            (Self.lastProgressEvents(in: log) ?? -1) >= events
        }
    }
}

extension KafkaMessage {
    /// The value as text (for failure messages).
    var text: String { String(decoding: value ?? [], as: UTF8.self) }
}
