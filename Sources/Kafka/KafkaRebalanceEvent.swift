/// A consumer-group rebalance, handed to the rebalance handler of
/// ``KafkaConsumer/poll(timeout:maxMessages:onRebalance:_:)`` (or ``KafkaConsumer/close(onRebalance:)``)
/// *before* librdkafka is told to apply it.
public struct KafkaRebalanceEvent: Hashable, Sendable {
    /// Whether partitions arrive or leave.
    public enum Kind: Hashable, Sendable {
        /// Partitions are being assigned to this consumer.
        case assigned
        /// Partitions are being taken away. Checkpoint and commit them now: when the handler returns
        /// the revoke is acknowledged and another member may start on them.
        case revoked
    }

    /// Assigned or revoked.
    public var kind: Kind
    /// The partitions concerned. Eager protocol: the whole new assignment (assign) or the whole old
    /// one (revoke). Cooperative protocol: only the partitions added or removed.
    public var partitions: [KafkaTopicPartition]
    /// The protocol in use at the time of the event.
    public var rebalanceProtocol: KafkaRebalanceProtocol
    /// True when a revoke happens because the assignment was lost (session timeout, fenced member):
    /// other members may already own the partitions, so committing offsets for them will fail.
    public var isAssignmentLost: Bool

    /// Creates an event.
    public init(kind: Kind, partitions: [KafkaTopicPartition], rebalanceProtocol: KafkaRebalanceProtocol, isAssignmentLost: Bool) {
        self.kind = kind
        self.partitions = partitions
        self.rebalanceProtocol = rebalanceProtocol
        self.isAssignmentLost = isAssignmentLost
    }
}
