import CRdKafka
import Logging

// MARK: - Callback context

/// What librdkafka's C callbacks reach through the configuration's opaque pointer.
///
/// The hooks are set before `rd_kafka_new` and never changed afterwards, so reading them from
/// librdkafka's threads needs no lock; whatever mutable state a hook touches protects itself.
final class RdKafkaContext: @unchecked Sendable {
    let logger: Logger
    /// Rebalance (consumer only), called on the thread that polls or closes the consumer.
    var rebalanceHook: ((OpaquePointer, rd_kafka_resp_err_t, TopicPartitionList.Pointer) -> Void)?
    /// Delivery report (producer only), called on the thread that polls or flushes the producer.
    var deliveryHook: ((UnsafePointer<rd_kafka_message_t>) -> Void)?

    init(logger: Logger) {
        self.logger = logger
    }

    static func from(_ opaque: UnsafeMutableRawPointer?) -> RdKafkaContext? {
        opaque.map { Unmanaged<RdKafkaContext>.fromOpaque($0).takeUnretainedValue() }
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
    context.logger.log(
        level: RdKafkaClient.loggerLevel(forSyslog: level),
        "\(line.map { String(cString: $0) } ?? "")",
        metadata: ["librdkafka": "\(facility.map { String(cString: $0) } ?? "")"])
}

private let rdKafkaErrorCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = {
    rk, err, reason, opaque in
    guard let context = RdKafkaContext.from(opaque) else { return }
    let code = rd_kafka_resp_err_t(rawValue: err)
    let isFatal = code == RD_KAFKA_RESP_ERR__FATAL
    context.logger.log(
        level: isFatal ? .critical : .warning,
        "librdkafka error: \(reason.map { String(cString: $0) } ?? "")",
        metadata: ["code": "\(String(cString: rd_kafka_err2name(code)))"])
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
