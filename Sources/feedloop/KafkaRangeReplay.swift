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
    /// Replays a topic range through the pipelines (same step and reports as a file replay). The partitions are
    /// fetched concurrently by librdkafka and merged into one order that does not depend on fetch timing
    /// (``PartitionMerge``: message timestamp, then partition, then offset), so a replay of a range gives the same
    /// numbers on every run and with any `--threads`. `to: end` is each partition's end when the replay starts.
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
            // The end as the first fetch of each partition reports it (RangeReading): ListOffsets' high watermark is
            // short on Tansu 0.6 (see KafkaConsumer.watermarks).
            case .end: return Dictionary(uniqueKeysWithValues: partitions.map { ($0, nil) })
            case .offset(let n): return Dictionary(uniqueKeysWithValues: partitions.map { ($0, n) })
            case .timestamp(let ms):
                let found = try consumer.offsets(forTimes: Dictionary(uniqueKeysWithValues: partitions.map { ($0, ms) }))
                return Dictionary(uniqueKeysWithValues: found.map { ($0.topicPartition, $0.offset.value) })
            }
        }
        let starts = try resolve(range.from)
        let ends = try resolve(range.to)
        var assignment: [KafkaTopicPartitionOffset] = []
        var bounds: [Int32: (start: Int64?, end: Int64?)] = [:]
        for tp in partitions {
            let start = starts[tp].flatMap { $0 }
            // No message at/after a `from:` time: nothing of that partition.
            if range.from != .end && start == nil { continue }
            // An end time after the partition's last message: its end.
            let end = ends[tp].flatMap { $0 }
            if let start, let end, start >= end { continue }
            assignment.append(KafkaTopicPartitionOffset(tp, offset: start.map { KafkaOffset($0) } ?? .end))
            bounds[tp.partition] = (start, end)
        }
        try consumer.assign(assignment)
        let wallStart = monotonicSeconds()
        let reading = RangeReading(consumer: consumer, range: range, bounds: bounds, logger: logger)
        if threads > 1 {
            // Polled, merged and decoded on a reading thread while the pipelines learn (Replay.runStream).
            try runStream(topic: range.topic, progress: progress, deadLetters: &deadLetters) { chunk in
                try reading.pollUntilFull(&chunk)
            }
            finishStream(seconds: monotonicSeconds() - wallStart)
            return
        }
        var progress = progress
        var sink = ReplaySink(deadLetters: deadLetters)
        while !reading.isDone {
            try reading.read { value, partition in
                feed(message: value, topic: range.topic, partition: partition, sink: &sink)
                return true
            }
            progress?.update(events: events, bytes: 0, total: nil, metrics: pipelines[0].metrics)
        }
        deadLetters = sink.deadLetters
        finishStream(seconds: monotonicSeconds() - wallStart)
        progress?.finish()
    }
}

/// Reads a topic range's assigned partitions up to their ends and hands the messages over in the merge's order
/// (``PartitionMerge``): each message once. A partition that runs ahead of the merge by more than its share of
/// `bufferBytes` is paused until the merge caught up (librdkafka then fetches it again from the next offset).
/// Stops short, with a warning, when nothing arrives for the range's idle time before every partition reached its end.
/// Used by one thread at a time (the replay's reading thread, or the calling thread).
final class RangeReading: @unchecked Sendable {
    let consumer: KafkaConsumer
    let topic: String
    /// Each partition's first offset (nil: its end when first fetched) and end offset, exclusive (nil until its
    /// first fetch reports its high watermark).
    var bounds: [Int32: (start: Int64?, end: Int64?)]
    let idleSeconds: Double
    let logger: Logger
    var merge: PartitionMerge
    /// A partition with more than this buffered is paused.
    let partitionBound: Int
    var paused: Set<Int32> = []
    var lastMessage = monotonicSeconds()
    var idled = false

    /// All partitions together buffer about this much at most (each at least 1 MiB).
    static let bufferBytes = 64 << 20

    init(consumer: KafkaConsumer, range: KafkaRange, bounds: [Int32: (start: Int64?, end: Int64?)], logger: Logger) {
        self.consumer = consumer
        topic = range.topic
        self.bounds = bounds
        idleSeconds = range.idleSeconds
        self.logger = logger
        merge = PartitionMerge(partitions: Array(bounds.keys))
        partitionBound = max(1 << 20, Self.bufferBytes / max(1, bounds.count))
    }

    /// `p`'s end offset: the range's, else the high watermark its first fetch reported (nil before that).
    private func end(of p: Int32) -> Int64? {
        if let end = bounds[p]?.end { return end }
        guard let high = consumer.cachedWatermarks(for: KafkaTopicPartition(topic: topic, partition: p))?.high else { return nil }
        let start = bounds[p]?.start ?? high  // `from: end`: its end
        bounds[p] = (start, high)
        return high
    }

    /// Every partition is read to its end and handed over, or the range stopped at its idle time.
    var isDone: Bool { merge.isDone || (idled && merge.isEmpty) }

    /// Hands over what the merge can order (all that is buffered once the read stopped short), polling once (up to
    /// 200 ms) first when it waits for a partition; stops early when `body` returns false. Returns whether any message
    /// was handed over.
    @discardableResult
    func read(_ body: (UnsafeRawBufferPointer, Int32) -> Bool) throws -> Bool {
        if merge.isWaiting && !idled { try poll() }
        return merge.drain(all: idled, body) > 0
    }

    /// One poll into the merge; pauses partitions over their bound and resumes those the merge drained.
    private func poll() throws {
        let n = try consumer.poll(timeout: .milliseconds(200), maxMessages: 4096) { message in
            let p = message.partition
            guard let end = end(of: p), message.offset < end else { return }
            merge.append(partition: p, offset: message.offset, timestampMs: message.timestamp?.milliseconds, value: message.value ?? UnsafeRawBufferPointer(start: nil, count: 0))
            if message.offset + 1 >= end { merge.finish(partition: p) }
        }
        // A partition with nothing (more) to read before its end: finished without a message.
        for p in merge.waitingFor {
            if let end = end(of: p), max(merge.nextOffset(of: p), bounds[p]?.start ?? .max) >= end { merge.finish(partition: p) }
        }
        let now = monotonicSeconds()
        if n > 0 { lastMessage = now }
        for p in merge.partitions {
            let over = merge.bufferedBytes(of: p) > partitionBound
            if over, !paused.contains(p) {
                try consumer.pause([KafkaTopicPartition(topic: topic, partition: p)])
                paused.insert(p)
            } else if paused.contains(p), merge.bufferedBytes(of: p) <= partitionBound / 2 {
                try consumer.resume([KafkaTopicPartition(topic: topic, partition: p)])
                paused.remove(p)
            }
        }
        if now - lastMessage >= idleSeconds {
            logger.warning("no message for \(idleSeconds) s before the end of the range; stopping (partitions short: \(merge.waitingFor.map { "\(topic)[\($0)]" }))")
            idled = true
        }
    }

    /// Fills `chunk` in the merge's order until it is full or the range is done; returns whether more may follow.
    func pollUntilFull(_ chunk: inout MessageChunk) throws -> Bool {
        while !chunk.isFull, !isDone {
            try read { value, partition in
                chunk.append(value, partition: partition)
                return !chunk.isFull
            }
        }
        return !isDone
    }
}
