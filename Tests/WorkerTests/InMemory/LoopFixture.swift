import Foundation
import Kafka
import Logging
import Pipelines
@testable import Worker

/// A worker loop over an ``InMemoryBroker``: the input topic `events` holds a generated stream (line i in partition
/// i mod `partitions`), checkpoints go to a temporary directory, and the broker's journal probes the newest
/// checkpoint's sequence number at every call — so a test sees where in the call order a checkpoint was written.
final class LoopFixture {
    typealias Loop = WorkerLoop<InMemoryConsumer, InMemoryProducer>

    let broker: InMemoryBroker
    let root: String
    var options: WorkerOptions
    let lines: [[UInt8]]
    static let input = "events"

    /// A new broker with `events` generated events in `partitions` partitions, or `broker` as it is.
    init(partitions: Int = 1, events: Int = 150, broker: InMemoryBroker? = nil) throws {
        self.broker = broker ?? InMemoryBroker()
        root = NSTemporaryDirectory() + "feedloop-loop-\(UUID().uuidString)"
        let spec = try PipelineSpec.parse(yaml: ServingViewConcurrencyTests.spec)
        options = WorkerOptions(spec: spec, brokers: "in-memory")
        options.checkpointDirectory = root + "/checkpoints"
        options.checkpointEveryEvents = 1_000_000
        options.checkpointEverySeconds = 3_600
        options.checkpointsKept = 10
        options.progressEverySeconds = 0
        options.maxMessagesPerPoll = 16
        lines = ServingViewConcurrencyTests.stream(events: events)
        let broker = self.broker
        guard !broker.topics.keys.contains(Self.input) else {
            probeCheckpoints()
            return
        }
        broker.createTopic(Self.input, partitions: partitions)
        for (i, line) in lines.enumerated() {
            broker.append(.init(key: nil, value: line, timestampMs: 1_000 + Int64(i)), to: Self.input, partition: Int32(i % partitions))
        }
        probeCheckpoints()
    }

    /// Another member of the same group on the same broker: its own checkpoint directory (the journal probes it from
    /// now on).
    static func sharing(_ other: LoopFixture) throws -> LoopFixture {
        try LoopFixture(broker: other.broker)
    }

    /// The journal's probe: the newest checkpoint's sequence number in this fixture's directory.
    func probeCheckpoints() {
        let directory = options.checkpointDirectory
        broker.probe = { (try? CheckpointStore(directory: directory).files().first?.sequence).map { Int($0) } ?? 0 }
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    static func tp(_ partition: Int32) -> KafkaTopicPartition { KafkaTopicPartition(topic: input, partition: partition) }

    var changelogTopic: String { PartitionHandover.topicName(group: options.groupID, pipeline: options.spec.name) }

    /// A loop on new clients of the broker (a process start: it restores the newest readable checkpoint). It stops when
    /// `stop` says so, by default once its consumer is caught up.
    func loop(_ consumer: InMemoryConsumer, _ producer: InMemoryProducer, stop: (() -> Bool)? = nil) throws -> Loop {
        let broker = broker
        let handover = PartitionHandover(topic: changelogTopic, logger: Self.logger) { InMemoryConsumer(broker: broker, journals: false) }
        return try Loop(
            options: options, logger: Self.logger, consumer: consumer, producer: producer, handover: handover,
            stop: stop ?? { consumer.isCaughtUp })
    }

    static let logger = Logger(label: "feedloop.loop-tests") { _ in SwiftLogNoOpLogHandler() }

    /// The newest checkpoint files, newest first.
    func checkpoints() throws -> [(sequence: UInt64, path: String)] {
        try CheckpointStore(directory: options.checkpointDirectory).files()
    }

    /// The input positions of the newest readable checkpoint.
    func newestPositions() throws -> [KafkaTopicPartition: Int64] {
        let restored = try CheckpointStore(directory: options.checkpointDirectory).restoreNewest(spec: options.onlineSpec)
        var positions: [KafkaTopicPartition: Int64] = [:]
        for p in restored?.positions ?? [] { positions[KafkaTopicPartition(topic: p.topic, partition: p.partition)] = p.offset }
        return positions
    }

    /// Where the journal breaks rule 1 at the commit at `index` (empty when it keeps it): every output sent before
    /// the commit was delivered and its report served, then a checkpoint was written — after the loop's last call
    /// to its clients, so after those deliveries — and then the commit came.
    func flushCheckpointCommitViolations(at index: Int) -> [String] {
        let journal = broker.journal
        guard index > 0, index < journal.count, case .commit = journal[index].call else { return ["entry \(index) is no commit"] }
        var violations: [String] = []
        let before = journal[..<index].map(\.call)
        let sent = before.filter { if case .send = $0 { return true } else { return false } }.count
        let delivered = before.filter { if case .delivered(_, ok: true) = $0 { return true } else { return false } }.count
        if sent != delivered { violations.append("\(sent) outputs sent before the commit, \(delivered) delivered") }
        if journal[index].probe != journal[index - 1].probe + 1 {
            violations.append("no checkpoint written between the last client call (\(journal[index - 1].call)) and the commit")
        }
        return violations
    }

    /// Indices of the journal's commits.
    var commitIndices: [Int] {
        broker.journal.indices.filter { if case .commit = broker.journal[$0].call { return true } else { return false } }
    }
}

extension InMemoryBroker.Call {
    /// The commit's offsets and mode, nil for other calls.
    var commit: (offsets: [KafkaTopicPartition: Int64], synchronous: Bool)? {
        if case .commit(let offsets, let synchronous) = self { return (offsets, synchronous) }
        return nil
    }

    var starts: [KafkaTopicPartition: Int64]? {
        if case .acknowledged(.assigned, let starts) = self { return starts }
        return nil
    }
}
