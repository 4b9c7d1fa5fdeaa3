import CRdKafka

/// A borrowed view of one consumed message, valid **only inside** the closure it is passed to.
///
/// Key, value and header bytes point straight into librdkafka's buffers: nothing is copied unless you
/// ask for it (``copy()``, ``topic``). Do not let the view or its buffers escape the closure.
public struct KafkaMessageView {
    // MARK: Storage

    @usableFromInline
    let message: UnsafePointer<rd_kafka_message_t>

    @usableFromInline
    init(_ message: UnsafePointer<rd_kafka_message_t>) {
        self.message = message
    }

    // MARK: Position

    /// The topic name (copied into a `String` on each access; cache it if you need it per message).
    public var topic: String { String(cString: rd_kafka_topic_name(message.pointee.rkt)) }

    /// An identity for the message's topic, stable for the client's lifetime (librdkafka's topic handle):
    /// lets a hot loop cache per-topic state without building the topic name per message.
    @inlinable
    public var topicIdentity: UnsafeRawPointer? { message.pointee.rkt.map { UnsafeRawPointer($0) } }

    /// The partition the message came from.
    @inlinable
    public var partition: Int32 { message.pointee.partition }

    /// The message's offset in its partition. Commit `offset + 1` once it is processed.
    @inlinable
    public var offset: Int64 { message.pointee.offset }

    /// The topic partition (copies the topic name).
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    // MARK: Payload

    /// The key bytes, or nil when the key is null.
    @inlinable
    public var key: UnsafeRawBufferPointer? {
        guard let key = message.pointee.key else { return nil }
        return UnsafeRawBufferPointer(start: key, count: message.pointee.key_len)
    }

    /// The value bytes, or nil when the value is null (a tombstone).
    @inlinable
    public var value: UnsafeRawBufferPointer? {
        guard let payload = message.pointee.payload else { return nil }
        return UnsafeRawBufferPointer(start: payload, count: message.pointee.len)
    }

    /// The timestamp, or nil when the message has none.
    public var timestamp: KafkaTimestamp? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let ms = rd_kafka_message_timestamp(message, &type)
        switch type {
        case RD_KAFKA_TIMESTAMP_CREATE_TIME: return KafkaTimestamp(milliseconds: ms, kind: .createTime)
        case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME: return KafkaTimestamp(milliseconds: ms, kind: .logAppendTime)
        default: return nil
        }
    }

    // MARK: Headers

    /// Number of headers.
    public var headerCount: Int {
        guard let headers = headerList else { return 0 }
        return rd_kafka_header_cnt(headers)
    }

    /// The value of the last header called `name` (borrowed), `.some(nil)` for a null value,
    /// or nil when there is no such header.
    public func header(named name: String) -> UnsafeRawBufferPointer?? {
        guard let headers = headerList else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        let err = rd_kafka_header_get_last(headers, name, &value, &size)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        guard let value else { return .some(nil) }
        return .some(UnsafeRawBufferPointer(start: value, count: size))
    }

    /// Calls `body` with each header's name and borrowed value (nil for a null value), in order.
    public func forEachHeader(_ body: (_ name: String, _ value: UnsafeRawBufferPointer?) throws -> Void) rethrows {
        guard let headers = headerList else { return }
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            let bytes = value.map { UnsafeRawBufferPointer(start: $0, count: size) }
            try body(name.map { String(cString: $0) } ?? "", bytes)
            index += 1
        }
    }

    /// The message's header list, or nil when it has none.
    private var headerList: OpaquePointer? {
        var headers: OpaquePointer?
        let err = rd_kafka_message_headers(message, &headers)
        return err == RD_KAFKA_RESP_ERR_NO_ERROR ? headers : nil
    }

    // MARK: Copy

    /// An owned copy of the message, safe to keep after the closure returns.
    public func copy() -> KafkaMessage {
        var headers: [KafkaHeader] = []
        forEachHeader { name, value in headers.append(KafkaHeader(name: name, value: value.map { Array($0) })) }
        return KafkaMessage(
            topic: topic,
            partition: partition,
            offset: offset,
            key: key.map { Array($0) },
            value: value.map { Array($0) },
            timestamp: timestamp,
            headers: headers
        )
    }
}
