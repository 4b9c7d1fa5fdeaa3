import CRdKafka

/// # The Kafka module
///
/// A small, typed Swift API over librdkafka, shaped like swift-server/swift-kafka-client but kept to
/// what Feedloop needs. The C library stays behind internal types; the public surface is:
///
/// - ``KafkaConfiguration``: bootstrap servers, client id, group id and a few typed options, plus a
///   raw `[String: String]` pass-through for any librdkafka property (SASL/SSL too). Its description
///   redacts secrets.
/// - ``KafkaConsumer``: `subscribe` (consumer group) or `assign` (explicit partitions);
///   ``KafkaConsumer/poll(timeout:maxMessages:onRebalance:_:)`` hands each message to a closure as a
///   borrowed ``KafkaMessageView`` (no copy), and calls the rebalance handler on the same thread
///   *before* a revoke is acknowledged / with the chance to choose start offsets on assign (eager or
///   cooperative, whichever `rd_kafka_rebalance_protocol` reports). Offsets are stored and committed
///   by hand only; pause/resume, seek, position, committed offsets, watermarks and lag.
/// - ``KafkaProducer``: idempotent (`enable.idempotence=true`, `acks=all`) batching producer; every
///   message carries a caller-chosen `UInt64` token that comes back in its ``KafkaDeliveryReport``
///   (offset or ``KafkaError``). A full local queue is absorbed by polling and retrying, bounded in time.
/// - ``KafkaAdmin``: create (with configs such as `cleanup.policy=compact`), describe, list and delete topics.
/// - ``KafkaRuntime``: the librdkafka version actually loaded at run time.
///
/// ## Threading
/// ``KafkaProducer`` and ``KafkaAdmin`` may be used from any thread. ``KafkaConsumer`` follows a
/// single-owner rule for `poll`/`close` (serialized by a lock; the handlers run on the polling
/// thread); its other methods are thread-safe in librdkafka and may be called from anywhere,
/// including from inside the poll handlers.
///
/// ## librdkafka versions
/// The package builds against the system's librdkafka headers (Debian 12: 2.0.2) and only calls
/// functions that exist there. Versions before 2.1.2 mis-parse tagged fields, which breaks against
/// brokers such as Tansu; `scripts/broker env` puts a newer runtime (2.16, from the confluent-kafka
/// wheel) on `LD_LIBRARY_PATH`. Log ``KafkaRuntime/version`` at start-up to know which one ran.
public enum KafkaRuntime {
    // MARK: Version

    /// A librdkafka version, ordered by (major, minor, patch).
    public struct Version: Comparable, Sendable, CustomStringConvertible {
        /// Major version.
        public let major: Int
        /// Minor version.
        public let minor: Int
        /// Patch (revision) version.
        public let patch: Int

        /// Creates a version.
        public init(major: Int, minor: Int, patch: Int) {
            self.major = major
            self.minor = minor
            self.patch = patch
        }

        /// Decodes librdkafka's `0xMMmmrrpp` encoding.
        init(encoded: Int32) {
            let value = Int(UInt32(bitPattern: encoded))
            self.init(major: (value >> 24) & 0xFF, minor: (value >> 16) & 0xFF, patch: (value >> 8) & 0xFF)
        }

        /// `major.minor.patch`.
        public var description: String { "\(major).\(minor).\(patch)" }

        /// Lexicographic order on (major, minor, patch).
        public static func < (lhs: Version, rhs: Version) -> Bool {
            (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
        }
    }

    /// The version string of the librdkafka loaded at run time (`rd_kafka_version_str()`), e.g. "2.16.0".
    public static var version: String { String(cString: rd_kafka_version_str()) }

    /// The version of the librdkafka loaded at run time (`rd_kafka_version()`).
    public static var runtimeVersion: Version { Version(encoded: rd_kafka_version()) }

    /// The version of the librdkafka headers this package was compiled against (`RD_KAFKA_VERSION`).
    public static var headerVersion: Version { Version(encoded: Int32(bitPattern: UInt32(RD_KAFKA_VERSION))) }

    /// The first librdkafka that parses tagged fields correctly ("Fix number of bytes skipped when
    /// receiving tags"); older ones fail against Tansu with `ApiVersionRequest failed: Local: Read underflow`.
    public static let minimumVersionForTaggedFields = Version(major: 2, minor: 1, patch: 2)

    /// The first version with the consumer property `fetch.queue.backoff.ms` (older versions reject it as unknown
    /// and always back off 1 s once the prefetch queue is full).
    public static let minimumVersionForFetchQueueBackoff = Version(major: 2, minor: 2, patch: 0)
}
