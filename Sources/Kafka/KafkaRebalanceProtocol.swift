/// The rebalance protocol a consumer group currently uses (`rd_kafka_rebalance_protocol`).
public enum KafkaRebalanceProtocol: String, Hashable, Sendable {
    /// Not in a group (yet), or assign()-only use.
    case none = "NONE"
    /// Stop-the-world: every rebalance revokes the whole assignment, then assigns the new one.
    case eager = "EAGER"
    /// Incremental: only partitions that move are revoked; assignments add to what is kept.
    case cooperative = "COOPERATIVE"
}
