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
        let wallStart = monotonicSeconds()
        let reading = RangeReading(consumer: consumer, range: range, ends: ends, open: open, logger: logger)
        if threads > 1 {
            // Polled and decoded on a reading thread while the pipelines learn (Replay.runStream).
            try runStream(topic: range.topic, progress: progress, deadLetters: &deadLetters) { chunk in
                try reading.pollUntilFull(&chunk)
            }
            finishStream(seconds: monotonicSeconds() - wallStart - reading.idleCharged)
            return
        }
        var progress = progress
        var sink = ReplaySink(deadLetters: deadLetters)
        while !reading.isDone {
            try reading.poll { value, partition in feed(message: value, topic: range.topic, partition: partition, sink: &sink) }
            progress?.update(events: events, bytes: 0, total: nil, pipeline: pipelines[0])
        }
        deadLetters = sink.deadLetters
        finishStream(seconds: monotonicSeconds() - wallStart - reading.idleCharged)
        progress?.finish()
    }
}

/// Reads a topic range's assigned partitions up to their ends: each message once, in the order the consumer hands
/// them over, until every partition reached its end or nothing arrived for the range's idle time. Used by one
/// thread at a time (the replay's reading thread, or the calling thread).
final class RangeReading: @unchecked Sendable {
    let consumer: KafkaConsumer
    let range: KafkaRange
    let ends: [KafkaTopicPartition: Int64?]
    /// Some partition has an end offset (`to:` is not `end`): stopping at the idle time is then a shortfall.
    let bounded: Bool
    var open: Set<KafkaTopicPartition>
    let logger: Logger
    var lastMessage = monotonicSeconds()
    var idled = false

    init(consumer: KafkaConsumer, range: KafkaRange, ends: [KafkaTopicPartition: Int64?], open: Set<KafkaTopicPartition>, logger: Logger) {
        self.consumer = consumer
        self.range = range
        self.ends = ends
        bounded = ends.values.contains(where: { $0 != nil })
        self.open = open
        self.logger = logger
    }

    /// Every partition is read to its end, or the range stopped at its idle time.
    var isDone: Bool { open.isEmpty || idled }

    /// The idle wait at the end of an open range (`to: end`), which is no part of the replay's time.
    var idleCharged: Double { bounded ? 0 : range.idleSeconds }

    /// One poll (up to 200 ms): hands each message of the range to `body`; returns whether any arrived.
    @discardableResult
    func poll(_ body: (UnsafeRawBufferPointer, Int32) -> Void) throws -> Bool {
        guard !isDone else { return false }
        let n = try consumer.poll(timeout: .milliseconds(200), maxMessages: 4096) { message in
            let tp = KafkaTopicPartition(topic: range.topic, partition: message.partition)
            guard open.contains(tp) else { return }
            if let end = ends[tp].flatMap({ $0 }), message.offset >= end {
                open.remove(tp)
                try? consumer.pause([tp])
                return
            }
            body(message.value ?? UnsafeRawBufferPointer(start: nil, count: 0), message.partition)
            if let end = ends[tp].flatMap({ $0 }), message.offset + 1 >= end { open.remove(tp); try? consumer.pause([tp]) }
        }
        if n > 0 { lastMessage = monotonicSeconds() }
        if monotonicSeconds() - lastMessage >= range.idleSeconds {
            if bounded {
                logger.warning("no message for \(range.idleSeconds) s before the end of the range; stopping (partitions short: \(open.map(\.description).sorted()))")
            }
            idled = true
        }
        return n > 0
    }

    /// Polls into `chunk` until it is full, a poll brings nothing, or the range is done; returns whether more may
    /// follow.
    func pollUntilFull(_ chunk: inout MessageChunk) throws -> Bool {
        while !chunk.isFull, !isDone {
            guard try poll({ value, partition in chunk.append(value, partition: partition) }) else { break }
        }
        return !isDone
    }
}
