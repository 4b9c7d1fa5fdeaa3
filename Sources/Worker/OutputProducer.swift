import Kafka

/// What the worker uses of its producer: enqueue, serve delivery reports, wait for deliveries. ``KafkaProducer`` in
/// production; an in-memory producer in the loop's tests, which fails chosen deliveries.
protocol OutputProducer: AnyObject {
    /// Enqueues a message; `token` comes back in its delivery report. Failures after enqueueing arrive as reports.
    func send(
        topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, headers: [KafkaHeader], partition: Int32?,
        token: UInt64
    ) throws
    /// Hands every delivery report collected so far (after serving the queue up to `timeout`) to `body`.
    @discardableResult
    func poll(timeout: Duration, _ body: (KafkaDeliveryReport) throws -> Void) rethrows -> Int
    /// Messages enqueued and not yet reported (delivered or failed), and reports not yet served.
    var outstandingCount: Int { get }
    /// Waits until every enqueued message is delivered or failed; throws when messages remain after `timeout`.
    func flush(timeout: Duration) throws
}

extension OutputProducer {
    /// Enqueues a message with byte-array key and value.
    func send(topic: String, key: [UInt8]?, value: [UInt8]?, headers: [KafkaHeader] = [], token: UInt64 = 0) throws {
        func bytes<T>(_ array: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
            guard let array else { return try body(nil) }
            return try array.withUnsafeBytes { try body($0) }
        }
        try bytes(key) { k in
            try bytes(value) { v in try send(topic: topic, key: k, value: v, headers: headers, partition: nil, token: token) }
        }
    }
}

extension KafkaProducer: OutputProducer {}
