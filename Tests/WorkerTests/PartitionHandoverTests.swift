import Kafka
import Testing
@testable import Worker

/// The changelog's parts: a partition's state is split into records below the message limit, and read back only
/// when every part of its newest offset is there — parts of an older state that compaction kept do not mix in.
@Suite struct PartitionHandoverTests {
    @Test func statesSplitIntoPartsAndReassembleFromTheNewestCompleteSet() {
        let big = (0..<1_300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let parts = PartitionHandover.split(big, partBytes: 512 * 1024)
        #expect(parts.count == 3 && parts.allSatisfy { $0.count <= 512 * 1024 } && parts.joined().elementsEqual(big))
        #expect(PartitionHandover.split([], partBytes: 512).count == 1, "an empty state is one empty part")

        var records: [String: (offset: Int64, part: Int, count: Int, value: [UInt8])] = [:]
        // Partition 3: an older state in 3 parts at offset 100, then a newer one in 2 parts at offset 200 — compaction
        // keeps part 2 of the older one.
        for (i, p) in parts.enumerated() { records["events/3#\(i)"] = (100, i, 3, p) }
        let newer = PartitionHandover.split(Array(big.prefix(700_000)), partBytes: 512 * 1024)
        for (i, p) in newer.enumerated() { records["events/3#\(i)"] = (200, i, newer.count, p) }
        // Partition 5: part 1 of its newest state is missing (not yet written when the member died).
        records["events/5#0"] = (50, 0, 2, [1, 2, 3])
        // Partition 6: one empty part.
        records["events/6#0"] = (10, 0, 1, [])
        let states = PartitionHandover.assemble(records)
        let p3 = states[KafkaTopicPartition(topic: "events", partition: 3)]
        #expect(p3?.offset == 200 && p3?.state == Array(big.prefix(700_000)))
        #expect(states[KafkaTopicPartition(topic: "events", partition: 5)] == nil, "an incomplete state is not read")
        #expect(states[KafkaTopicPartition(topic: "events", partition: 6)]?.state == [])
        #expect(states.count == 2)
    }
}
