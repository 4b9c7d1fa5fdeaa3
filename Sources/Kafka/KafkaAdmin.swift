import CRdKafka
import Logging

/// Topic administration: create (with configs), describe, list, delete.
///
/// Backed by its own librdkafka client. All methods are thread-safe and block until the broker
/// answers or the timeout passes.
public final class KafkaAdmin: Sendable {
    // MARK: State

    private let client: RdKafkaClient
    private let logger: Logger

    private var handle: OpaquePointer { client.handle }

    // MARK: Init

    /// Creates an admin client.
    public init(configuration: KafkaConfiguration, logger: Logger) throws {
        self.client = try RdKafkaClient(role: .admin, configuration: configuration, context: RdKafkaContext(logger: logger))
        self.logger = logger
    }

    // MARK: Create and delete

    /// Creates topics. With `ignoreExisting`, topics that already exist are not an error (their
    /// partition count and configs are left as they are).
    public func createTopics(_ topics: [KafkaNewTopic], timeout: Duration = .seconds(30), ignoreExisting: Bool = false) throws {
        guard !topics.isEmpty else { return }
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        for topic in topics {
            guard let newTopic = rd_kafka_NewTopic_new(topic.name, topic.partitions, topic.replicationFactor, &errstr, errstr.count) else {
                throw KafkaError(code: .invalidArgument, message: "topic \(topic.name): \(errstr.nulTerminatedString)")
            }
            newTopics.append(newTopic)
            for (key, value) in topic.configs.sorted(by: { $0.key < $1.key }) {
                try KafkaError.check(rd_kafka_NewTopic_set_config(newTopic, key, value), "topic \(topic.name) config \(key)")
            }
        }
        let results = try runAdmin(RD_KAFKA_ADMIN_OP_CREATETOPICS, RD_KAFKA_EVENT_CREATETOPICS_RESULT, timeout: timeout) { options, queue in
            newTopics.withUnsafeMutableBufferPointer { rd_kafka_CreateTopics(handle, $0.baseAddress, $0.count, options, queue) }
        } results: { event in
            var count = 0
            let array = rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &count)
            return Self.topicResults(array, count)
        }
        for result in results {
            guard let error = result.error else { continue }
            if ignoreExisting && error.code == .topicAlreadyExists { continue }
            throw error
        }
        logger.info("created topics", metadata: ["topics": "\(topics.map(\.name))"])
    }

    /// Creates one topic (see ``createTopics(_:timeout:ignoreExisting:)``).
    public func createTopic(
        _ name: String, partitions: Int32, replicationFactor: Int32 = 1, configs: [String: String] = [:],
        timeout: Duration = .seconds(30), ignoreExisting: Bool = false
    ) throws {
        try createTopics(
            [KafkaNewTopic(name: name, partitions: partitions, replicationFactor: replicationFactor, configs: configs)],
            timeout: timeout, ignoreExisting: ignoreExisting)
    }

    /// Deletes topics. With `ignoreMissing`, topics that do not exist are not an error.
    public func deleteTopics(_ names: [String], timeout: Duration = .seconds(30), ignoreMissing: Bool = false) throws {
        guard !names.isEmpty else { return }
        var deletes: [OpaquePointer?] = names.map { rd_kafka_DeleteTopic_new($0) }
        defer { for delete in deletes { rd_kafka_DeleteTopic_destroy(delete) } }
        let results = try runAdmin(RD_KAFKA_ADMIN_OP_DELETETOPICS, RD_KAFKA_EVENT_DELETETOPICS_RESULT, timeout: timeout) { options, queue in
            deletes.withUnsafeMutableBufferPointer { rd_kafka_DeleteTopics(handle, $0.baseAddress, $0.count, options, queue) }
        } results: { event in
            var count = 0
            let array = rd_kafka_DeleteTopics_result_topics(rd_kafka_event_DeleteTopics_result(event), &count)
            return Self.topicResults(array, count)
        }
        for result in results {
            guard let error = result.error else { continue }
            if ignoreMissing && error.code == .unknownTopicOrPartition { continue }
            throw error
        }
        logger.info("deleted topics", metadata: ["topics": "\(names)"])
    }

    // MARK: Describe and list

    /// Names of all topics in the cluster (internal ones such as `__consumer_offsets` excluded).
    public func listTopics(timeout: Duration = .seconds(10)) throws -> [String] {
        try allTopics(timeout: timeout).map(\.name).filter { !$0.hasPrefix("__") }.sorted()
    }

    /// Describes one topic from the cluster metadata. Throws `UNKNOWN_TOPIC_OR_PART` when it does not
    /// exist (the lookup asks for all topics, so it never triggers auto-creation).
    public func describeTopic(_ name: String, timeout: Duration = .seconds(10)) throws -> KafkaTopicDescription {
        guard let topic = try allTopics(timeout: timeout).first(where: { $0.name == name }) else {
            throw KafkaError(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, "topic \(name) does not exist")
        }
        return topic
    }

    /// All topics from one metadata request.
    /// A timeout that an authentication failure explains throws that failure instead.
    private func allTopics(timeout: Duration) throws -> [KafkaTopicDescription] {
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(handle, 1, nil, &metadata, timeout.wholeMilliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            rd_kafka_poll(handle, 0)  // serve the error callback: it records authentication failures
            throw client.explained(KafkaError(err, "metadata: \(String(cString: rd_kafka_err2str(err)))"))
        }
        client.context.brokerAnswered()
        guard let metadata else { return [] }
        defer { rd_kafka_metadata_destroy(metadata) }
        var topics: [KafkaTopicDescription] = []
        for topic in UnsafeBufferPointer(start: metadata.pointee.topics, count: Int(metadata.pointee.topic_cnt)) {
            if topic.err != RD_KAFKA_RESP_ERR_NO_ERROR { continue }
            let partitions = UnsafeBufferPointer(start: topic.partitions, count: Int(topic.partition_cnt)).map { p in
                KafkaTopicDescription.Partition(
                    id: p.id, leader: p.leader,
                    replicas: Array(UnsafeBufferPointer(start: p.replicas, count: Int(p.replica_cnt))),
                    inSyncReplicas: Array(UnsafeBufferPointer(start: p.isrs, count: Int(p.isr_cnt))))
            }
            topics.append(KafkaTopicDescription(name: String(cString: topic.topic), partitions: partitions.sorted { $0.id < $1.id }))
        }
        return topics
    }

    // MARK: Admin request plumbing

    private struct TopicResult {
        var name: String
        var error: KafkaError?
    }

    private static func topicResults(_ array: UnsafeMutablePointer<OpaquePointer?>?, _ count: Int) -> [TopicResult] {
        guard let array else { return [] }
        return UnsafeBufferPointer(start: array, count: count).compactMap { result in
            guard let result else { return nil }
            let name = String(cString: rd_kafka_topic_result_name(result))
            let err = rd_kafka_topic_result_error(result)
            guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return TopicResult(name: name, error: nil) }
            let message = rd_kafka_topic_result_error_string(result).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
            return TopicResult(name: name, error: KafkaError(err, "topic \(name): \(message)"))
        }
    }

    /// Sends one admin request on a private queue and waits for its result event.
    ///
    /// While it waits it serves the client's error callback; an authentication failure reported meanwhile ends the
    /// wait at once with that failure: librdkafka would retry the handshake until the timeout and then report only
    /// "Timed out waiting for controller".
    private func runAdmin<T>(
        _ op: rd_kafka_admin_op_t,
        _ expected: Int32,
        timeout: Duration,
        send: (_ options: OpaquePointer, _ queue: OpaquePointer) -> Void,
        results: (_ event: OpaquePointer) -> T
    ) throws -> T {
        let ms = timeout.wholeMilliseconds
        var errstr = [CChar](repeating: 0, count: 512)
        let options = rd_kafka_AdminOptions_new(handle, op)!
        defer { rd_kafka_AdminOptions_destroy(options) }
        try KafkaError.check(rd_kafka_AdminOptions_set_request_timeout(options, ms, &errstr, errstr.count), "admin request timeout")
        try KafkaError.check(rd_kafka_AdminOptions_set_operation_timeout(options, ms, &errstr, errstr.count), "admin operation timeout")
        let queue = rd_kafka_queue_new(handle)!
        defer { rd_kafka_queue_destroy(queue) }
        send(options, queue)
        // librdkafka enforces the request timeout itself; the margin only guards against a lost event.
        let deadline = ContinuousClock.now + timeout + .seconds(5)
        let failuresBefore = client.context.authenticationFailureCount
        var received: OpaquePointer? = nil
        while received == nil {
            rd_kafka_poll(handle, 0)
            if let failure = client.context.authenticationError(since: failuresBefore) { throw failure }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            received = rd_kafka_queue_poll(queue, min(left, .milliseconds(100)).wholeMilliseconds)
        }
        guard let event = received else {
            throw KafkaError(code: .timedOut, message: "no admin result within \(timeout)")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let message = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
            rd_kafka_poll(handle, 0)
            throw client.explained(KafkaError(err, message))
        }
        client.context.brokerAnswered()
        guard rd_kafka_event_type(event) == expected else {
            throw KafkaError(code: .state, message: "unexpected admin event type \(rd_kafka_event_type(event))")
        }
        return results(event)
    }
}
