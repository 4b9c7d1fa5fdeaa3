/// Configuration shared by ``KafkaConsumer``, ``KafkaProducer`` and ``KafkaAdmin``.
///
/// A handful of typed options cover what Feedloop sets itself; ``properties`` passes any other
/// librdkafka property through unchanged (SASL, SSL, `statistics.interval.ms`, …).
/// Effective properties are applied in this order, later ones winning:
/// 1. role defaults (consumer: manual offset store and commit; producer: idempotence, `acks=all`),
/// 2. the typed options below,
/// 3. ``properties``.
///
/// ``description`` never shows secrets: values of keys containing `password`, `secret`, `sasl.` or
/// `ssl.key` are replaced by `<redacted>`.
public struct KafkaConfiguration: Sendable, CustomStringConvertible {
    // MARK: Nested types

    /// What a consumer does when its group has no committed offset for a partition.
    public enum AutoOffsetReset: String, Sendable {
        /// Start from the oldest message.
        case earliest
        /// Start from the next new message.
        case latest
        /// Fail the partition with an error.
        case error
    }

    /// How a group assigns partitions (`partition.assignment.strategy`).
    public enum AssignmentStrategy: String, Sendable {
        /// Eager: ranges of partitions per topic (Kafka's default).
        case range
        /// Eager: round-robin over all partitions.
        case roundRobin = "roundrobin"
        /// Cooperative (incremental) rebalancing: only moved partitions are revoked.
        case cooperativeSticky = "cooperative-sticky"
    }

    // MARK: Typed options

    /// `bootstrap.servers`: `host:port` pairs.
    public var bootstrapServers: [String]
    /// `client.id`.
    public var clientID: String
    /// `group.id`: needed to subscribe and to commit offsets.
    public var groupID: String?
    /// `auto.offset.reset` (consumer).
    public var autoOffsetReset: AutoOffsetReset
    /// `session.timeout.ms` (consumer). Also how long a group join waits on Tansu (about half of it).
    public var sessionTimeout: Duration?
    /// `partition.assignment.strategy` (consumer); librdkafka's default when nil.
    public var assignmentStrategy: AssignmentStrategy?
    /// `linger.ms` (producer): how long to wait to fill a batch.
    public var linger: Duration
    /// `enable.idempotence` (producer). With it librdkafka also enforces `acks=all` and ordering.
    public var idempotentProducer: Bool
    /// `message.timeout.ms` (producer): how long a message may wait for delivery before it fails.
    public var deliveryTimeout: Duration?
    /// How long ``KafkaProducer/send(topic:key:value:headers:partition:token:)`` keeps polling and
    /// retrying while the local queue is full before it throws `_QUEUE_FULL`.
    public var enqueueTimeout: Duration
    /// Any librdkafka property, applied last (see the type's documentation).
    public var properties: [String: String]

    // MARK: Init

    /// Creates a configuration.
    public init(
        bootstrapServers: [String],
        clientID: String = "feedloop",
        groupID: String? = nil,
        autoOffsetReset: AutoOffsetReset = .earliest,
        sessionTimeout: Duration? = nil,
        assignmentStrategy: AssignmentStrategy? = nil,
        linger: Duration = .milliseconds(5),
        idempotentProducer: Bool = true,
        deliveryTimeout: Duration? = nil,
        enqueueTimeout: Duration = .seconds(30),
        properties: [String: String] = [:]
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.groupID = groupID
        self.autoOffsetReset = autoOffsetReset
        self.sessionTimeout = sessionTimeout
        self.assignmentStrategy = assignmentStrategy
        self.linger = linger
        self.idempotentProducer = idempotentProducer
        self.deliveryTimeout = deliveryTimeout
        self.enqueueTimeout = enqueueTimeout
        self.properties = properties
    }

    /// Creates a configuration from a comma-separated `host:port` list, e.g. `FEEDLOOP_BROKERS`.
    public init(brokers: String, clientID: String = "feedloop", groupID: String? = nil) {
        let servers = brokers.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
        self.init(bootstrapServers: servers, clientID: clientID, groupID: groupID)
    }

    // MARK: Effective properties

    /// The client role, which decides the defaults.
    enum Role: String {
        case consumer, producer, admin
    }

    /// The librdkafka properties for `role`, in application order.
    func librdkafkaProperties(for role: Role) -> [(key: String, value: String)] {
        var result: [(key: String, value: String)] = [
            ("bootstrap.servers", bootstrapServers.joined(separator: ",")),
            ("client.id", clientID),
        ]
        switch role {
        case .consumer:
            result += [
                ("enable.auto.commit", "false"),
                ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "false"),
                ("auto.offset.reset", autoOffsetReset.rawValue),
            ]
            if let groupID { result.append(("group.id", groupID)) }
            if let sessionTimeout { result.append(("session.timeout.ms", String(sessionTimeout.wholeMilliseconds))) }
            if let assignmentStrategy { result.append(("partition.assignment.strategy", assignmentStrategy.rawValue)) }
            // Once the prefetch queue holds queued.min.messages, librdkafka stops fetching and by default waits 1 s
            // before the next fetch; a consumer that drains those messages faster than that then sits idle. 10 ms
            // keeps the same queue bounds, so the same memory (the worker's drain before and after:
            // docs/benchmarks.md, "Settings chosen by measurement"). The property exists from librdkafka 2.2.0 on;
            // older versions reject it.
            if KafkaRuntime.runtimeVersion >= KafkaRuntime.minimumVersionForFetchQueueBackoff {
                result.append(("fetch.queue.backoff.ms", "10"))
            }
        case .producer:
            result += [
                ("enable.idempotence", idempotentProducer ? "true" : "false"),
                ("linger.ms", String(linger.wholeMilliseconds)),
            ]
            if idempotentProducer { result.append(("acks", "all")) }
            if let deliveryTimeout { result.append(("message.timeout.ms", String(deliveryTimeout.wholeMilliseconds))) }
        case .admin:
            break
        }
        result += properties.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        return result
    }

    // MARK: Redaction

    /// True for property names whose values must never be logged.
    public static func isSecret(_ key: String) -> Bool {
        let lower = key.lowercased()
        return ["password", "secret", "sasl.", "ssl.key"].contains { lower.contains($0) }
    }

    /// The configuration with secret values replaced by `<redacted>`.
    public var description: String {
        var parts = [
            "bootstrapServers: \(bootstrapServers)", "clientID: \(clientID)",
            "groupID: \(groupID ?? "nil")", "autoOffsetReset: \(autoOffsetReset.rawValue)",
        ]
        if let sessionTimeout { parts.append("sessionTimeout: \(sessionTimeout)") }
        if let assignmentStrategy { parts.append("assignmentStrategy: \(assignmentStrategy.rawValue)") }
        parts.append("linger: \(linger)")
        parts.append("idempotentProducer: \(idempotentProducer)")
        if let deliveryTimeout { parts.append("deliveryTimeout: \(deliveryTimeout)") }
        let props = properties.keys.sorted().map { key in
            "\(key)=\(Self.isSecret(key) ? "<redacted>" : properties[key]!)"
        }
        parts.append("properties: [\(props.joined(separator: ", "))]")
        return "KafkaConfiguration(\(parts.joined(separator: ", ")))"
    }
}

// MARK: - Helpers

extension Duration {
    /// Whole milliseconds, rounded down, clamped to `Int32` (librdkafka's timeout type).
    var wholeMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let ms = seconds.multipliedReportingOverflow(by: 1000)
        guard !ms.overflow else { return seconds < 0 ? Int32.min : Int32.max }
        return Int32(clamping: ms.partialValue + attoseconds / 1_000_000_000_000_000)
    }
}

extension Substring {
    /// The substring without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }), let end = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[start...end])
    }
}
