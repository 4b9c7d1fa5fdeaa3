import Kafka

/// A consumed message as the worker loop reads it, borrowed for the duration of the poll callback that hands it
/// over: ``KafkaMessageView`` in production, an in-memory message in the loop's tests.
protocol ConsumedMessage {
    var topic: String { get }
    /// Stands for the topic while messages of one partition follow each other (no topic-name String per message);
    /// equal for every message of a topic within one poll.
    var topicIdentity: UnsafeRawPointer? { get }
    var partition: Int32 { get }
    var offset: Int64 { get }
    var key: UnsafeRawBufferPointer? { get }
    var value: UnsafeRawBufferPointer? { get }
    var timestamp: KafkaTimestamp? { get }
}

extension KafkaMessageView: ConsumedMessage {}

/// What the worker loop uses of its consumer: polling with the rebalance callback, offsets, watermarks, leaving
/// the group. ``KafkaConsumer`` in production; an in-memory consumer in the loop's tests, so that the
/// exactly-once rules (`WorkerLoop+Checkpoints.swift`) are tested without a broker.
///
/// The loop is generic over it, not an existential: the per-message callback is specialized to the concrete
/// consumer's message type and costs what a direct call does.
protocol InputConsumer: AnyObject {
    associatedtype Message: ConsumedMessage

    func subscribe(topics: [String]) throws
    /// Assigns partitions directly (no group join): the changelog and increments readers.
    func assign(_ partitions: [KafkaTopicPartitionOffset]) throws

    /// Waits up to `timeout` for the first message, then hands whatever else is fetched, up to `maxMessages`, to
    /// `body`. Rebalances that happen meanwhile call `onRebalance` first (see ``KafkaConsumer``'s `poll`): an error
    /// it throws is rethrown after the rebalance is acknowledged.
    @discardableResult
    func poll(
        timeout: Duration, maxMessages: Int, onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse,
        _ body: (Message) throws -> Void
    ) throws -> Int
    /// Owned copies of the messages (the readers of the changelog and the increments topic).
    func poll(
        timeout: Duration, maxMessages: Int, onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse
    ) throws -> [KafkaMessage]

    func commit(offsets: [KafkaTopicPartitionOffset], synchronous: Bool) throws
    /// The group's committed offsets (a negative offset: none).
    func committed(_ partitions: [KafkaTopicPartition], timeout: Duration) throws -> [KafkaTopicPartitionOffset]
    func position(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartitionOffset]
    /// Asked from the broker.
    func watermarks(for partition: KafkaTopicPartition, timeout: Duration) throws -> (low: Int64, high: Int64)
    /// As last reported by a fetch; nil before one.
    func cachedWatermarks(for partition: KafkaTopicPartition) -> (low: Int64, high: Int64)?

    /// Leaves the group (revoking the assignment through `onRebalance`).
    func close(onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse) throws
    /// Gives the consumer up without waiting for the broker.
    func abandon()
}

extension InputConsumer {
    func poll(timeout: Duration, maxMessages: Int) throws -> [KafkaMessage] {
        try poll(timeout: timeout, maxMessages: maxMessages, onRebalance: { _ in .proceed })
    }

    func close() throws { try close(onRebalance: { _ in .proceed }) }
}

extension KafkaConsumer: InputConsumer {}
