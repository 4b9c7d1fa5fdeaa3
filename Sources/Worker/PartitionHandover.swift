import Foundation
import Kafka
import Logging
import Pipelines

/// Pending clicks follow their partition across the group: the Kafka Streams pattern of a changelog topic, for the
/// label join's per-partition state and a decision log partition's held rewards (``Pipeline/exportPartition(_:)``).
///
/// ## Protocol
/// - **Revoke** (not lost): for each revoked partition the member takes the partition's pending examples and event
///   time out of its pipeline and publishes them to the changelog topic in parts of at most 512 KiB, key
///   `topic/partition#part`, headers `feedloop.offset` = the partition's next offset and `feedloop.part` = `i/n`. The checkpoint that follows flushes the producer (the record is
///   delivered), is written without those examples, and only then commits the same offset.
/// - **Assign**: for each assigned partition the member reads the changelog's newest record for it; when the
///   record's offset is the partition's start offset (the state is exactly that of the events before it), it
///   replaces whatever the member holds of that partition before its first event — also when the member's own
///   position is the start: a restart from a checkpoint written at a revoke cannot tell that it handed the state
///   over. A record of another offset is stale (the commit after it failed, or the partition moved on since) and is
///   ignored; the member's own state then stands if its position is the start, and is dropped otherwise.
/// - **Periodic checkpoint** and **shutdown**: a copy of each assigned partition's state at the offsets about to be
///   committed, kept by the member too — so that after a `kill -9` or a lost assignment the next owner continues
///   from the last commit with those clicks, and a restart that gets the same partitions back continues with its own.
///   After an assignment a member drops what it holds of partitions it does not own.
///
/// The topic is compacted (one record per partition is what matters); Tansu, the local broker, keeps every record,
/// and the newest per key is read.
struct PartitionHandover {
    let topic: String
    let logger: Logger
    /// Reads the changelog: the newest record per key (``newestRecords(topic:reader:logger:)``).
    let readRecords: () throws -> [String: (offset: Int64, part: Int, count: Int, value: [UInt8])]

    /// Reads the changelog with consumers made by `openReader` (assign-only, one per assignment).
    init<Reader: InputConsumer>(topic: String, logger: Logger, openReader: @escaping () throws -> Reader) {
        self.topic = topic
        self.logger = logger
        readRecords = { try Self.newestRecords(topic: topic, reader: openReader(), logger: logger) }
    }

    /// Reads the changelog through the brokers of `configuration`.
    init(topic: String, configuration: KafkaConfiguration, logger: Logger) {
        var config = configuration
        config.groupID = "feedloop-handover-reader"  // assign-only: no group join, nothing committed
        self.init(topic: topic, logger: logger) { try KafkaConsumer(configuration: config, logger: logger) }
    }

    /// `feedloop.<group>.<pipeline>.partition-state`.
    static func topicName(group: String, pipeline: String) -> String { "feedloop.\(group).\(pipeline).partition-state" }

    /// A partition's state goes out in parts of at most this many bytes, each its own record (a record must stay
    /// below the producer's and the broker's message limits, about 1 MB by default).
    static let partBytes = 512 * 1024

    /// The key of part `part` of a partition's state: `topic/partition#part`. One key per part, so that a compacted
    /// topic keeps the newest record of every part.
    static func key(_ tp: KafkaTopicPartition, part: Int) -> [UInt8] { Array("\(tp.topic)/\(tp.partition)#\(part)".utf8) }

    /// Publishes the state of each partition this member has read (delivered by the checkpoint's flush). With
    /// `removing` (a revoke) the pipeline gives the state up; without (a periodic checkpoint, a shutdown) it keeps
    /// it and publishes a copy, so that its checkpoint still holds it for a restart that gets the same partitions
    /// back.
    func handOver(
        _ partitions: [KafkaTopicPartition], removing: Bool, pipeline: inout Pipeline, positions: [KafkaTopicPartition: Int64],
        producer: some OutputProducer
    ) throws {
        for tp in partitions {
            guard let next = positions[tp] else { continue }
            let index = pipeline.partitionIndex(topic: tp.topic, partition: tp.partition)
            let pending = pipeline.join.pendingCount(partition: index)  // before a removing export
            let state = pipeline.exportPartition(index, removing: removing)
            let slices = Self.split(state, partBytes: Self.partBytes)
            let parts = slices.count
            for (part, slice) in slices.enumerated() {
                try producer.send(
                    topic: topic, key: Self.key(tp, part: part), value: slice,
                    headers: [
                        KafkaHeader(name: "feedloop.offset", value: Array(String(next).utf8)),
                        KafkaHeader(name: "feedloop.part", value: Array("\(part)/\(parts)".utf8)),
                    ])
            }
            // A revoke is worth a line; the copy at every checkpoint is not.
            logger.log(
                level: removing ? .info : .debug, "handed over \(tp)'s pending examples\(removing ? "" : " (a copy)")",
                metadata: ["pending": "\(pending)", "offset": "\(next)", "bytes": "\(state.count)"])
        }
    }

    /// For each assigned partition: the newest changelog record whose offset is the partition's start is its state
    /// — whoever wrote it, this member included — and replaces what the member holds. Without such a record, the
    /// member's own state stands when its own position is the start (it kept the partition, or a restart got it back
    /// from its checkpoint), and is dropped as stale otherwise (the partition moved on). The record wins even over a
    /// state of the same offset: a checkpoint written at a revoke no longer holds the state it handed over, and a
    /// restart from it cannot tell (``Pipeline/exportPartition(_:removing:)``).
    func takeOver(
        _ starts: [KafkaTopicPartition: (start: Int64, mine: Int64?)], pipeline: inout Pipeline, sink: inout some PipelineSink
    ) throws {
        guard !starts.isEmpty else { return }
        let records = try newestStates()
        for (tp, offsets) in starts {
            let index = pipeline.partitionIndex(topic: tp.topic, partition: tp.partition)
            let record = records[tp].flatMap { $0.offset == offsets.start ? $0 : nil }
            if record == nil && offsets.mine == offsets.start { continue }
            if pipeline.join.hasPending(partition: index) || pipeline.holdsRewards(partition: index) {
                if record == nil {
                    logger.info("dropped \(tp)'s stale pending examples (the partition moved on from \(offsets.mine ?? -1))", metadata: [
                        "pending": "\(pipeline.join.pendingCount(partition: index))",
                        "held_rewards": "\(pipeline.heldRewardCount(partition: index))",
                    ])
                }
                pipeline.dropPartition(index)
            }
            guard let record else { continue }
            try pipeline.importPartition(record.state, into: index, sink: &sink)
            logger.info("took over \(tp)'s pending examples", metadata: [
                "pending": "\(pipeline.join.pendingCount(partition: index))", "offset": "\(offsets.start)",
                "held_rewards": "\(pipeline.heldRewardCount(partition: index))",
            ])
        }
    }

    /// Drops (unlabelled) the pending examples of every partition not in `assigned`.
    func dropUnowned(assigned: Set<KafkaTopicPartition>, pipeline: inout Pipeline) {
        for (index, key) in pipeline.partitionKeys.enumerated() where key.partition >= 0 {
            let tp = KafkaTopicPartition(topic: key.topic, partition: key.partition)
            guard !assigned.contains(tp), pipeline.join.hasPending(partition: index) || pipeline.holdsRewards(partition: index) else { continue }
            logger.info("dropped \(tp)'s pending examples: another member owns the partition", metadata: [
                "pending": "\(pipeline.join.pendingCount(partition: index))",
                "held_rewards": "\(pipeline.heldRewardCount(partition: index))",
            ])
            pipeline.dropPartition(index)
        }
    }

    /// `state` in parts of at most `partBytes` (at least one part, possibly empty).
    static func split(_ state: [UInt8], partBytes: Int) -> [[UInt8]] {
        let parts = max(1, (state.count + partBytes - 1) / partBytes)
        return (0..<parts).map { Array(state[($0 * partBytes)..<min(state.count, ($0 + 1) * partBytes)]) }
    }

    /// The newest complete state of each partition in the changelog: the newest part 0 and the parts 1..<n of the
    /// same offset (parts of an older state, left by compaction, do not match it).
    func newestStates() throws -> [KafkaTopicPartition: (offset: Int64, state: [UInt8])] {
        Self.assemble(try readRecords())
    }

    /// The newest complete state per partition from the newest record of each part key.
    static func assemble(
        _ parts: [String: (offset: Int64, part: Int, count: Int, value: [UInt8])]
    ) -> [KafkaTopicPartition: (offset: Int64, state: [UInt8])] {
        var states: [KafkaTopicPartition: (offset: Int64, state: [UInt8])] = [:]
        for (key, first) in parts {
            guard key.hasSuffix("#0"), first.part == 0 else { continue }
            let name = key.dropLast(2)
            guard let slash = name.lastIndex(of: "/"), let partition = Int32(name[name.index(after: slash)...]) else { continue }
            var state = first.value
            var complete = true
            for i in 1..<max(first.count, 1) {
                guard let p = parts["\(name)#\(i)"], p.offset == first.offset, p.count == first.count, p.part == i else {
                    complete = false
                    break
                }
                state += p.value
            }
            if complete {
                states[KafkaTopicPartition(topic: String(name[..<slash]), partition: partition)] = (first.offset, state)
            }
        }
        return states
    }

    /// The newest record per key of the changelog (read from the beginning to the end), with its offset and part.
    static func newestRecords(
        topic: String, reader consumer: some InputConsumer, logger: Logger
    ) throws -> [String: (offset: Int64, part: Int, count: Int, value: [UInt8])] {
        defer { try? consumer.close() }
        let tp = KafkaTopicPartition(topic: topic, partition: 0)
        let end: Int64
        do {
            end = try consumer.watermarks(for: tp, timeout: .seconds(10)).high
        } catch let error as KafkaError where error.code == .unknownTopicOrPartition || error.code == .unknownPartition {
            // No changelog yet (nothing was ever handed over in this group): no state to take over.
            logger.debug("no \(topic) yet: \(error)")
            return [:]
        }
        var records: [String: (offset: Int64, part: Int, count: Int, value: [UInt8])] = [:]
        guard end > 0 else { return records }
        try consumer.assign([KafkaTopicPartitionOffset(tp, offset: .beginning)])
        try consumer.readToEnd(topic, from: 0, end: end) { message in
            guard let key = message.key, let value = message.value,
                  let header = message.headers.first(where: { $0.name == "feedloop.offset" })?.value ?? nil,
                  let offset = Int64(String(decoding: header, as: UTF8.self)),
                  let partHeader = message.headers.first(where: { $0.name == "feedloop.part" })?.value ?? nil
            else { return }
            let fields = String(decoding: partHeader, as: UTF8.self).split(separator: "/")
            guard fields.count == 2, let part = Int(fields[0]), let count = Int(fields[1]) else { return }
            records[String(decoding: key, as: UTF8.self)] = (offset, part, count, value)
        }
        return records
    }
}
