import Foundation
import Kafka
import Testing
@testable import Worker

/// Rule 4's exception, on the in-memory broker: when the newest checkpoint is unreadable and an older one is
/// restored, the group's committed offset is this member's own commit after the older checkpoint — resuming there
/// would skip the events between. The partition restarts at the restored checkpoint's offset instead (once), and
/// the model ends as if nothing had been lost.
@Suite struct WorkerLoopUnreadableCheckpointTests {
    @Test func restoringAnOlderCheckpointResumesAtItsOwnOffsetNotTheGroups() throws {
        let f = try LoopFixture(events: 150)
        f.options.checkpointEveryEvents = 50  // periodic checkpoints at poll ends (16 messages a poll): 64, 128, 192, then the final
        let consumer = InMemoryConsumer(broker: f.broker)
        consumer.schedule(.assigned, [LoopFixture.tp(0)])
        var uninterrupted = try f.loop(consumer, InMemoryProducer(broker: f.broker))
        try uninterrupted.run()
        let end = f.broker.end(of: LoopFixture.tp(0))
        #expect(f.broker.committed == [LoopFixture.tp(0): end])
        let files = try f.checkpoints()
        try #require(files.count >= 2)

        // The newest checkpoint (the final one, at the end) is corrupt; the one before it is the last periodic one.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: files[0].path))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: files[0].path))
        let older = try #require(try f.newestPositions()[LoopFixture.tp(0)])
        #expect(older == 192 && older < end, "the older checkpoint is at a poll's end (12 polls of 16), before the end \(end)")

        let restarted = InMemoryConsumer(broker: f.broker)
        restarted.schedule(.assigned, [LoopFixture.tp(0)])
        var loop = try f.loop(restarted, InMemoryProducer(broker: f.broker))
        try loop.run()
        #expect(f.broker.calls.compactMap(\.starts).last == [LoopFixture.tp(0): older], "not at the group's \(end): events skipped")
        #expect(loop.pipeline.counters.events == uninterrupted.pipeline.counters.events)
        #expect(loop.pipeline.counters.labelled == uninterrupted.pipeline.counters.labelled)
        #expect(loop.pipeline.model.version == uninterrupted.pipeline.model.version)
    }
}
