import Foundation
import Kafka
import Logging
import Pipelines

/// A range of a Kafka topic to replay: `[from, to)` on every partition.
public struct KafkaRange: Sendable {
    /// One end of the range.
    public enum Bound: Sendable, Equatable {
        case beginning
        /// The end of each partition as the replay finds it (stops after `idleSeconds` without messages).
        case end
        /// An offset (the same on every partition; most useful with one partition).
        case offset(Int64)
        /// Event-append time in ms since the epoch (Kafka message timestamps, ListOffsets by time).
        case timestamp(Int64)

        /// Parses `beginning`, `end`, an offset (`1234`), or a timestamp (`ts:1700000000000` in ms, or ISO-8601
        /// like `2024-05-01T12:00:00Z`).
        public init(parsing text: String) throws(ReplayError) {
            switch text {
            case "beginning", "earliest": self = .beginning
            case "end", "latest": self = .end
            default:
                if let n = Int64(text), n >= 0 {
                    self = .offset(n)
                } else if text.hasPrefix("ts:"), let ms = Int64(text.dropFirst(3)), ms >= 0 {
                    self = .timestamp(ms)
                } else if let date = ISO8601DateFormatter().date(from: text) {
                    self = .timestamp(Int64(date.timeIntervalSince1970 * 1000))
                } else {
                    throw .usage("bad range bound '\(text)': use beginning, end, an offset, ts:MILLISECONDS or an ISO-8601 time")
                }
            }
        }
    }

    public var topic: String
    public var from: Bound
    public var to: Bound
    /// With `to: .end`, stop after this long without messages.
    public var idleSeconds: Double

    public init(topic: String, from: Bound, to: Bound, idleSeconds: Double = 3) {
        self.topic = topic
        self.from = from
        self.to = to
        self.idleSeconds = idleSeconds
    }
}

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
        var nulls = NullSink()
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
                for p in pipelines.indices {
                    // Each partition's windows close by its own event time, as in the worker.
                    let index = pipelines[p].partitionIndex(topic: range.topic, partition: message.partition)
                    if p == 0 {
                        pipelines[p].process(value, partition: index, sink: &sink)
                    } else {
                        pipelines[p].process(value, partition: index, sink: &nulls)
                    }
                }
                events &+= 1
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
        for p in pipelines.indices { pipelines[p].finish(sink: &nulls) }
        // One pass feeds every pipeline, so each is charged the whole wall time (consumer included).
        let elapsed = monotonicSeconds() - wallStart - (ends.values.contains(where: { $0 != nil }) ? 0 : range.idleSeconds)
        for p in stepSeconds.indices { stepSeconds[p] = max(elapsed, 1e-9) }
        progress?.finish()
    }
}
