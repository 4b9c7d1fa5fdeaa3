/// One librdkafka property (`key` = `value`) and where it came from.
public struct KafkaProperty: Sendable, Equatable {
    /// The librdkafka property name, e.g. `sasl.mechanism`.
    public var key: String
    /// The value as librdkafka receives it. May be a secret: never put it in a log line or an error.
    public var value: String
    /// The file line, environment variable or argument that set it.
    public var source: KafkaPropertySource

    /// Creates a property.
    public init(key: String, value: String, source: KafkaPropertySource) {
        self.key = key
        self.value = value
        self.source = source
    }
}
