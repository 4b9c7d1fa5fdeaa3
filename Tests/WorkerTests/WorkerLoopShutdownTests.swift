import Kafka
import Testing
@testable import Worker

/// Rule 5 of `WorkerLoop+Checkpoints.swift`, on the in-memory broker: a stop (SIGTERM) mid-stream hands the pending
/// clicks to the changelog, flushes every output, writes the final checkpoint, commits its offsets synchronously, and
/// only then leaves the group; a restart resumes exactly there.
@Suite struct WorkerLoopShutdownTests {
    @Test func stopWritesTheFinalCheckpointBeforeTheCommitAndLeavesTheGroupAfter() throws {
        let f = try LoopFixture(events: 150)
        let consumer = InMemoryConsumer(broker: f.broker), producer = InMemoryProducer(broker: f.broker)
        consumer.schedule(.assigned, [LoopFixture.tp(0)])
        var loop = try f.loop(consumer, producer, stop: { consumer.handed >= 40 })  // 3 polls of 16
        try loop.run()

        let calls = f.broker.calls
        let commit = try #require(f.commitIndices.last)
        #expect(f.commitIndices.count == 1, "one commit: the final checkpoint's")
        #expect(calls[commit].commit?.offsets == [LoopFixture.tp(0): 48])
        #expect(calls[commit].commit?.synchronous == true)
        #expect(f.flushCheckpointCommitViolations(at: commit) == [])
        #expect(calls[..<commit].contains(.send(topic: f.changelogTopic)), "the pending clicks' copy goes out first")
        let close = try #require(calls.firstIndex(of: .close))
        #expect(close > commit, "the group is left after the commit")
        #expect(try f.newestPositions() == [LoopFixture.tp(0): 48])
        #expect(producer.outstandingCount == 0)

        let restarted = InMemoryConsumer(broker: f.broker)
        restarted.schedule(.assigned, [LoopFixture.tp(0)])
        var again = try f.loop(restarted, InMemoryProducer(broker: f.broker))
        try again.run()
        #expect(f.broker.calls.compactMap(\.starts).last == [LoopFixture.tp(0): 48])
        #expect(again.pipeline.counters.events == UInt64(f.broker.end(of: LoopFixture.tp(0))))
    }
}
