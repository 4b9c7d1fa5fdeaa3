/// The outcome of one produced message, surfaced by ``KafkaProducer/poll(timeout:_:)``.
public struct KafkaDeliveryReport: Equatable, Sendable, CustomStringConvertible {
    /// The caller's token given to ``KafkaProducer/send(topic:key:value:headers:partition:token:)``.
    public var token: UInt64
    /// The topic the message was sent to.
    public var topic: String
    /// The partition it landed in (or was meant for; -1 if none was chosen before it failed).
    public var partition: Int32
    /// Its offset, when delivered and known.
    public var offset: Int64?
    /// Why it was not delivered; nil when it was.
    public var error: KafkaError?

    /// Creates a report.
    public init(token: UInt64, topic: String, partition: Int32, offset: Int64?, error: KafkaError?) {
        self.token = token
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.error = error
    }

    /// True when the broker acknowledged the message.
    public var isDelivered: Bool { error == nil }

    /// `token → topic[p]@offset` or `token → topic: error`.
    public var description: String {
        if let error { return "#\(token) → \(topic)[\(partition)] failed: \(error)" }
        return "#\(token) → \(topic)[\(partition)]@\(offset.map(String.init) ?? "?")"
    }
}
