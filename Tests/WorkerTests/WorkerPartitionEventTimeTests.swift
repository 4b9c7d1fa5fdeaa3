import Foundation
import Kafka
import Testing

extension WorkerIntegrationTests {
    /// One worker reading a 4-partition topic labels every example as a replay of the same per-partition sequences
    /// does: the label join judges each partition's windows by that partition's own event time, so how the consumer
    /// interleaves the partitions changes the order of learning, not the labels (same positives, window expirations,
    /// pending examples and unattributed purchases).
    @Test func aFourPartitionWorkerLabelsEveryExampleAsTheReplayOfItsPartitionsDoes() async throws {
        let scenario = try WorkerScenario("partitions")
        let lines = try WorkerTestEnvironment.eventLines(30_000)
        try await scenario.createTopics(partitions: 4)
        let reports = try scenario.produce(lines)  // keyed by user: a user's events stay in one partition, in order
        try #require(Set(reports.map(\.partition)).count == 4, "the users did not spread over 4 partitions")
        let summary = try await scenario.runWorkerToCompletion(run: "worker", group: "g", checkpoints: "checkpoints")
        #expect(summary.events == lines.count)

        let replay = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines, partitions: reports.map(\.partition))
        let c = replay.counters
        print("""
            partitions test: worker examples \(summary.examples) positives \(summary.positives) expired \(summary.expiredNegatives ?? -1) \
            pending \(summary.pending) unattributed \(summary.unattributedFeedback ?? -1) logloss \(summary.logloss ?? .nan) auc \(summary.auc ?? .nan); \
            replay positives \(c.positives) expired \(c.expiredNegatives) pending \(replay.join.pendingCount) \
            unattributed \(c.unattributedFeedback) logloss \(replay.metrics.logloss) auc \(replay.metrics.auc)
            """)
        #expect(UInt64(summary.examples) == c.examples)
        #expect(UInt64(summary.positives) == c.positives)
        #expect(summary.expiredNegatives.map(UInt64.init) == c.expiredNegatives)
        #expect(summary.overflowNegatives.map(UInt64.init) == c.overflowNegatives)
        #expect(summary.unattributedFeedback.map(UInt64.init) == c.unattributedFeedback)
        #expect(summary.pending == replay.join.pendingCount)
    }
}
