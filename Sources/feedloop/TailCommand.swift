import ArgumentParser
import Foundation
import Kafka
import Logging

/// `feedloop tail`: prints messages of a topic (all partitions, from the beginning), e.g. to look at `scores`.
struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tail", abstract: "Print messages of a topic from the beginning (key, headers, value).")

    @Option(name: .long, help: "Topic.") var topic: String
    @Option(name: .long, help: "Bootstrap brokers (default: $FEEDLOOP_BROKERS).") var brokers: String?
    @Option(name: .long, help: "Stop after this many messages.") var count = 10
    @Option(name: .long, help: "Stop after this many seconds without a message.") var idle = 5.0
    @Flag(name: .long, help: "Print one JSON object per message (key, headers, value, partition, offset).") var json = false
    @OptionGroup var kafka: KafkaClientOptions

    func run() throws {
        var logger = Logger(label: "feedloop.tail")
        logger.logLevel = .warning
        guard let brokers = brokers ?? ProcessInfo.processInfo.environment["FEEDLOOP_BROKERS"] else {
            throw ValidationError("give --brokers HOST:PORT or set FEEDLOOP_BROKERS")
        }
        var config = KafkaConfiguration(brokers: brokers, clientID: "feedloop-tail", groupID: "feedloop-tail")
        config.properties = try kafka.resolve(warn: { logger.warning("\($0)") })
        let admin = try KafkaAdmin(configuration: config, logger: logger)
        let partitions = try admin.describeTopic(topic).partitionCount
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        try consumer.assign((0..<Int32(partitions)).map { KafkaTopicPartitionOffset(topic: topic, partition: $0, offset: .beginning) })
        var printed = 0
        var last = Date()
        while printed < count && Date().timeIntervalSince(last) < idle {
            try consumer.poll(timeout: .milliseconds(200), maxMessages: count - printed) { message in
                last = Date()
                printed += 1
                let key = message.key.map { String(decoding: $0, as: UTF8.self) } ?? ""
                let value = message.value.map { String(decoding: $0, as: UTF8.self) } ?? ""
                var headers: [String: String] = [:]
                message.forEachHeader { name, v in headers[name] = v.map { String(decoding: $0, as: UTF8.self) } ?? "" }
                if json {
                    let object: [String: Any] = ["partition": message.partition, "offset": message.offset, "key": key, "headers": headers, "value": value]
                    if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                        print(String(decoding: data, as: UTF8.self))
                    }
                } else {
                    let h = headers.isEmpty ? "" : " " + headers.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
                    print("[\(message.partition)@\(message.offset)] key=\(key)\(h) \(value)")
                }
            }
        }
        try consumer.close()
    }
}
