/// A partition and an offset in it: a commit, a start position, a seek target or a position report.
///
/// The offset is the *next* message to read (last processed + 1).
public struct KafkaTopicPartitionOffset: Hashable, Sendable, CustomStringConvertible {
    /// The partition.
    public var topicPartition: KafkaTopicPartition
    /// The offset (next message to read), possibly logical (``KafkaOffset/beginning`` …).
    public var offset: KafkaOffset

    /// Creates a partition offset.
    public init(_ topicPartition: KafkaTopicPartition, offset: KafkaOffset) {
        self.topicPartition = topicPartition
        self.offset = offset
    }

    /// Creates a partition offset from its parts.
    public init(topic: String, partition: Int32, offset: KafkaOffset) {
        self.init(KafkaTopicPartition(topic: topic, partition: partition), offset: offset)
    }

    /// Topic name.
    public var topic: String { topicPartition.topic }
    /// Partition number.
    public var partition: Int32 { topicPartition.partition }

    /// `topic[partition]@offset`.
    public var description: String { "\(topicPartition)@\(offset)" }
}
