import Kafka
import Testing
@testable import Worker

/// Rule 4 of `WorkerLoop+Checkpoints.swift`, on the in-memory broker: a restarted loop resumes each assigned
/// partition at max(its checkpoint's offset, the group's committed offset) — the group's where another member moved
/// past the checkpoint, the checkpoint's where the commit trails it (a failed commit) — and applies every event once.
@Suite struct WorkerLoopRestoreTests {
    /// (the group's committed offset relative to the checkpoint, where the restart resumes relative to it)
    @Test(arguments: [(-30, 0), (0, 0), (12, 12)])
    func restartResumesAtTheLargerOfCheckpointAndCommittedOffsets(committedAhead: Int64, resumesAhead: Int64) throws {
        let f = try LoopFixture(events: 150)
        let consumer = InMemoryConsumer(broker: f.broker)
        consumer.schedule(.assigned, [LoopFixture.tp(0)])
        var first = try f.loop(consumer, InMemoryProducer(broker: f.broker))
        try first.run()
        let end = f.broker.end(of: LoopFixture.tp(0))
        #expect(try f.newestPositions() == [LoopFixture.tp(0): end])
        #expect(f.broker.committed == [LoopFixture.tp(0): end])

        // More input; the group's offset moved (another member) or trails (a failed commit).
        for i in 0..<40 {
            f.broker.append(.init(key: nil, value: f.lines[i % f.lines.count]), to: LoopFixture.input)
        }
        f.broker.committed[LoopFixture.tp(0)] = end + committedAhead
        let restarted = InMemoryConsumer(broker: f.broker)
        restarted.schedule(.assigned, [LoopFixture.tp(0)])
        var second = try f.loop(restarted, InMemoryProducer(broker: f.broker))
        #expect(second.pipeline.counters.events == UInt64(end), "restored the final checkpoint")
        try second.run()
        #expect(f.broker.calls.compactMap(\.starts).last == [LoopFixture.tp(0): end + resumesAhead])
        #expect(second.pipeline.counters.events == UInt64(end + 40 - resumesAhead), "every event from the start applied once")
        #expect(f.broker.committed == [LoopFixture.tp(0): end + 40])
    }

    /// The committed offsets decide the start: a failed query is retried (3 attempts), then fails the assignment.
    @Test func aFailedCommittedOffsetsQueryIsRetriedThenStopsTheLoop() throws {
        let f = try LoopFixture(events: 40)
        let retried = InMemoryConsumer(broker: f.broker)
        retried.schedule(.assigned, [LoopFixture.tp(0)])
        retried.failingCommittedQueries = 2
        var loop = try f.loop(retried, InMemoryProducer(broker: f.broker))
        try loop.run()
        #expect(loop.pipeline.counters.events == UInt64(f.broker.end(of: LoopFixture.tp(0))))

        let failing = InMemoryConsumer(broker: f.broker)
        failing.schedule(.assigned, [LoopFixture.tp(0)])
        failing.failingCommittedQueries = 3
        var stopped = try f.loop(failing, InMemoryProducer(broker: f.broker))
        let commits = f.commitIndices.count
        #expect(throws: WorkerError.self) { try stopped.run() }
        #expect(f.commitIndices.count == commits, "nothing committed after the failed assignment")
    }
}
