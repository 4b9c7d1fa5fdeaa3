#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Kafka
import Logging
import Pipelines
import Replay

// `feedloop replay --topic`: a Kafka topic range through the replay (the Replay target itself knows no Kafka).
// No Foundation here: its `Progress` would shadow the replay's.

extension Replay {
    /// Replays a topic range through the pipelines (same step and reports as a file replay). Partitions are read
    /// concurrently by librdkafka: order holds within a partition (events keyed by user keep each user's order).
    public mutating func run(brokers: String, range: KafkaRange, properties: [String: String] = [:], progress: Progress? = nil,
                             deadLetters: inout DeadLetterFile?, logger: Logger) throws {
        var config = KafkaConfiguration(brokers: brokers, clientID: "feedloop-replay", groupID: "feedloop-replay-\(getpid())")
        config.properties = properties
        let admin = try KafkaAdmin(configuration: config, logger: logger)
        let partitions = try admin.describeTopic(range.topic).partitions.map { KafkaTopicPartition(topic: range.topic, partition: $0.id) }
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        defer { try? consumer.close() }

        func resolve(_ bound: KafkaRange.Bound) throws -> [KafkaTopicPartition: Int64?] {
            switch bound {
            case .beginning: return Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(0)) })
            case .end: return Dictionary(uniqueKeysWithValues: partitions.map { ($0, nil) })
            case .offset(let n): return Dictionary(uniqueKeysWithValues: partitions.map { ($0, n) })
            case .timestamp(let ms):
                let found = try consumer.offsets(forTimes: Dictionary(uniqueKeysWithValues: partitions.map { ($0, ms) }))
                return Dictionary(uniqueKeysWithValues: found.map { ($0.topicPartition, $0.offset.value) })
            }
        }
        let starts = try resolve(range.from)
        let ends = try resolve(range.to)
        var open = Set(partitions)
        var assignment: [KafkaTopicPartitionOffset] = []
        for tp in partitions {
            let start = starts[tp].flatMap { $0 }
            if range.from != .end && start == nil { open.remove(tp); continue }  // no message at/after that time
            if let start, let end = ends[tp].flatMap({ $0 }), start >= end { open.remove(tp); continue }
            assignment.append(KafkaTopicPartitionOffset(tp, offset: start.map { KafkaOffset($0) } ?? .end))
        }
        try consumer.assign(assignment)
        var progress = progress
        let wallStart = monotonicSeconds()
        var lastMessage = monotonicSeconds()
        var sink = ReplaySink(deadLetters: deadLetters)
        while !open.isEmpty {
            let n = try consumer.poll(timeout: .milliseconds(200), maxMessages: 4096) { message in
                let tp = KafkaTopicPartition(topic: range.topic, partition: message.partition)
                guard open.contains(tp) else { return }
                if let end = ends[tp].flatMap({ $0 }), message.offset >= end {
                    open.remove(tp)
                    try? consumer.pause([tp])
                    return
                }
                let value = message.value ?? UnsafeRawBufferPointer(start: nil, count: 0)
                feed(message: value, topic: range.topic, partition: message.partition, sink: &sink)
                if let end = ends[tp].flatMap({ $0 }), message.offset + 1 >= end { open.remove(tp); try? consumer.pause([tp]) }
            }
            if n > 0 { lastMessage = monotonicSeconds() }
            if monotonicSeconds() - lastMessage >= range.idleSeconds {
                if ends.values.contains(where: { $0 != nil }) {
                    logger.warning("no message for \(range.idleSeconds) s before the end of the range; stopping (partitions short: \(open.map(\.description).sorted()))")
                }
                break
            }
            progress?.update(events: events, bytes: 0, total: nil, pipeline: pipelines[0])
        }
        deadLetters = sink.deadLetters
        finishStream(seconds: monotonicSeconds() - wallStart - (ends.values.contains(where: { $0 != nil }) ? 0 : range.idleSeconds))
        progress?.finish()
    }
}
