import CRdKafka
import Logging

/// An idempotent, batching Kafka producer with delivery reports.
///
/// Defaults: `enable.idempotence=true`, `acks=all`, `linger.ms` from ``KafkaConfiguration/linger``.
/// Each message carries a caller-chosen `UInt64` token (e.g. the input offset it was derived from)
/// that comes back in its ``KafkaDeliveryReport``. Reports are collected while librdkafka is polled
/// (by ``poll(timeout:_:)``, ``flush(timeout:)`` or a back-pressured ``send(topic:key:value:headers:partition:token:)``)
/// and handed out by ``poll(timeout:_:)``: call it regularly.
///
/// ```swift
/// let producer = try KafkaProducer(configuration: config, logger: logger)
/// try producer.send(topic: "scores", key: Array(user.utf8), value: payload, token: UInt64(inputOffset))
/// producer.poll { report in if let error = report.error { logger.error("\(error)") } }
/// try producer.flush(timeout: .seconds(10))   // on shutdown, then poll once more for the last reports
/// ```
///
/// All methods are thread-safe.
public final class KafkaProducer: Sendable {
    // MARK: State

    private let client: RdKafkaClient
    private let reports: DeliveryReportBuffer
    private let topics: TopicHandleCache
    private let enqueueTimeout: Duration
    private let logger: Logger

    private var handle: OpaquePointer { client.handle }

    // MARK: Init

    /// Creates a producer.
    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        let reports = DeliveryReportBuffer()
        let topics = TopicHandleCache()
        let context = RdKafkaContext(logger: logger)
        context.deliveryHook = { message in
            let topic = message.pointee.rkt.map { topics.name(of: $0) } ?? ""
            reports.append(KafkaDeliveryReport(message: message, topic: topic))
        }
        self.client = try RdKafkaClient(role: .producer, configuration: configuration, context: context)
        self.reports = reports
        self.topics = topics
        self.enqueueTimeout = configuration.enqueueTimeout
        self.logger = logger
    }

    deinit {
        let outstanding = rd_kafka_outq_len(handle)
        if outstanding > 0 {
            logger.warning("producer destroyed with \(outstanding) messages/requests in flight; call flush(timeout:) first")
        }
        topics.destroyAll()
    }

    // MARK: Sending

    /// Enqueues a message (key/value bytes are copied; nil means a null key/value).
    ///
    /// When the local queue is full it polls (collecting delivery reports) and retries for up to
    /// ``KafkaConfiguration/enqueueTimeout`` before throwing `_QUEUE_FULL`. Other failures (unknown
    /// partition with known metadata, message too large, fatal producer error) are thrown at once;
    /// failures after enqueueing arrive as delivery reports.
    ///
    /// - Parameters:
    ///   - partition: an explicit partition, or nil for librdkafka's key hash (`consistent_random`).
    ///   - token: returned unchanged in the message's delivery report.
    public func send(
        topic: String,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader] = [],
        partition: Int32? = nil,
        token: UInt64 = 0
    ) throws {
        let rkt = try topics.handle(for: topic, in: handle)
        var deadline: ContinuousClock.Instant?
        while true {
            guard let error = produce(rkt, key: key, value: value, headers: headers, partition: partition, token: token) else {
                return
            }
            if error.code == .queueFull {
                let now = ContinuousClock.now
                let limit = deadline ?? now + enqueueTimeout
                deadline = limit
                if now < limit {
                    rd_kafka_poll(handle, 10)  // serves delivery reports, which frees queue space
                    continue
                }
                throw KafkaError(code: .queueFull, message: "producer queue still full after \(enqueueTimeout)", isRetriable: true)
            }
            throw error
        }
    }

    /// Enqueues a message with byte-array key and value (see ``send(topic:key:value:headers:partition:token:)``).
    public func send(
        topic: String,
        key: [UInt8]?,
        value: [UInt8]?,
        headers: [KafkaHeader] = [],
        partition: Int32? = nil,
        token: UInt64 = 0
    ) throws {
        try withOptionalBytes(key) { keyBytes in
            try withOptionalBytes(value) { valueBytes in
                try send(topic: topic, key: keyBytes, value: valueBytes, headers: headers, partition: partition, token: token)
            }
        }
    }

    private func withOptionalBytes<T>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        guard let bytes else { return try body(nil) }
        return try bytes.withUnsafeBytes { try body($0) }
    }

    /// One `rd_kafka_produceva` call; nil on success.
    private func produce(
        _ rkt: OpaquePointer, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader], partition: Int32?, token: UInt64
    ) -> KafkaError? {
        var headerList: OpaquePointer?
        if !headers.isEmpty {
            let list = rd_kafka_headers_new(headers.count)!
            for header in headers {
                if let value = header.value {
                    value.withUnsafeBytes { _ = rd_kafka_header_add(list, header.name, -1, $0.baseAddress, $0.count) }
                } else {
                    _ = rd_kafka_header_add(list, header.name, -1, nil, 0)
                }
            }
            headerList = list
        }
        let error: OpaquePointer? = withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { vus in
            var count = 0
            func add(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                var vu = rd_kafka_vu_t()
                vu.vtype = type
                fill(&vu)
                vus.initializeElement(at: count, to: vu)
                count += 1
            }
            add(RD_KAFKA_VTYPE_RKT) { $0.u.rkt = rkt }
            add(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition ?? RD_KAFKA_PARTITION_UA }
            add(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
            add(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(token)) }
            if let key {
                add(RD_KAFKA_VTYPE_KEY) {
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    $0.u.mem.size = key.count
                }
            }
            if let value {
                add(RD_KAFKA_VTYPE_VALUE) {
                    $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                    $0.u.mem.size = value.count
                }
            }
            if let headerList {
                add(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = headerList }
            }
            defer { vus.baseAddress!.deinitialize(count: count) }
            return rd_kafka_produceva(handle, vus.baseAddress, count)
        }
        guard let error else { return nil }  // librdkafka owns the headers now
        if let headerList { rd_kafka_headers_destroy(headerList) }
        return KafkaError(consuming: error)
    }

    // MARK: Delivery reports

    /// Serves librdkafka's queue for up to `timeout`, then hands every collected delivery report to `body`.
    ///
    /// - Returns: the number of reports handed out.
    @discardableResult
    public func poll(timeout: Duration = .zero, _ body: (KafkaDeliveryReport) throws -> Void) rethrows -> Int {
        rd_kafka_poll(handle, timeout.wholeMilliseconds)
        let batch = reports.takeAll()
        for report in batch { try body(report) }
        return batch.count
    }

    /// Like ``poll(timeout:_:)`` but returns the reports.
    public func poll(timeout: Duration = .zero) -> [KafkaDeliveryReport] {
        rd_kafka_poll(handle, timeout.wholeMilliseconds)
        return reports.takeAll()
    }

    /// Messages and requests not yet completed (enqueued, in flight, or reports not yet served).
    public var outstandingCount: Int { Int(rd_kafka_outq_len(handle)) }

    /// Waits until every enqueued message is delivered or failed (reports are collected; get them with
    /// ``poll(timeout:_:)``). Throws `_TIMED_OUT` when messages remain after `timeout`, and an authentication
    /// failure as soon as a broker reports one during the flush while messages remain (they could not be
    /// delivered before `message.timeout.ms`, minutes by default).
    public func flush(timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        let failuresBefore = client.context.authenticationFailureCount
        while true {
            let left = deadline - ContinuousClock.now
            let err = rd_kafka_flush(handle, max(.zero, min(left, .milliseconds(200))).wholeMilliseconds)
            if err == RD_KAFKA_RESP_ERR_NO_ERROR { return }
            guard err == RD_KAFKA_RESP_ERR__TIMED_OUT else { try KafkaError.check(err, "flush"); return }
            if let failure = client.context.authenticationError(since: failuresBefore) { throw failure }
            if ContinuousClock.now >= deadline {
                throw KafkaError(code: .timedOut, message: "flush: \(outstandingCount) messages still in flight after \(timeout)")
            }
        }
    }
}

// MARK: - Internal state

extension KafkaDeliveryReport {
    /// A report from librdkafka's delivery callback message.
    init(message: UnsafePointer<rd_kafka_message_t>, topic: String) {
        let m = message.pointee
        let token = UInt64(UInt(bitPattern: m._private))
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            self.init(token: token, topic: topic, partition: m.partition, offset: m.offset >= 0 ? m.offset : nil, error: nil)
        } else {
            let fatal = m.err == RD_KAFKA_RESP_ERR__FATAL
            let error = KafkaError(code: .init(m.err), message: String(cString: rd_kafka_err2str(m.err)), isFatal: fatal)
            self.init(token: token, topic: topic, partition: m.partition, offset: nil, error: error)
        }
    }
}

/// Delivery reports collected by librdkafka's callback until the caller polls.
private final class DeliveryReportBuffer: @unchecked Sendable {
    private let lock = Lock()
    private var pending: [KafkaDeliveryReport] = []

    func append(_ report: KafkaDeliveryReport) {
        lock.withLock { pending.append(report) }
    }

    func takeAll() -> [KafkaDeliveryReport] {
        lock.withLock {
            guard !pending.isEmpty else { return [] }
            let batch = pending
            pending.removeAll(keepingCapacity: true)
            return batch
        }
    }
}

/// `rd_kafka_topic_t` handles by name (and names by handle, for delivery reports).
private final class TopicHandleCache: @unchecked Sendable {
    private let lock = Lock()
    private var byName: [String: OpaquePointer] = [:]
    private var names: [OpaquePointer: String] = [:]

    func handle(for topic: String, in rk: OpaquePointer) throws -> OpaquePointer {
        try lock.withLock {
            if let rkt = byName[topic] { return rkt }
            guard let rkt = rd_kafka_topic_new(rk, topic, nil) else {
                throw KafkaError(rd_kafka_last_error(), "cannot create topic handle for \(topic)")
            }
            byName[topic] = rkt
            names[rkt] = topic
            return rkt
        }
    }

    func name(of rkt: OpaquePointer) -> String {
        lock.withLock { names[rkt] } ?? String(cString: rd_kafka_topic_name(rkt))
    }

    func destroyAll() {
        lock.withLock {
            for rkt in byName.values { rd_kafka_topic_destroy(rkt) }
            byName.removeAll()
            names.removeAll()
        }
    }
}
