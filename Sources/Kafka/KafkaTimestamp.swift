/// A message timestamp in milliseconds since the Unix epoch, and who set it.
public struct KafkaTimestamp: Hashable, Sendable {
    /// Who assigned the timestamp.
    public enum Kind: Hashable, Sendable {
        /// The producer (Kafka `CreateTime`).
        case createTime
        /// The broker when appending (Kafka `LogAppendTime`).
        case logAppendTime
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var milliseconds: Int64
    /// Producer- or broker-assigned.
    public var kind: Kind

    /// Creates a timestamp.
    public init(milliseconds: Int64, kind: Kind) {
        self.milliseconds = milliseconds
        self.kind = kind
    }
}
