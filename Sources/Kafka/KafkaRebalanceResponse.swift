/// What the rebalance handler wants done with an assignment.
public struct KafkaRebalanceResponse: Hashable, Sendable {
    /// Start offsets for some of the newly assigned partitions. Partitions not listed start at the
    /// group's committed offset (or `auto.offset.reset`). Ignored for revokes.
    public var startOffsets: [KafkaTopicPartition: KafkaOffset]

    /// Creates a response.
    public init(startOffsets: [KafkaTopicPartition: KafkaOffset] = [:]) {
        self.startOffsets = startOffsets
    }

    /// Apply the rebalance as it is.
    public static let proceed = KafkaRebalanceResponse()

    /// Start the listed partitions at the given offsets (e.g. those stored in a checkpoint).
    public static func start(at offsets: [KafkaTopicPartitionOffset]) -> KafkaRebalanceResponse {
        var map: [KafkaTopicPartition: KafkaOffset] = [:]
        for item in offsets { map[item.topicPartition] = item.offset }
        return KafkaRebalanceResponse(startOffsets: map)
    }
}
