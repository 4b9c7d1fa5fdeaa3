import Foundation
import Testing

/// `feedloop replay --topic`: a topic range of several partitions through the replay, read on a thread of its own
/// (the default `--threads`) or on the calling thread (`--threads 1`), labels every example as one pipeline over each
/// partition's own sequence does.
extension WorkerIntegrationTests {
    @Test func aTopicRangeOfFourPartitionsReplaysOnAReadingThreadAsOnOne() async throws {
        let scenario = try WorkerScenario("replay-range")
        let lines = try WorkerTestEnvironment.eventLines(12_000)
        try await scenario.createTopics(partitions: 4)
        let reports = try scenario.produce(lines)
        try #require(Set(reports.map(\.partition)).count == 4, "the users did not spread over 4 partitions")
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines, partitions: reports.map(\.partition))

        var runs: [[String: Any]] = []
        for threads in ["2", "1"] {
            let report = scenario.path("report-\(threads).json")
            let replay = try ChildProcess(
                name: "replay --threads \(threads)", executable: scenario.binary,
                arguments: [
                    "replay", "--pipeline", scenario.pipelinePath, "--brokers", scenario.brokers, "--topic", scenario.inputTopic,
                    "--from", "beginning", "--to", "end", "--threads", threads, "--report-json", report, "--no-progress",
                ],
                logPath: scenario.path("replay-\(threads).log"))
            let termination = try await replay.waitForExit(timeout: .seconds(120))
            try #require(termination == .exited(0), "\(termination)\n\(replay.logTail())")
            runs.append(try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any]))
        }
        let c = reference.counters
        for (run, threads) in zip(runs, ["2", "1"]) {
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
    }
}
