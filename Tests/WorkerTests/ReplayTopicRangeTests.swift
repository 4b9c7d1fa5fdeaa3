import Foundation
import Kafka
import Pipelines
import Testing

/// `feedloop replay --topic`: a topic range of several partitions through the replay, read on a thread of its own
/// (the default `--threads`) or on the calling thread (`--threads 1`), labels every example as one pipeline over each
/// partition's own sequence does, and learns the same numbers on every run: the partitions are merged in one order
/// (``PartitionMerge``), not in the order the consumer happens to fetch them.
extension WorkerIntegrationTests {
    @Test func aTopicRangeOfFourPartitionsReplaysOnAReadingThreadAsOnOne() async throws {
        let scenario = try WorkerScenario("replay-range")
        let lines = try WorkerTestEnvironment.eventLines(12_000)
        try await scenario.createTopics(partitions: 4)
        let reports = try scenario.produce(lines)
        try #require(Set(reports.map(\.partition)).count == 4, "the users did not spread over 4 partitions")
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines, partitions: reports.map(\.partition))

        var runs: [[String: Any]] = []
        let threadCounts = ["2", "1", "2"]
        for (run, threads) in threadCounts.enumerated() {
            let report = scenario.path("report-\(run).json")
            let replay = try ChildProcess(
                name: "replay --threads \(threads)", executable: scenario.binary,
                arguments: [
                    "replay", "--pipeline", scenario.pipelinePath, "--brokers", scenario.brokers, "--topic", scenario.inputTopic,
                    "--from", "beginning", "--to", "end", "--threads", threads, "--report-json", report, "--no-progress",
                ],
                logPath: scenario.path("replay-\(run).log"))
            let termination = try await replay.waitForExit(timeout: .seconds(120))
            try #require(termination == .exited(0), "\(termination)\n\(replay.logTail())")
            runs.append(try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any]))
        }
        let c = reference.counters
        for (run, threads) in zip(runs, threadCounts) {
            let counters = try #require(run["counters"] as? [String: Any])
            func number(_ any: Any?) -> UInt64 { (any as? NSNumber)?.uint64Value ?? .max }
            print("replay range test, --threads \(threads): events \(run["events"] ?? "?") examples \(run["examples"] ?? "?") positives \(run["positives"] ?? "?") expired \(counters["expired_negatives"] ?? "?") logloss \(run["logloss"] ?? "?"); reference examples \(c.examples) positives \(c.positives) expired \(c.expiredNegatives)")
            #expect(number(run["events"]) == UInt64(lines.count), "--threads \(threads)")
            #expect(number(run["examples"]) == c.examples, "--threads \(threads)")
            #expect(number(run["positives"]) == c.positives, "--threads \(threads)")
            #expect(number(counters["expired_negatives"]) == c.expiredNegatives, "--threads \(threads)")
            #expect(number(counters["unattributed_feedback"]) == c.unattributedFeedback, "--threads \(threads)")
            #expect(number(counters["end_of_input_negatives"]) == UInt64(reference.join.pendingCount), "--threads \(threads)")
        }
        // The order is the merge's — by message timestamp, then partition, then offset — not the fetch's: a pipeline
        // given the topic's messages sorted so learns the same numbers, to the last bit.
        let messages = try Self.readAllPartitions(scenario, count: lines.count)
        var high: [Int32: Int64] = [:]
        let merged = messages.map { m -> (Int64, Int32, Int64, KafkaMessage) in
            let t = max(high[m.partition] ?? .min, m.timestamp?.milliseconds ?? .min)
            high[m.partition] = t
            return (t, m.partition, m.offset, m)
        }.sorted { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }.map(\.3)
        var inMergeOrder = try ReferenceRun.run(
            pipelinePath: scenario.pipelinePath, lines: merged.map { $0.value ?? [] }, partitions: merged.map(\.partition))
        var sink = NullSink()
        inMergeOrder.finish(sink: &sink)  // the end of the replay's input
        print("replay range test: a pipeline over the messages in merge order: logloss \(inMergeOrder.metrics.logloss)")
        for run in runs {
            // (The report's JSON number may differ in its last digit from the Double: a 1e-12 bound; another order
            // of the same messages moves the logloss by ~1e-4.)
            let logloss = try #require((run["logloss"] as? NSNumber)?.doubleValue)
            #expect(abs(logloss - inMergeOrder.metrics.logloss) < 1e-12, "\(logloss) vs \(inMergeOrder.metrics.logloss)")
        }
        // The same order every time: the same numbers, to the last bit.
        let numbers = runs.map { run in ["logloss", "auc", "examples", "positives"].map { "\(run[$0] ?? "?")" } }
        #expect(Set(numbers.map { $0.joined(separator: " ") }).count == 1, "runs learned differently: \(numbers)")
    }

    /// Every message of the input topic's partitions, each partition in offset order.
    static func readAllPartitions(_ scenario: WorkerScenario, count: Int) throws -> [KafkaMessage] {
        let consumer = try KafkaConsumer(configuration: scenario.configuration(group: "\(scenario.purpose)-reader"), logger: WorkerTestEnvironment.logger)
        defer { try? consumer.close() }
        try consumer.assign((0..<4).map { KafkaTopicPartitionOffset(topic: scenario.inputTopic, partition: $0, offset: .beginning) })
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while messages.count < count && ContinuousClock.now < deadline {
            messages += try consumer.poll(timeout: .milliseconds(200), maxMessages: 4096)
        }
        try #require(messages.count == count, "read back \(messages.count) of \(count) messages")
        return messages
    }
}
