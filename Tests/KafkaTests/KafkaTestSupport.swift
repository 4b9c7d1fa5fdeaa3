import Foundation
import Kafka
import Logging
import Testing

// MARK: - Environment

/// Where the integration tests find the broker, and the shared helpers they use.
enum KafkaTestEnvironment {
    struct MissingBroker: Error, CustomStringConvertible {
        var description: String {
            """
            FEEDLOOP_BROKERS is not set: the Kafka tests run against a real local broker. Run them via the project test \
            command, or: scripts/broker start && eval "$(scripts/broker env)" && swift test --filter KafkaTests; scripts/broker stop
            """
        }
    }

    /// `FEEDLOOP_BROKERS`, or a thrown error that fails the test with instructions.
    static func brokers() throws -> String {
        guard let value = ProcessInfo.processInfo.environment["FEEDLOOP_BROKERS"], !value.isEmpty else {
            throw MissingBroker()
        }
        return value
    }

    /// A tag unique to this test process, so topics and groups never collide with earlier runs.
    static let runID: String = {
        let random = UInt32.random(in: 0...UInt32.max)
        return "\(ProcessInfo.processInfo.processIdentifier)-\(String(random, radix: 36))"
    }()

    /// A unique topic or group name for `purpose`.
    static func uniqueName(_ purpose: String) -> String { "kt-\(runID)-\(purpose)" }

    static let logger: Logger = {
        var logger = Logger(label: "feedloop.kafka-tests")
        logger.logLevel = .warning
        return logger
    }()

    /// For clients that are expected to fail to connect (keeps librdkafka's connection errors out of the output).
    static let quietLogger: Logger = {
        var logger = Logger(label: "feedloop.kafka-tests.quiet")
        logger.logLevel = .critical
        return logger
    }()

    /// Session timeout used by group tests: Tansu holds a group join for about half of it
    /// (librdkafka's default of 45 s makes every join take ~23 s).
    static let sessionTimeout: Duration = .seconds(6)

    /// A configuration for the test broker.
    static func configuration(groupID: String? = nil, properties: [String: String] = [:]) throws -> KafkaConfiguration {
        var configuration = KafkaConfiguration(brokers: try brokers(), clientID: "kafka-tests", groupID: groupID)
        configuration.sessionTimeout = sessionTimeout
        configuration.properties = properties
        return configuration
    }

    /// Creates a topic and returns its name.
    static func createTopic(_ purpose: String, partitions: Int32) throws -> String {
        let name = uniqueName(purpose)
        let admin = try KafkaAdmin(configuration: configuration(), logger: logger)
        try admin.createTopic(name, partitions: partitions)
        return name
    }
}

// MARK: - Producing

extension KafkaProducer {
    /// Polls until `count` delivery reports arrived or `timeout` passed; returns them.
    func awaitReports(_ count: Int, timeout: Duration = .seconds(30)) -> [KafkaDeliveryReport] {
        var reports: [KafkaDeliveryReport] = []
        let deadline = ContinuousClock.now + timeout
        while reports.count < count && ContinuousClock.now < deadline {
            poll(timeout: .milliseconds(100)) { reports.append($0) }
        }
        return reports
    }
}

/// The test messages: key `k<i mod 7>`, value `v<i>`, header `seq=<i>`, token `i`.
struct TestMessages {
    let count: Int
    static func key(_ i: Int) -> [UInt8] { Array("k\(i % 7)".utf8) }
    static func value(_ i: Int) -> [UInt8] { Array("v\(i)".utf8) }

    /// Sends the messages `range` to `topic` and waits for every delivery report.
    static func produce(_ range: Range<Int>, to topic: String, partition: Int32? = nil) throws -> [KafkaDeliveryReport] {
        let producer = try KafkaProducer(configuration: KafkaTestEnvironment.configuration(), logger: KafkaTestEnvironment.logger)
        for i in range {
            try producer.send(
                topic: topic, key: key(i), value: value(i),
                headers: [KafkaHeader(name: "seq", value: String(i))], partition: partition, token: UInt64(i))
        }
        try producer.flush(timeout: .seconds(30))
        return producer.awaitReports(range.count)
    }
}

// MARK: - Consuming

extension KafkaConsumer {
    /// Polls (copying messages) until `done` holds for what was received or `timeout` passed.
    func collect(
        timeout: Duration = .seconds(30),
        onRebalance: (KafkaRebalanceEvent) throws -> KafkaRebalanceResponse = { _ in .proceed },
        until done: ([KafkaMessage]) -> Bool
    ) throws -> [KafkaMessage] {
        var messages: [KafkaMessage] = []
        let deadline = ContinuousClock.now + timeout
        while !done(messages) && ContinuousClock.now < deadline {
            messages += try poll(timeout: .milliseconds(100), onRebalance: onRebalance)
        }
        return messages
    }
}

extension KafkaMessage {
    /// The value as text.
    var text: String { String(decoding: value ?? [], as: UTF8.self) }
}
