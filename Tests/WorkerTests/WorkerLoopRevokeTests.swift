import Kafka
import Testing
@testable import Worker

/// Rule 3 of `WorkerLoop+Checkpoints.swift`, on the in-memory broker: a revoke hands the partition's pending clicks
/// to the changelog, flushes every output, writes a checkpoint and commits synchronously — all before the revoke is
/// acknowledged — so the next owner starts where this member stopped. A lost assignment writes and commits nothing.
@Suite struct WorkerLoopRevokeTests {
    @Test func revokeFlushesThenCheckpointsThenCommitsBeforeItIsAcknowledged() throws {
        let f = try LoopFixture(partitions: 2, events: 150)
        let consumer = InMemoryConsumer(broker: f.broker), producer = InMemoryProducer(broker: f.broker)
        consumer.schedule(.assigned, [LoopFixture.tp(0), LoopFixture.tp(1)])
        consumer.schedule(.revoked, [LoopFixture.tp(1)], afterMessages: 40)  // 20 of each partition (they interleave)
        var loop = try f.loop(consumer, producer)
        try loop.run()

        let calls = f.broker.calls
        let revoke = try #require(calls.firstIndex(of: .rebalance(.revoked, [LoopFixture.tp(1)], lost: false)))
        let acknowledged = try #require(calls[revoke...].firstIndex { if case .acknowledged(.revoked, _) = $0 { true } else { false } })
        let commit = try #require(calls[revoke..<acknowledged].firstIndex { $0.commit != nil }, "no commit inside the revoke")
        #expect(calls[commit].commit?.synchronous == true, "a revoke's commit completes before the partitions move on")
        #expect(calls[commit].commit?.offsets[LoopFixture.tp(1)] == 20)
        #expect(f.flushCheckpointCommitViolations(at: commit) == [])
        #expect(calls[revoke..<commit].contains(.send(topic: f.changelogTopic)), "the pending clicks go out before the checkpoint")
        #expect(calls[revoke..<commit].contains(.flush))
        // After the revoke the partition is neither read nor committed; the other goes on to its end.
        #expect(!calls[acknowledged...].contains { $0.commit?.offsets[LoopFixture.tp(1)] != nil })
        #expect(f.broker.committed == [LoopFixture.tp(0): f.broker.end(of: LoopFixture.tp(0)), LoopFixture.tp(1): 20])
        #expect(loop.pipeline.counters.events == UInt64(f.broker.end(of: LoopFixture.tp(0)) + 20))
        let handedOver = f.broker.records(KafkaTopicPartition(topic: f.changelogTopic, partition: 0)).last {
            $0.key.map { String(decoding: $0, as: UTF8.self) } == "events/1#0"
        }
        #expect(handedOver?.headers.first { $0.name == "feedloop.offset" }?.value == Array("20".utf8))

        // The next owner starts at the committed offset, with the handed-over state.
        let next = try LoopFixture.sharing(f)
        let consumer2 = InMemoryConsumer(broker: f.broker), producer2 = InMemoryProducer(broker: f.broker)
        consumer2.schedule(.assigned, [LoopFixture.tp(1)])
        var loop2 = try next.loop(consumer2, producer2)
        try loop2.run()
        #expect(f.broker.calls.compactMap(\.starts).last == [LoopFixture.tp(1): 20])
        #expect(loop2.pipeline.counters.events == UInt64(f.broker.end(of: LoopFixture.tp(1)) - 20))
    }

    @Test func aLostAssignmentWritesNoCheckpointAndCommitsNothing() throws {
        let f = try LoopFixture(partitions: 2, events: 150)
        let consumer = InMemoryConsumer(broker: f.broker), producer = InMemoryProducer(broker: f.broker)
        consumer.schedule(.assigned, [LoopFixture.tp(0), LoopFixture.tp(1)])
        consumer.schedule(.revoked, [LoopFixture.tp(1)], afterMessages: 40, lost: true)
        var loop = try f.loop(consumer, producer)
        try loop.run()

        let journal = f.broker.journal
        let revoke = try #require(journal.firstIndex { $0.call == .rebalance(.revoked, [LoopFixture.tp(1)], lost: true) })
        let acknowledged = revoke + 1
        #expect(journal[acknowledged].call == .acknowledged(.revoked, starts: [:]), "the handler made no client call")
        #expect(journal[acknowledged].probe == journal[revoke].probe, "no checkpoint")
        #expect(f.broker.committed[LoopFixture.tp(1)] == nil)
    }
}
