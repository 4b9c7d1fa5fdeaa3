/// How far a consumer is behind the end of one partition.
public struct KafkaPartitionLag: Hashable, Sendable, CustomStringConvertible {
    /// The partition.
    public var topicPartition: KafkaTopicPartition
    /// The oldest available offset (low watermark).
    public var lowWatermark: Int64
    /// The offset the next produced message will get (high watermark).
    public var highWatermark: Int64
    /// The consumer's position (next offset it will read), nil when it has not fetched from the
    /// partition yet.
    public var position: Int64?

    /// Creates a lag record.
    public init(topicPartition: KafkaTopicPartition, lowWatermark: Int64, highWatermark: Int64, position: Int64?) {
        self.topicPartition = topicPartition
        self.lowWatermark = lowWatermark
        self.highWatermark = highWatermark
        self.position = position
    }

    /// Messages not yet read: high watermark − position (never negative), nil when the position is unknown.
    public var lag: Int64? { position.map { max(0, highWatermark - $0) } }

    /// `topic[p] lag=N (position/high)`.
    public var description: String {
        "\(topicPartition) lag=\(lag.map(String.init) ?? "?") (\(position.map(String.init) ?? "?")/\(highWatermark))"
    }
}
