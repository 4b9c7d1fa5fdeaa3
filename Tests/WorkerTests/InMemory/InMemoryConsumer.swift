import Kafka
@testable import Worker

/// A consumer of an ``InMemoryBroker``: reads the broker's arrays, delivers a scripted sequence of rebalances and
/// journals what the loop asks of it. A group member (``script`` decides its assignment) or, with `journals: false`,
/// an assign-only reader (the changelog's).
///
/// Like librdkafka, a rebalance is handed to the handler inside `poll`, before any message; an error the handler
/// throws is rethrown once the rebalance is applied; an assigned partition starts at the handler's start offset,
/// else at the group's committed offset, else at its beginning.
final class InMemoryConsumer: InputConsumer {
    struct Message: ConsumedMessage {
        var topic: String
        var topicIdentity: UnsafeRawPointer?
        var partition: Int32
        var offset: Int64
        var key: UnsafeRawBufferPointer?
        var value: UnsafeRawBufferPointer?
        var timestamp: KafkaTimestamp?
    }

    /// A rebalance delivered at the first poll once `afterMessages` messages were handed over; a poll hands over no
    /// message past that point before it.
    struct Step {
        var afterMessages: Int
        var event: KafkaRebalanceEvent
    }

    let broker: InMemoryBroker
    let journals: Bool
    var script: [Step] = []
    /// Queries of the committed offsets that fail before one succeeds.
    var failingCommittedQueries = 0
    private(set) var assignment: [KafkaTopicPartition] = []
    private(set) var positions: [KafkaTopicPartition: Int64] = [:]
    /// Messages handed over so far, and polls that handed over none.
    private(set) var handed = 0
    private(set) var emptyPolls = 0
    private(set) var isClosed = false

    init(broker: InMemoryBroker, journals: Bool = true) {
        self.broker = broker
        self.journals = journals
    }

    /// Scripts a rebalance (see ``Step``).
    func schedule(_ kind: KafkaRebalanceEvent.Kind, _ partitions: [KafkaTopicPartition], afterMessages: Int = 0, lost: Bool = false) {
        script.append(Step(
            afterMessages: afterMessages,
            event: KafkaRebalanceEvent(kind: kind, partitions: partitions, rebalanceProtocol: .eager, isAssignmentLost: lost)))
    }

    /// Every scripted rebalance is delivered and the last poll found nothing to read.
    var isCaughtUp: Bool { script.isEmpty && emptyPolls > 0 && assignment.allSatisfy { positions[$0]! >= broker.end(of: $0) } }

    private func journal(_ call: InMemoryBroker.Call) { if journals { broker.record(call) } }

    // MARK: InputConsumer

    func subscribe(topics: [String]) throws { journal(.subscribe(topics)) }

    func assign(_ partitions: [KafkaTopicPartitionOffset]) throws {
        assignment = partitions.map(\.topicPartition)
        for p in partitions { positions[p.topicPartition] = p.offset.value ?? broker.committed[p.topicPartition] ?? 0 }
    }

    func poll(
        timeout: Duration, maxMessages: Int, onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse,
        _ body: (Message) throws -> Void
    ) throws -> Int {
        try deliver(maxMessages: maxMessages, onRebalance: onRebalance) { tp, offset, record, identity in
            try Self.withBytes(record.key) { key in
                try Self.withBytes(record.value) { value in
                    try body(Message(
                        topic: tp.topic, topicIdentity: identity, partition: tp.partition, offset: offset, key: key, value: value,
                        timestamp: record.timestampMs > 0 ? KafkaTimestamp(milliseconds: record.timestampMs, kind: .createTime) : nil))
                }
            }
        }
    }

    func poll(
        timeout: Duration, maxMessages: Int, onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse
    ) throws -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        _ = try deliver(maxMessages: maxMessages, onRebalance: onRebalance) { tp, offset, record, _ in
            messages.append(KafkaMessage(
                topic: tp.topic, partition: tp.partition, offset: offset, key: record.key, value: record.value,
                timestamp: nil, headers: record.headers))
        }
        return messages
    }

    func commit(offsets: [KafkaTopicPartitionOffset], synchronous: Bool) throws {
        var committed: [KafkaTopicPartition: Int64] = [:]
        for o in offsets { committed[o.topicPartition] = o.offset.value }
        journal(.commit(committed, synchronous: synchronous))
        broker.committed.merge(committed) { _, new in new }
    }

    func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws -> [KafkaTopicPartitionOffset] {
        if failingCommittedQueries > 0 {
            failingCommittedQueries -= 1
            throw KafkaError(code: .timedOut, message: "committed offsets: timed out (in-memory broker)")
        }
        return partitions.map { KafkaTopicPartitionOffset($0, offset: broker.committed[$0].map { KafkaOffset($0) } ?? .invalid) }
    }

    func position(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartitionOffset] {
        partitions.map { KafkaTopicPartitionOffset($0, offset: positions[$0].map { KafkaOffset($0) } ?? .invalid) }
    }

    func watermarks(for partition: KafkaTopicPartition, timeout: Duration) throws -> (low: Int64, high: Int64) {
        guard let topic = broker.topics[partition.topic], Int(partition.partition) < topic.partitions.count else {
            throw KafkaError(code: .unknownTopicOrPartition, message: "\(partition): unknown (in-memory broker)")
        }
        return (0, broker.end(of: partition))
    }

    func cachedWatermarks(for partition: KafkaTopicPartition) -> (low: Int64, high: Int64)? {
        assignment.contains(partition) ? (0, broker.end(of: partition)) : nil
    }

    func close(onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse) throws {
        guard !isClosed else { return }
        if journals, !assignment.isEmpty {
            // Leaving the group revokes the assignment through the handler.
            try rebalance(
                KafkaRebalanceEvent(kind: .revoked, partitions: assignment, rebalanceProtocol: .eager, isAssignmentLost: false),
                onRebalance)
        }
        journal(.close)
        isClosed = true
    }

    func abandon() {
        journal(.abandon)
        isClosed = true
    }

    // MARK: Delivery

    /// Delivers the due rebalances, then up to `maxMessages` messages (not past the next scripted rebalance), each
    /// to `body` with its partition, offset, record and topic identity.
    private func deliver(
        maxMessages: Int, onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse,
        _ body: (KafkaTopicPartition, Int64, InMemoryBroker.Record, UnsafeRawPointer) throws -> Void
    ) throws -> Int {
        guard !isClosed else { throw KafkaError(code: .state, message: "poll on a closed consumer") }
        while let step = script.first, step.afterMessages <= handed {
            script.removeFirst()
            try rebalance(step.event, onRebalance)
        }
        var limit = maxMessages
        if let next = script.first { limit = min(limit, next.afterMessages - handed) }
        // One message of each assigned partition in turn: partitions interleave within a poll.
        var count = 0
        var progressed = true
        while count < limit, progressed {
            progressed = false
            for tp in assignment where count < limit {
                guard let topic = broker.topics[tp.topic], Int(tp.partition) < topic.partitions.count,
                      let position = positions[tp], position < topic.partitions[Int(tp.partition)].count
                else { continue }
                positions[tp] = position + 1
                count += 1
                handed += 1
                progressed = true
                let identity = UnsafeRawPointer(Unmanaged.passUnretained(topic).toOpaque())
                try body(tp, position, topic.partitions[Int(tp.partition)][Int(position)], identity)
            }
        }
        if count == 0 { emptyPolls += 1 }
        return count
    }

    /// Hands `event` to the handler, then applies it (also when the handler threw, whose error is rethrown after).
    private func rebalance(_ event: KafkaRebalanceEvent, _ handler: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse) throws {
        journal(.rebalance(event.kind, event.partitions, lost: event.isAssignmentLost))
        var failure: (any Error)?
        var response = KafkaRebalanceResponse.proceed
        do { response = try handler(event) } catch { failure = error }
        var starts: [KafkaTopicPartition: Int64] = [:]
        switch event.kind {
        case .assigned:
            for tp in event.partitions where !assignment.contains(tp) {
                assignment.append(tp)
                let start = response.startOffsets[tp]?.value ?? broker.committed[tp] ?? 0
                positions[tp] = start
                starts[tp] = start
            }
        case .revoked:
            assignment.removeAll { event.partitions.contains($0) }
            for tp in event.partitions { positions[tp] = nil }
        }
        journal(.acknowledged(event.kind, starts: starts))
        if let failure { throw failure }
    }

    private static func withBytes<T>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        guard let bytes else { return try body(nil) }
        return try bytes.withUnsafeBytes { try body($0) }
    }
}
