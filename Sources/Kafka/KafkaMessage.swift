/// An owned copy of a consumed message (see ``KafkaMessageView`` for the zero-copy form).
public struct KafkaMessage: Hashable, Sendable {
    /// Topic name.
    public var topic: String
    /// Partition number.
    public var partition: Int32
    /// Offset in the partition. Commit `offset + 1` once it is processed.
    public var offset: Int64
    /// Key bytes, nil for a null key.
    public var key: [UInt8]?
    /// Value bytes, nil for a null value (tombstone).
    public var value: [UInt8]?
    /// Timestamp, if the message has one.
    public var timestamp: KafkaTimestamp?
    /// Headers, in order.
    public var headers: [KafkaHeader]

    /// Creates a message.
    public init(
        topic: String, partition: Int32, offset: Int64, key: [UInt8]?, value: [UInt8]?,
        timestamp: KafkaTimestamp?, headers: [KafkaHeader]
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.timestamp = timestamp
        self.headers = headers
    }

    /// The partition the message came from.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }
}
