import CRdKafka

/// An error reported by librdkafka (or by this wrapper), with librdkafka's code and message.
///
/// Codes ≥ 0 come from the Kafka protocol (e.g. `UNKNOWN_TOPIC_OR_PART` = 3); negative codes are
/// librdkafka-local (e.g. `_QUEUE_FULL` = -184). ``name`` is librdkafka's symbolic name.
public struct KafkaError: Error, Sendable, Equatable, CustomStringConvertible {
    // MARK: Code

    /// A librdkafka error code (`rd_kafka_resp_err_t`).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        /// The numeric value of `rd_kafka_resp_err_t`.
        public let rawValue: Int32

        /// Wraps a raw `rd_kafka_resp_err_t` value.
        public init(rawValue: Int32) { self.rawValue = rawValue }

        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        /// librdkafka's symbolic name, e.g. `_QUEUE_FULL` or `UNKNOWN_TOPIC_OR_PART`.
        public var name: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: rawValue))) }

        /// librdkafka's human-readable description of the code.
        public var description: String { String(cString: rd_kafka_err2str(rd_kafka_resp_err_t(rawValue: rawValue))) }

        /// No error.
        public static let noError = Code(RD_KAFKA_RESP_ERR_NO_ERROR)
        /// Local: the producer queue is full (`queue.buffering.max.messages`/`.kbytes`).
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        /// Local: an operation timed out.
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        /// Local: a message was not delivered within `message.timeout.ms`.
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        /// Local: the partition does not exist in the topic's metadata.
        public static let unknownPartition = Code(RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
        /// Local: the topic is not known.
        public static let unknownTopic = Code(RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
        /// Local: an argument was invalid (including a bad configuration value).
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        /// Local: the operation is not allowed in the client's current state (e.g. after `close`).
        public static let state = Code(RD_KAFKA_RESP_ERR__STATE)
        /// Local: a fatal error has been raised; the client must be re-created.
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        /// Local: no offset to commit.
        public static let noOffset = Code(RD_KAFKA_RESP_ERR__NO_OFFSET)
        /// The message is larger than `message.max.bytes` (checked locally at send, or by the broker).
        public static let messageSizeTooLarge = Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
        /// Broker: the request's batch of records is larger than the broker or topic accepts.
        public static let recordListTooLarge = Code(RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE)
        /// Broker: the topic or partition does not exist.
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        /// Broker: the topic already exists.
        public static let topicAlreadyExists = Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        /// Local: authentication with a broker failed (SASL handshake or credentials; librdkafka's reason says which).
        public static let authentication = Code(RD_KAFKA_RESP_ERR__AUTHENTICATION)
        /// Broker: SASL authentication failed (wrong credentials, as the broker saw it).
        public static let saslAuthenticationFailed = Code(RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED)
        /// Broker: a SASL request arrived in a state that does not allow it.
        public static let illegalSaslState = Code(RD_KAFKA_RESP_ERR_ILLEGAL_SASL_STATE)
        /// Broker: the broker does not offer the client's SASL mechanism.
        public static let unsupportedSaslMechanism = Code(RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM)
        /// Local: the connection to a broker failed or was closed.
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        /// Local: no broker is reachable.
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)

        /// The codes that mean a broker did not accept the client's credentials or SASL settings.
        public static let authenticationFailures: Set<Code> = [
            .authentication, .saslAuthenticationFailed, .illegalSaslState, .unsupportedSaslMechanism,
        ]
    }

    // MARK: Properties

    /// librdkafka's error code.
    public let code: Code
    /// The message librdkafka gave (or the wrapper's own, for local checks). Never contains secrets.
    public let message: String
    /// True when librdkafka marked the error fatal: the client instance is unusable from now on.
    public let isFatal: Bool
    /// True when librdkafka marked the operation as retriable.
    public let isRetriable: Bool

    /// Creates an error from a code and a message.
    public init(code: Code, message: String, isFatal: Bool = false, isRetriable: Bool = false) {
        self.code = code
        self.message = message
        self.isFatal = isFatal
        self.isRetriable = isRetriable
    }

    /// librdkafka's symbolic name of ``code``.
    public var name: String { code.name }

    /// True when a broker did not accept the client's credentials or SASL settings (see
    /// ``Code/authenticationFailures``).
    public var isAuthenticationFailure: Bool { Code.authenticationFailures.contains(code) }

    /// `NAME (code): message`.
    public var description: String { "\(code.name) (\(code.rawValue)): \(message)" }

    // MARK: Internal constructors

    /// An error for a `rd_kafka_resp_err_t`, with librdkafka's description as message unless one is given.
    init(_ err: rd_kafka_resp_err_t, _ message: String? = nil) {
        self.init(code: Code(err), message: message ?? String(cString: rd_kafka_err2str(err)))
    }

    /// Takes ownership of a `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: Code(rd_kafka_error_code(error)),
            message: String(cString: rd_kafka_error_string(error)),
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            isRetriable: rd_kafka_error_is_retriable(error) != 0
        )
    }

    /// Throws when `err` is not `NO_ERROR`.
    static func check(_ err: rd_kafka_resp_err_t, _ context: @autoclosure () -> String) throws {
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        throw KafkaError(err, "\(context()): \(String(cString: rd_kafka_err2str(err)))")
    }

    /// Throws (and destroys) a non-nil `rd_kafka_error_t`.
    static func check(_ error: OpaquePointer?) throws {
        if let error { throw KafkaError(consuming: error) }
    }
}
