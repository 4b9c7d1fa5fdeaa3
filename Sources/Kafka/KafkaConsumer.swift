import CRdKafka
import Logging

/// A Kafka consumer: a consumer-group member (``subscribe(topics:)``) or a reader of explicit
/// partitions (``assign(_:)``), with offsets stored and committed by hand only.
///
/// ```swift
/// let consumer = try KafkaConsumer(configuration: config, logger: logger)
/// try consumer.subscribe(topics: ["events"])
/// while running {
///     try consumer.poll(timeout: .milliseconds(100), onRebalance: { event in
///         if event.kind == .revoked { try checkpoint(event.partitions) }    // before the revoke is acknowledged
///         return .start(at: checkpointOffsets(for: event.partitions))    // ignored for revokes
///     }) { message in
///         pipeline.process(message.value!, partition: message.partition, offset: message.offset)
///     }
/// }
/// try consumer.close()
/// ```
///
/// ## Threading
/// `poll` and `close` are serialized by a lock and must not be called from inside their own handlers
/// (that would deadlock); the handlers run on the polling thread. Every other method is thread-safe in
/// librdkafka and may be called from any thread, including from inside the handlers (e.g. a
/// synchronous ``commit(offsets:synchronous:)`` while a revoke is handled).
public final class KafkaConsumer: @unchecked Sendable {
    // MARK: State

    private let client: RdKafkaClient
    private let rebalance: RebalanceState
    private let logger: Logger
    /// Serializes poll/close; guards `isClosed` and the rebalance handler slot.
    private let pollLock = Lock()
    private var isClosed = false

    private var handle: OpaquePointer { client.handle }

    // MARK: Init

    /// Creates a consumer. `enable.auto.commit` and `enable.auto.offset.store` are off.
    ///
    /// - Parameters:
    ///   - configuration: brokers, group id and options. librdkafka's consumer needs a
    ///     ``KafkaConfiguration/groupID`` even for ``assign(_:)``-only use (no group join happens then).
    ///   - logger: receives librdkafka's log lines and this type's warnings.
    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        guard configuration.groupID != nil || configuration.properties["group.id"] != nil else {
            // librdkafka's high-level consumer has no queue to poll without a group (polls fail with _UNKNOWN_GROUP).
            throw KafkaError(code: .invalidArgument, message: "KafkaConsumer needs a group id (also for assign()-only use)")
        }
        let rebalance = RebalanceState(logger: logger)
        let context = RdKafkaContext(logger: logger)
        context.rebalanceHook = { rk, err, partitions in rebalance.handle(rk, err, partitions) }
        self.client = try RdKafkaClient(role: .consumer, configuration: configuration, context: context)
        self.rebalance = rebalance
        self.logger = logger
        // Route the main queue (rebalances, errors, commit results) to rd_kafka_consumer_poll.
        try KafkaError.check(rd_kafka_poll_set_consumer(client.handle), "rd_kafka_poll_set_consumer")
    }

    deinit {
        let closed = pollLock.withLock { isClosed }
        if !closed && !client.destroyWithoutConsumerClose {
            // Leave the group cleanly (default rebalance handling) before the handle is destroyed.
            let err = rd_kafka_consumer_close(handle)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                logger.warning("consumer close in deinit failed: \(String(cString: rd_kafka_err2str(err)))")
            }
        }
    }

    // MARK: Subscription and assignment

    /// Joins the group (``KafkaConfiguration/groupID``) and subscribes to `topics`. Partitions arrive
    /// through the rebalance handler of a later ``poll(timeout:maxMessages:onRebalance:_:)``.
    public func subscribe(topics: [String]) throws {
        let items = topics.map { KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA) }
        try TopicPartitionList.with(items) { list in
            try KafkaError.check(rd_kafka_subscribe(handle, list), "subscribe to \(topics)")
        }
    }

    /// Leaves the subscription (the group is left at ``close(onRebalance:)``).
    public func unsubscribe() throws {
        try KafkaError.check(rd_kafka_unsubscribe(handle), "unsubscribe")
    }

    /// Reads exactly these partitions, starting at the given offsets (``KafkaOffset/stored`` for the
    /// group's committed offset), without group membership. Replaces the previous assignment.
    public func assign(_ partitions: [KafkaTopicPartitionOffset]) throws {
        try TopicPartitionList.with(partitions) { list in
            try KafkaError.check(rd_kafka_assign(handle, list), "assign \(partitions)")
        }
    }

    /// The partitions currently assigned to this consumer.
    public func assignment() throws -> [KafkaTopicPartition] {
        var list: TopicPartitionList.Pointer?
        try KafkaError.check(rd_kafka_assignment(handle, &list), "assignment")
        guard let list else { return [] }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return TopicPartitionList.partitions(list)
    }

    /// The rebalance protocol the group uses now.
    public var rebalanceProtocol: KafkaRebalanceProtocol {
        KafkaRebalanceProtocol(rawValue: client.rebalanceProtocol) ?? .none
    }

    /// This member's id in the group, nil before the first join.
    public var memberID: String? {
        guard let raw = rd_kafka_memberid(handle) else { return nil }
        defer { rd_kafka_mem_free(handle, raw) }
        let id = String(cString: raw)
        return id.isEmpty ? nil : id
    }

    // MARK: Polling

    /// Waits up to `timeout` for the first message, then takes whatever else is already fetched, up to
    /// `maxMessages`, handing each to `body` as a borrowed view (valid only during the call).
    ///
    /// Rebalances that happen meanwhile call `onRebalance` on this thread before librdkafka applies them:
    /// for a revoke, checkpoint/commit there; for an assign, return start offsets. If `onRebalance`
    /// throws, the rebalance is still acknowledged (newly assigned partitions are then paused) and
    /// the error is rethrown from `poll`. Non-fatal consumer errors are logged; fatal ones are thrown.
    /// If `body` throws, polling stops and the error propagates; the position is already past that
    /// message, so seek back to its offset to read it again.
    ///
    /// - Returns: the number of messages handed to `body`.
    @discardableResult
    public func poll(
        timeout: Duration,
        maxMessages: Int = 1024,
        onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse = { _ in .proceed },
        _ body: (KafkaMessageView) throws -> Void
    ) throws -> Int {
        try pollLock.withLock {
            guard !isClosed else { throw KafkaError(code: .state, message: "poll on a closed consumer") }
            return try withoutActuallyEscaping(onRebalance) { handler in
                rebalance.handler = handler
                defer { rebalance.handler = nil }
                var count = 0
                var waitMs = timeout.wholeMilliseconds
                // A handler error is thrown after the message already in hand is delivered: librdkafka has
                // moved the position past it, so dropping it here would skip it for good.
                while count < maxMessages, !rebalance.hasPendingError, let message = rd_kafka_consumer_poll(handle, waitMs) {
                    waitMs = 0
                    defer { rd_kafka_message_destroy(message) }
                    if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                        try handleMessageError(message)
                        continue
                    }
                    try body(KafkaMessageView(message))
                    count += 1
                }
                try rebalance.throwPendingError()
                return count
            }
        }
    }

    /// Like ``poll(timeout:maxMessages:onRebalance:_:)`` but returns owned copies of the messages.
    public func poll(
        timeout: Duration,
        maxMessages: Int = 1024,
        onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse = { _ in .proceed }
    ) throws -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        try poll(timeout: timeout, maxMessages: maxMessages, onRebalance: onRebalance) { messages.append($0.copy()) }
        return messages
    }

    private func handleMessageError(_ message: UnsafeMutablePointer<rd_kafka_message_t>) throws {
        let err = message.pointee.err
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        var errstr = [CChar](repeating: 0, count: 512)
        let fatal = rd_kafka_fatal_error(handle, &errstr, errstr.count)
        if fatal != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(code: .init(fatal), message: errstr.nulTerminatedString, isFatal: true)
        }
        var metadata: Logger.Metadata = ["code": "\(String(cString: rd_kafka_err2name(err)))"]
        if let rkt = message.pointee.rkt {
            metadata["partition"] = "\(String(cString: rd_kafka_topic_name(rkt)))[\(message.pointee.partition)]"
        }
        logger.warning("consumer error: \(String(cString: rd_kafka_err2str(err)))", metadata: metadata)
    }

    // MARK: Offsets

    /// Stores offsets (next offset to read) for a later ``commitStored(synchronous:)``.
    /// The partitions must be assigned.
    public func store(offsets: [KafkaTopicPartitionOffset]) throws {
        guard !offsets.isEmpty else { return }
        try TopicPartitionList.with(offsets) { list in
            try KafkaError.check(rd_kafka_offsets_store(handle, list), "store offsets")
            try TopicPartitionList.checkPartitionErrors(list, "store offset")
        }
    }

    /// Commits the given offsets (next offset to read, i.e. last processed + 1) for the group.
    /// Synchronous commits wait for the broker and throw on failure; asynchronous ones report
    /// failures to the logger during a later poll.
    public func commit(offsets: [KafkaTopicPartitionOffset], synchronous: Bool = true) throws {
        guard !offsets.isEmpty else { return }
        try TopicPartitionList.with(offsets) { list in
            try KafkaError.check(rd_kafka_commit(handle, list, synchronous ? 0 : 1), "commit \(offsets)")
        }
    }

    /// Commits the offsets stored with ``store(offsets:)``. Nothing stored is not an error.
    public func commitStored(synchronous: Bool = true) throws {
        let err = rd_kafka_commit(handle, nil, synchronous ? 0 : 1)
        if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }
        try KafkaError.check(err, "commit stored offsets")
    }

    /// The group's committed offsets for `partitions` (``KafkaOffset/invalid`` where none), from the broker.
    public func committed(_ partitions: [KafkaTopicPartition], timeout: Duration = .seconds(10)) throws -> [KafkaTopicPartitionOffset] {
        try TopicPartitionList.with(partitions) { list in
            try checkBrokerAnswer(rd_kafka_committed(handle, list, timeout.wholeMilliseconds), "committed offsets")
            try TopicPartitionList.checkPartitionErrors(list, "committed offset")
            return TopicPartitionList.offsets(list)
        }
    }

    /// The consumer's positions (next offset it will hand out) for `partitions`, ``KafkaOffset/invalid``
    /// where it has not fetched yet. Local, no network.
    public func position(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartitionOffset] {
        try TopicPartitionList.with(partitions) { list in
            try KafkaError.check(rd_kafka_position(handle, list), "position")
            return TopicPartitionList.offsets(list)
        }
    }

    // MARK: Flow control

    /// Stops fetching from `partitions` (they stay assigned; positions are kept).
    public func pause(_ partitions: [KafkaTopicPartition]) throws {
        try TopicPartitionList.with(partitions) { list in
            try KafkaError.check(rd_kafka_pause_partitions(handle, list), "pause")
            try TopicPartitionList.checkPartitionErrors(list, "pause")
        }
    }

    /// Resumes fetching from paused `partitions`.
    public func resume(_ partitions: [KafkaTopicPartition]) throws {
        try TopicPartitionList.with(partitions) { list in
            try KafkaError.check(rd_kafka_resume_partitions(handle, list), "resume")
            try TopicPartitionList.checkPartitionErrors(list, "resume")
        }
    }

    /// Moves the fetch positions of assigned partitions; the next poll returns messages from there.
    public func seek(_ offsets: [KafkaTopicPartitionOffset], timeout: Duration = .seconds(10)) throws {
        try TopicPartitionList.with(offsets) { list in
            try KafkaError.check(rd_kafka_seek_partitions(handle, list, timeout.wholeMilliseconds))
            try TopicPartitionList.checkPartitionErrors(list, "seek")
        }
    }

    /// For each partition, the earliest offset whose timestamp is ≥ the given time (ms since the epoch);
    /// ``KafkaOffset/end`` where no such message exists (ListOffsets by timestamp).
    public func offsets(forTimes times: [KafkaTopicPartition: Int64], timeout: Duration = .seconds(10)) throws -> [KafkaTopicPartitionOffset] {
        let query = times.map { KafkaTopicPartitionOffset($0.key, offset: KafkaOffset($0.value)) }
        return try TopicPartitionList.with(query) { list in
            try checkBrokerAnswer(rd_kafka_offsets_for_times(handle, list, timeout.wholeMilliseconds), "offsets for times")
            try TopicPartitionList.checkPartitionErrors(list, "offsets for times")
            return TopicPartitionList.offsets(list)
        }
    }

    /// Throws for a failed broker request; a timeout that a recorded authentication failure explains throws that
    /// failure instead (recorded when the consumer was polled: its error callback is served by the poll).
    private func checkBrokerAnswer(_ err: rd_kafka_resp_err_t, _ what: @autoclosure () -> String) throws {
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else {
            client.context.brokerAnswered()
            return
        }
        throw client.explained(KafkaError(err, "\(what()): \(String(cString: rd_kafka_err2str(err)))"))
    }

    // MARK: Watermarks and lag

    /// The low and high watermarks of a partition, asked from the broker (ListOffsets).
    ///
    /// Tansu 0.6 answers the high watermark with the *base offset of the last batch* + 1, so this
    /// undercounts there whenever producers batch; ``cachedWatermarks(for:)`` is right on Tansu too.
    public func watermarks(for partition: KafkaTopicPartition, timeout: Duration = .seconds(10)) throws -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        try checkBrokerAnswer(
            rd_kafka_query_watermark_offsets(handle, partition.topic, partition.partition, &low, &high, timeout.wholeMilliseconds),
            "watermarks of \(partition)")
        return (low, high)
    }

    /// The watermarks last reported by a fetch response for `partition` (no network), nil when this
    /// consumer has not fetched from it yet.
    public func cachedWatermarks(for partition: KafkaTopicPartition) -> (low: Int64, high: Int64)? {
        var low: Int64 = 0
        var high: Int64 = 0
        let err = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// Lag of each partition in `partitions` (default: the current assignment): high watermark − position.
    /// The high watermark comes from the latest fetch response when there is one (no network, and right
    /// on Tansu), else from ``watermarks(for:timeout:)``.
    public func lag(for partitions: [KafkaTopicPartition]? = nil, timeout: Duration = .seconds(10)) throws -> [KafkaPartitionLag] {
        let targets = try partitions ?? assignment()
        let positions = try position(targets)
        return try positions.map { item in
            let marks = try cachedWatermarks(for: item.topicPartition) ?? watermarks(for: item.topicPartition, timeout: timeout)
            return KafkaPartitionLag(
                topicPartition: item.topicPartition, lowWatermark: marks.low, highWatermark: marks.high,
                position: item.offset.value)
        }
    }

    // MARK: Close

    /// Gives the consumer up without leaving the group or committing: nothing waits for the broker when it is
    /// released (the group notices the member's absence after its session timeout). For a shutdown that must end
    /// in bounded time while the broker does not answer. Call it from the polling thread, not inside a handler.
    public func abandon() {
        pollLock.withLock {
            isClosed = true
            client.destroyWithoutConsumerClose = true
        }
    }

    /// Leaves the group: revokes the assignment (calling `onRebalance` first, e.g. for a final
    /// checkpoint and commit) and stops fetching. Later polls throw. Calling it twice is harmless.
    public func close(onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse = { _ in .proceed }) throws {
        try pollLock.withLock {
            guard !isClosed else { return }
            try withoutActuallyEscaping(onRebalance) { handler in
                rebalance.handler = handler
                defer { rebalance.handler = nil }
                let err = rd_kafka_consumer_close(handle)
                isClosed = true
                try KafkaError.check(err, "close consumer")
                try rebalance.throwPendingError()
            }
        }
    }
}

// MARK: - Rebalance state

/// Applies rebalances for a ``KafkaConsumer``. Only touched on the thread that holds the consumer's
/// poll lock: librdkafka calls the rebalance callback from `rd_kafka_consumer_poll`/`_close` only.
private final class RebalanceState: @unchecked Sendable {
    var handler: ((KafkaRebalanceEvent) throws -> KafkaRebalanceResponse)?
    private var pendingError: (any Error)?
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    var hasPendingError: Bool { pendingError != nil }

    func throwPendingError() throws {
        if let error = pendingError {
            pendingError = nil
            throw error
        }
    }

    private func record(_ error: any Error) {
        logger.error("rebalance: \(error)")
        if pendingError == nil { pendingError = error }
    }

    func handle(_ rk: OpaquePointer, _ err: rd_kafka_resp_err_t, _ list: TopicPartitionList.Pointer) {
        let protocolName = rd_kafka_rebalance_protocol(rk).map { String(cString: $0) } ?? "NONE"
        let proto = KafkaRebalanceProtocol(rawValue: protocolName) ?? .eager
        let cooperative = proto == .cooperative
        let partitions = TopicPartitionList.partitions(list)

        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let event = KafkaRebalanceEvent(kind: .assigned, partitions: partitions, rebalanceProtocol: proto, isAssignmentLost: false)
            logger.info("partitions assigned", metadata: ["partitions": "\(partitions)", "protocol": "\(protocolName)"])
            var response = KafkaRebalanceResponse.proceed
            var failed = false
            do {
                if let handler { response = try handler(event) }
            } catch {
                failed = true
                record(error)
            }
            applyStartOffsets(response, to: list)
            if cooperative {
                if let error = rd_kafka_incremental_assign(rk, list) { record(KafkaError(consuming: error)) }
            } else {
                let result = rd_kafka_assign(rk, list)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR { record(KafkaError(result, "assign")) }
            }
            if failed {
                // The handler could not decide where to start: hold the partitions until the caller reacts.
                let result = rd_kafka_pause_partitions(rk, list)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR { record(KafkaError(result, "pause after failed assign")) }
            }

        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(rk) != 0
            let event = KafkaRebalanceEvent(kind: .revoked, partitions: partitions, rebalanceProtocol: proto, isAssignmentLost: lost)
            logger.info("partitions revoked", metadata: ["partitions": "\(partitions)", "protocol": "\(protocolName)", "lost": "\(lost)"])
            do {
                if let handler { _ = try handler(event) }
            } catch {
                record(error)
            }
            if cooperative {
                if let error = rd_kafka_incremental_unassign(rk, list) { record(KafkaError(consuming: error)) }
            } else {
                let result = rd_kafka_assign(rk, nil)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR { record(KafkaError(result, "unassign")) }
            }

        default:
            record(KafkaError(err, "rebalance failed: \(String(cString: rd_kafka_err2str(err)))"))
            _ = rd_kafka_assign(rk, nil)
        }
    }

    private func applyStartOffsets(_ response: KafkaRebalanceResponse, to list: TopicPartitionList.Pointer) {
        guard !response.startOffsets.isEmpty else { return }
        var unused = response.startOffsets
        for index in TopicPartitionList.elements(list).indices {
            let element = list.pointee.elems[index]
            let key = KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
            if let offset = unused.removeValue(forKey: key) {
                list.pointee.elems[index].offset = offset.rawValue
            }
        }
        if !unused.isEmpty {
            logger.warning("start offsets for partitions not in this assignment were ignored", metadata: ["partitions": "\(unused.keys.sorted { $0.description < $1.description })"])
        }
    }
}
