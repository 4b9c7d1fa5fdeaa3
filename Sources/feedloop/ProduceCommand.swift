import ArgumentParser
import Events
import Foundation
import Kafka
import Logging

/// `feedloop produce`: publishes a JSONL event log to a topic, keyed by user id (demos, load tests).
struct ProduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Publish a JSONL event log to a Kafka topic, keyed by user id.",
        discussion: "Lines that are not valid events are published as they are (with no key), so the worker's dead-letter path can be exercised. The producer is idempotent with a 5 ms linger; for a high-rate load test on the machine under test, batch as a high-rate producer does (--kafka-property linger.ms=20, and enable.idempotence=false where duplicates on a retry do not matter): bench/serve measured the producer and the local broker taking half a core less at 51,000 events/s.")

    @Option(name: .long, help: "JSONL event log.") var input: String
    @Option(name: .long, help: "Topic.") var topic = "events"
    @Option(name: .long, help: "Bootstrap brokers (default: $FEEDLOOP_BROKERS).") var brokers: String?
    @Option(name: .long, help: "Events per second (0: as fast as possible).") var rate = 0.0
    @Option(name: .long, help: "Stop after this many events (0: all).") var limit = 0
    @Flag(name: .customLong("timestamp-header"), help: "Add a header feedloop.produced_ns (wall clock) for latency measurement.") var timestampHeader = false
    @OptionGroup var kafka: KafkaClientOptions

    func run() throws {
        let logger = Logger(label: "feedloop.produce")
        guard let brokers = brokers ?? ProcessInfo.processInfo.environment["FEEDLOOP_BROKERS"] else {
            throw ValidationError("give --brokers HOST:PORT or set FEEDLOOP_BROKERS")
        }
        var configuration = KafkaConfiguration(brokers: brokers, clientID: "feedloop-produce")
        configuration.properties = try kafka.resolve(warn: { logger.warning("\($0)") })
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        guard let data = FileManager.default.contents(atPath: input) else { throw ValidationError("cannot read \(input)") }
        var decoder = EventDecoder()
        var sent = 0, failed = 0
        var start = Date()
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            for line in JSONLines(buffer) {
                if limit > 0 && sent >= limit { break }
                var key: UnsafeRawBufferPointer? = nil
                if let event = try? decoder.decode(line.bytes) { key = event.userID }
                var headers: [KafkaHeader] = []
                if timestampHeader {
                    headers.append(KafkaHeader(name: "feedloop.produced_ns", value: String(DispatchTime.now().uptimeNanoseconds)))
                }
                try producer.send(topic: topic, key: key, value: line.bytes, headers: headers)
                sent += 1
                if sent % 1024 == 0 { failed += producer.poll().filter { !$0.isDelivered }.count }
                // Paced in steps of a millisecond or more: a sleep per event (every 20 µs at 50,000/s) cost the
                // producer a fifth to a third of a core in wake-ups, on a machine it shares with the worker it loads.
                if rate > 0 {
                    if sent == 1 {
                        // The pace starts once the first event is delivered: the connection, the topic's metadata and
                        // the producer id are settled by then. Paced from the first send, the events produced while
                        // they were (about a second on the local broker) went out in one burst: measured, a 20,000/s
                        // run handed its consumers ~24,000 events at once before the steady rate began.
                        try producer.flush(timeout: .seconds(30))
                        start = Date()
                    }
                    let due = start.addingTimeInterval(Double(sent - 1) / rate)
                    let wait = due.timeIntervalSinceNow
                    if wait >= 0.001 { Thread.sleep(forTimeInterval: wait) }
                }
            }
        }
        try producer.flush(timeout: .seconds(60))
        failed += producer.poll().filter { !$0.isDelivered }.count
        let seconds = Date().timeIntervalSince(start)
        print("produced \(sent) messages to \(topic) in \(String(format: "%.2f", seconds)) s (\(Int(Double(sent) / max(seconds, 1e-9))) msg/s), \(failed) failed")
        if failed > 0 { throw ExitCode(1) }
    }
}

/// `feedloop topics`: creates the topics a pipeline needs.
struct TopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "topics", abstract: "Create (or describe) the topics of a pipeline.")

    @Argument(help: "create | describe") var action: String
    @Option(name: .long, help: "Pipeline YAML file (topic names).") var pipeline: String
    @Option(name: .long, help: "Bootstrap brokers (default: $FEEDLOOP_BROKERS).") var brokers: String?
    @Option(name: .long, help: "Partitions of the input topics.") var partitions: Int32 = 1
    @OptionGroup var kafka: KafkaClientOptions

    func run() throws {
        let logger = Logger(label: "feedloop.topics")
        guard let brokers = brokers ?? ProcessInfo.processInfo.environment["FEEDLOOP_BROKERS"] else {
            throw ValidationError("give --brokers HOST:PORT or set FEEDLOOP_BROKERS")
        }
        let spec = try PipelinesLoader.load(pipeline)
        var configuration = KafkaConfiguration(brokers: brokers, clientID: "feedloop-topics")
        configuration.properties = try kafka.resolve(warn: { logger.warning("\($0)") })
        let admin = try KafkaAdmin(configuration: configuration, logger: logger)
        let o = spec.outputs
        // Learning from rankings, the decision log is an input co-partitioned with the events (docs/serving.md).
        let inputs = spec.inputTopics + (spec.serving.learnFromRankings ? [spec.serving.rankingsTopic] : [])
        switch action {
        case "create":
            try admin.createTopics(
                inputs.map { KafkaNewTopic(name: $0, partitions: partitions) } + [
                    KafkaNewTopic(name: o.scoresTopic, partitions: 1, configs: ["cleanup.policy": "compact"]),
                    KafkaNewTopic(name: o.adjustmentsTopic, partitions: 1),
                    KafkaNewTopic(name: o.deadLetterTopic, partitions: 1),
                ], ignoreExisting: true)
            print("topics ready: \((inputs + [o.scoresTopic, o.adjustmentsTopic, o.deadLetterTopic]).joined(separator: ", "))")
        case "describe":
            for name in inputs + [o.scoresTopic, o.adjustmentsTopic, o.deadLetterTopic] {
                print(try admin.describeTopic(name))
            }
        default:
            throw ValidationError("action must be create or describe")
        }
    }
}
