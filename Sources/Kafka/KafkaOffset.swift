import CRdKafka

/// A partition offset: a real position (≥ 0) or one of librdkafka's logical offsets.
///
/// In commits and start positions an offset always names the *next* message to read
/// (last processed offset + 1), as in Kafka itself.
public struct KafkaOffset: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The raw `int64_t` value librdkafka uses.
    public let rawValue: Int64

    /// Wraps a raw offset.
    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// A concrete offset.
    public init(_ value: Int64) { self.rawValue = value }

    /// The first available message (`RD_KAFKA_OFFSET_BEGINNING`).
    public static let beginning = KafkaOffset(Int64(RD_KAFKA_OFFSET_BEGINNING))
    /// The next message to be produced (`RD_KAFKA_OFFSET_END`).
    public static let end = KafkaOffset(Int64(RD_KAFKA_OFFSET_END))
    /// The group's committed offset, or `auto.offset.reset` when there is none (`RD_KAFKA_OFFSET_STORED`).
    public static let stored = KafkaOffset(Int64(RD_KAFKA_OFFSET_STORED))
    /// No offset / unknown (`RD_KAFKA_OFFSET_INVALID`).
    public static let invalid = KafkaOffset(Int64(RD_KAFKA_OFFSET_INVALID))

    /// True for a concrete position (≥ 0).
    public var isConcrete: Bool { rawValue >= 0 }

    /// The concrete value, or nil for a logical offset.
    public var value: Int64? { rawValue >= 0 ? rawValue : nil }

    /// The number, or `beginning`/`end`/`stored`/`invalid`.
    public var description: String {
        switch self {
        case .beginning: "beginning"
        case .end: "end"
        case .stored: "stored"
        case .invalid: "invalid"
        default: String(rawValue)
        }
    }
}
