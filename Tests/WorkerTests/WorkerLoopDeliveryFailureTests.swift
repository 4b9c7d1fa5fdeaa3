import Kafka
import Testing
@testable import Worker

/// Rule 2 of `WorkerLoop+Checkpoints.swift`, on the in-memory broker: an output whose delivery finally fails stops
/// the loop before the checkpoint that would include its event, so nothing is committed past the last good
/// checkpoint, and a restart replays from it.
@Suite struct WorkerLoopDeliveryFailureTests {
    @Test func aFailedDeliveryStopsTheLoopBeforeTheCheckpointAndItsCommit() throws {
        let f = try LoopFixture(events: 150)
        f.options.checkpointEveryEvents = 50
        let consumer = InMemoryConsumer(broker: f.broker), producer = InMemoryProducer(broker: f.broker)
        consumer.schedule(.assigned, [LoopFixture.tp(0)])
        // Scores fail to deliver once the first checkpoint is committed.
        let broker = f.broker
        producer.failsDelivery = { topic in topic == "scores" && broker.calls.contains { $0.commit != nil } }
        var loop = try f.loop(consumer, producer)
        #expect {
            try loop.run()
        } throws: { error in
            "\(error)".contains("delivery to scores failed")
        }

        let commits = f.commitIndices
        #expect(commits.count == 1)
        #expect(f.broker.calls[commits[0]].commit?.offsets == [LoopFixture.tp(0): 64])
        #expect(f.flushCheckpointCommitViolations(at: commits[0]) == [])
        #expect(f.broker.calls.contains(.delivered(topic: "scores", ok: false)))
        #expect(try f.checkpoints().count == 1, "no checkpoint after the failed delivery")
        #expect(try f.newestPositions() == [LoopFixture.tp(0): 64])
        #expect(!f.broker.calls.contains(.close), "a failed loop does not leave the group with a commit")

        // A restart replays from the last checkpoint.
        let restarted = InMemoryConsumer(broker: f.broker)
        restarted.schedule(.assigned, [LoopFixture.tp(0)])
        var again = try f.loop(restarted, InMemoryProducer(broker: f.broker))
        try again.run()
        #expect(f.broker.calls.compactMap(\.starts).last == [LoopFixture.tp(0): 64])
        #expect(again.pipeline.counters.events == UInt64(f.broker.end(of: LoopFixture.tp(0))))
    }
}
