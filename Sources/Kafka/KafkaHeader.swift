/// A message header: a name and an optional binary value (Kafka allows null values).
public struct KafkaHeader: Hashable, Sendable {
    /// Header name.
    public var name: String
    /// Header value, or nil for a null value.
    public var value: [UInt8]?

    /// Creates a header with a binary value.
    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }

    /// Creates a header whose value is the UTF-8 bytes of `value`.
    public init(name: String, value: String) {
        self.init(name: name, value: Array(value.utf8))
    }
}
