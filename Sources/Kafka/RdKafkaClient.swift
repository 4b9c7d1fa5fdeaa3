import CRdKafka
import Logging

// MARK: - Callback context

/// What librdkafka's C callbacks reach through the configuration's opaque pointer.
///
/// The hooks, ``securitySummary`` and ``secretValues`` are set before `rd_kafka_new` and never changed afterwards,
/// so reading them from librdkafka's threads needs no lock; the authentication failure record has its own lock.
final class RdKafkaContext: @unchecked Sendable {
    let logger: Logger
    /// Rebalance (consumer only), called on the thread that polls or closes the consumer.
    var rebalanceHook: ((OpaquePointer, rd_kafka_resp_err_t, TopicPartitionList.Pointer) -> Void)?
    /// Delivery report (producer only), called on the thread that polls or flushes the producer.
    var deliveryHook: ((UnsafePointer<rd_kafka_message_t>) -> Void)?
    /// `security.protocol=…` and, for SASL, `sasl.mechanism=…` of the client: what an authentication error shows
    /// of the configuration (never a username or password).
    var securitySummary = "security.protocol=plaintext"
    /// Values of the client's credential properties (``RdKafkaClient/isCredential(_:)``, 6 bytes or longer),
    /// replaced by `<redacted>` in every librdkafka message before it is logged or thrown, in case librdkafka ever
    /// quotes one.
    var secretValues: [String] = []

    /// The latest authentication failure a broker reported, until a later broker answer clears it.
    struct AuthenticationFailure: Sendable {
        var code: KafkaError.Code
        /// librdkafka's reason, secrets redacted; starts with the broker, e.g. `sasl_ssl://host:9093/1: SASL …`.
        var reason: String
    }

    private let lock = Lock()
    private var failure: AuthenticationFailure?
    private var failureCount = 0
    private var loggedReasons: Set<String> = []

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RdKafkaContext? {
        opaque.map { Unmanaged<RdKafkaContext>.fromOpaque($0).takeUnretainedValue() }
    }

    /// `text` with every secret value replaced by `<redacted>`.
    func redact(_ text: String) -> String {
        var result = text
        for secret in secretValues where result.contains(secret) {
            result = result.replacing(secret, with: "<redacted>")
        }
        return result
    }

    /// Records an authentication failure; true when this reason was not recorded before (log it as an error once,
    /// repeats of each reconnect attempt at debug level).
    func recordAuthenticationFailure(code: KafkaError.Code, reason: String) -> Bool {
        lock.withLock {
            failure = AuthenticationFailure(code: code, reason: reason)
            failureCount += 1
            // librdkafka ends the reason with the attempt's timing ("(after 1ms in state AUTH_REQ)"): not part of
            // what makes two failures the same.
            let timing = reason.firstRange(of: " (after ")?.lowerBound ?? reason.endIndex
            return loggedReasons.insert(String(reason[..<timing])).inserted
        }
    }

    /// How many authentication failures were recorded so far: an operation notes it when it starts and, with
    /// ``authenticationError(since:)``, ends its wait only for failures reported while it waited.
    var authenticationFailureCount: Int { lock.withLock { failureCount } }

    /// The latest authentication failure as an error if one was recorded after the count was `count`.
    func authenticationError(since count: Int) -> KafkaError? {
        authenticationFailureCount > count ? authenticationError : nil
    }

    /// The authentication failure recorded since the last broker answer, if any.
    var authenticationFailure: AuthenticationFailure? { lock.withLock { failure } }

    /// A broker answered a request: an earlier authentication failure no longer explains anything.
    func brokerAnswered() {
        lock.withLock { failure = nil }
    }

    /// The recorded authentication failure as the error an operation throws instead of its timeout:
    /// `authentication failed (security.protocol=…, sasl.mechanism=…): <librdkafka's reason>`.
    var authenticationError: KafkaError? {
        authenticationFailure.map { KafkaError(code: $0.code, message: "authentication failed (\(securitySummary)): \($0.reason)") }
    }

    /// `error`, or the recorded authentication failure when `error` is what such a failure looks like from the
    /// caller's side: a timeout, a transport failure, no broker up.
    func explained(_ error: KafkaError) -> KafkaError {
        let symptoms: Set<KafkaError.Code> = [.timedOut, .transport, .allBrokersDown, .messageTimedOut]
        guard symptoms.contains(error.code) || error.isAuthenticationFailure, let auth = authenticationError else { return error }
        return auth
    }

    /// The broker part of a librdkafka error reason (`sasl_plaintext://127.0.0.1:9092/bootstrap`), if it has one.
    static func broker(inReason reason: String) -> String? {
        guard let separator = reason.firstRange(of: ": "), reason[..<separator.lowerBound].contains("://") else { return nil }
        return String(reason[..<separator.lowerBound])
    }
}

// MARK: - Client

/// Owns one `rd_kafka_t` and its callback context; destroys the handle on deinit.
final class RdKafkaClient: @unchecked Sendable {
    /// The `rd_kafka_t *`. librdkafka's API is thread-safe on it unless documented otherwise.
    let handle: OpaquePointer
    let context: RdKafkaContext
    let logger: Logger

    /// Creates a librdkafka client of `role` from `configuration`; secrets never reach the log.
    init(
        role: KafkaConfiguration.Role,
        configuration: KafkaConfiguration,
        context: RdKafkaContext
    ) throws {
        self.context = context
        self.logger = context.logger
        let conf = rd_kafka_conf_new()!
        var confOwned = true
        defer { if confOwned { rd_kafka_conf_destroy(conf) } }

        var properties = configuration.librdkafkaProperties(for: role)
        if !configuration.properties.keys.contains("log_level") {
            properties.insert(("log_level", String(Self.syslogLevel(for: context.logger.logLevel))), at: 0)
        }
        for (key, value) in properties {
            try Self.set(conf, key, value)
        }
        let effective = Dictionary(properties.map { ($0.key, $0.value) }) { _, later in later }
        context.securitySummary = Self.securitySummary(effective)
        context.secretValues = effective
            .filter { Self.isCredential($0.key) && $0.value.utf8.count >= 6 }
            .map(\.value).sorted { $0.utf8.count > $1.utf8.count }

        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque())
        rd_kafka_conf_set_log_cb(conf, rdKafkaLogCallback)
        rd_kafka_conf_set_error_cb(conf, rdKafkaErrorCallback)
        if context.rebalanceHook != nil {
            rd_kafka_conf_set_rebalance_cb(conf, rdKafkaRebalanceCallback)
            rd_kafka_conf_set_offset_commit_cb(conf, rdKafkaOffsetCommitCallback)
        }
        if context.deliveryHook != nil {
            rd_kafka_conf_set_dr_msg_cb(conf, rdKafkaDeliveryCallback)
        }

        let type = role == .consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER
        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            throw KafkaError(code: .invalidArgument, message: "rd_kafka_new failed: \(errstr.nulTerminatedString)")
        }
        confOwned = false  // rd_kafka_new took it
        self.handle = handle

        if KafkaRuntime.runtimeVersion < KafkaRuntime.minimumVersionForTaggedFields {
            logger.warning(
                "librdkafka runtime is older than 2.1.2 and mis-parses tagged fields (fails against Tansu); put a newer one on LD_LIBRARY_PATH (scripts/broker env)",
                metadata: ["librdkafka": "\(KafkaRuntime.version)"])
        }
        logger.debug(
            "created librdkafka \(role.rawValue)",
            metadata: ["name": "\(String(cString: rd_kafka_name(handle)))", "config": "\(configuration)"])
    }

    /// Set when the owner gives the client up without closing it (a consumer that must not wait to leave its
    /// group, e.g. when the broker is unreachable at a bounded shutdown): deinit then skips the consumer close.
    var destroyWithoutConsumerClose = false

    deinit {
        if destroyWithoutConsumerClose {
            rd_kafka_destroy_flags(handle, Int32(RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE))
        } else {
            rd_kafka_destroy(handle)
        }
    }

    // MARK: Helpers

    private static func set(_ conf: OpaquePointer, _ key: String, _ value: String) throws {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
        guard result == RD_KAFKA_CONF_OK else {
            // librdkafka's message may quote the value: keep secrets out of errors (and so out of logs).
            let detail = KafkaConfiguration.isSecret(key) ? "invalid value for \(key)" : errstr.nulTerminatedString
            throw KafkaError(code: .invalidArgument, message: "configuration property \(key): \(detail)")
        }
    }

    /// `security.protocol=…` and, for the SASL protocols, `sasl.mechanism=…` (librdkafka's defaults when unset).
    static func securitySummary(_ properties: [String: String]) -> String {
        let securityProtocol = properties["security.protocol"] ?? "plaintext"
        var summary = "security.protocol=\(securityProtocol)"
        if securityProtocol.lowercased().hasPrefix("sasl") {
            summary += ", sasl.mechanism=\(properties["sasl.mechanism"] ?? properties["sasl.mechanisms"] ?? "GSSAPI")"
        }
        return summary
    }

    /// Properties whose values are credentials (passwords, secrets, private keys, the SASL username, JAAS/OAUTHBEARER
    /// config strings), scrubbed from librdkafka's messages. Narrower than ``KafkaConfiguration/isSecret(_:)``, which
    /// also hides settings such as `sasl.mechanism` in configuration dumps: scrubbing `PLAIN` or `default` from
    /// every message would garble them.
    static func isCredential(_ key: String) -> Bool {
        let lower = key.lowercased()
        return ["password", "secret", "ssl.key"].contains { lower.contains($0) } || lower == "sasl.username" || (lower.hasPrefix("sasl.") && lower.hasSuffix(".config"))
    }

    /// `error`, or the authentication failure that explains it (see ``RdKafkaContext/explained(_:)``).
    func explained(_ error: KafkaError) -> KafkaError { context.explained(error) }

    /// swift-log level → librdkafka's syslog `log_level`, so librdkafka does not format lines we drop.
    static func syslogLevel(for level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func loggerLevel(forSyslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: .critical
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    }

    /// The rebalance protocol in use: "EAGER", "COOPERATIVE" or "NONE".
    var rebalanceProtocol: String {
        rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } ?? "NONE"
    }
}

// MARK: - C callbacks

private let rdKafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, line in
    guard let rk, let context = RdKafkaContext.from(rd_kafka_opaque(rk)) else { return }
    let loggerLevel = RdKafkaClient.loggerLevel(forSyslog: level)
    guard context.logger.logLevel <= loggerLevel else { return }
    context.logger.log(
        level: loggerLevel,
        "\(context.redact(line.map { String(cString: $0) } ?? ""))",
        metadata: ["librdkafka": "\(facility.map { String(cString: $0) } ?? "")"])
}

/// Served by `rd_kafka_poll` (producer, admin) or `rd_kafka_consumer_poll` (consumer). An authentication failure is
/// recorded in the context (start-up operations then throw it instead of timing out) and logged as an error naming
/// the broker and the SASL mechanism, once per distinct reason (librdkafka reports it again on every reconnect).
private let rdKafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, reason, opaque in
    guard let context = RdKafkaContext.from(opaque) else { return }
    let code = rd_kafka_resp_err_t(rawValue: err)
    let text = context.redact(reason.map { String(cString: $0) } ?? "")
    let name = String(cString: rd_kafka_err2name(code))
    if KafkaError.Code.authenticationFailures.contains(KafkaError.Code(rawValue: err)) {
        let first = context.recordAuthenticationFailure(code: KafkaError.Code(rawValue: err), reason: text)
        context.logger.log(
            level: first ? .error : .debug,
            "authentication failed (\(context.securitySummary)): \(text)",
            metadata: ["code": "\(name)", "broker": "\(RdKafkaContext.broker(inReason: text) ?? "?")"])
        return
    }
    let isFatal = code == RD_KAFKA_RESP_ERR__FATAL
    context.logger.log(
        level: isFatal ? .critical : .warning,
        "librdkafka error: \(text)",
        metadata: ["code": "\(name)"])
}

private let rdKafkaRebalanceCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, TopicPartitionList.Pointer?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, partitions, opaque in
    guard let rk, let partitions, let context = RdKafkaContext.from(opaque), let hook = context.rebalanceHook else { return }
    hook(rk, err, partitions)
}

private let rdKafkaOffsetCommitCallback: @convention(c) (OpaquePointer?, rd_kafka_resp_err_t, TopicPartitionList.Pointer?, UnsafeMutableRawPointer?) -> Void = {
    _, err, offsets, opaque in
    guard let context = RdKafkaContext.from(opaque) else { return }
    if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__NO_OFFSET {
        context.logger.warning("offset commit failed: \(String(cString: rd_kafka_err2str(err)))")
    } else if let offsets {
        for element in TopicPartitionList.elements(offsets) where element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            context.logger.warning(
                "offset commit failed for \(String(cString: element.topic))[\(element.partition)]: \(String(cString: rd_kafka_err2str(element.err)))")
        }
    }
}

private let rdKafkaDeliveryCallback: @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
    _, message, opaque in
    guard let message, let context = RdKafkaContext.from(opaque), let hook = context.deliveryHook else { return }
    hook(message)
}
