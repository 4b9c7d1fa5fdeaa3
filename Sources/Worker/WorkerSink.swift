import Events
import Learning
import Pipelines

/// Where the worker's sink sends encoded messages (the Kafka producer in production).
public protocol OutputPublisher {
    /// Sends one message. `headers` are (name, value) pairs; `token` comes back in the message's delivery report.
    mutating func publish(topic: String, key: UnsafeRawBufferPointer, value: [UInt8], headers: [(String, [UInt8])], token: UInt64)
}

extension OutputPublisher {
    mutating func publish(topic: String, key: UnsafeRawBufferPointer, value: [UInt8], headers: [(String, [UInt8])]) {
        publish(topic: topic, key: key, value: value, headers: headers, token: 0)
    }
}

/// Delivery-report tokens of score messages: bit 63 set, the Kafka timestamp (ms) of the first input message the
/// refresh covers in the low bits. The worker turns the report of such a message into the event → score delivered
/// delay. Other outputs use token 0.
enum ScoreToken {
    static let tag: UInt64 = 1 << 63

    static func make(eventTimestampMs: Int64) -> UInt64 {
        eventTimestampMs > 0 ? tag | UInt64(eventTimestampMs) : 0
    }

    /// The event timestamp carried by a score message's token, nil for other messages.
    static func eventTimestampMs(_ token: UInt64) -> Int64? {
        token & tag != 0 ? Int64(bitPattern: token & ~tag) : nil
    }
}

/// Delivery-report tokens of large dead letters: bit 62 set, a sequence number in the low bits (bit 63 marks score
/// messages, see ``ScoreToken``).
enum DeadLetterToken {
    static let tag: UInt64 = 1 << 62

    static func make(_ sequence: UInt64) -> UInt64 { tag | (sequence & (tag - 1)) }

    static func isDeadLetter(_ token: UInt64) -> Bool { token & ScoreToken.tag == 0 && token & tag != 0 }
}

/// The input message being processed, for provenance in outputs and dead letters.
public struct SourceMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// The message's Kafka timestamp (ms since the epoch; producer's CreateTime or the broker's LogAppendTime), 0
    /// when it has none.
    public var timestampMs: Int64
    public init(topic: String, partition: Int32, offset: Int64, timestampMs: Int64 = 0) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestampMs = timestampMs
    }
}

/// Turns what the pipeline did into output messages: dead letters, adjustments and score refreshes.
///
/// - Rejected input → the dead-letter topic, original key and bytes, headers `feedloop.reason`,
///   `feedloop.field`, `feedloop.detail`, `feedloop.source` (topic/partition/offset). One per bad input, at once.
///   An input too large to re-publish (over the producer's `message.max.bytes` with its headers) gets a bounded
///   record instead: JSON with the reason, source, original size, SHA-256 and first bytes, header
///   `feedloop.truncated: true`. Whatever its size, a bad input never stops the worker.
/// - Feedback (a purchase) → `adjustments` `suppress_item` for that user (downstream caches drop it from the
///   user's recommendations). One per purchase, at once.
/// - Labelled examples that moved an item's bias → `adjustments` `item_bias`, **coalesced per poll batch**: one
///   message per item with the bias before its first update and after its last one in the batch, the number of
///   updates and positives, published at the end of the batch when it moved at least `outputs.min_bias_shift`.
/// - A refresh-type event → `scores`: the user's top-K candidates, **coalesced per run**: consecutive events of
///   one user (in a poll batch) get one refresh, published when the next event is another user's or the batch
///   ends, so it reflects all of them; at most one per user per `refreshIntervalMs` of event time.
///
/// The worker loop publishes what is pending (``WorkerLoop/publishPending()``) at those points and before every
/// checkpoint, so a checkpoint never covers an event whose outputs are not yet handed to the producer.
struct WorkerSink<P: OutputPublisher>: PipelineSink {
    var publisher: P
    var encoder = OutputEncoder()
    var source = SourceMessage(topic: "", partition: 0, offset: 0)
    var key: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    let outputs: OutputSpec
    let pipelineName: String
    let refreshTypes: [Bool]
    let refreshIntervalMs: Int64
    /// Last published refresh per user (event time), in bounded memory.
    var refreshLimiter: RefreshLimiter
    var modelVersion: UInt64 = 0
    var published: (scores: UInt64, adjustments: UInt64, deadLetters: UInt64) = (0, 0, 0)
    /// Key + value + header bytes a dead letter may take: the producer's `message.max.bytes` less room for the
    /// record's own framing. A rejected input that does not fit is published as a bounded record instead.
    let deadLetterLimit: Int
    /// Dead letters published as bounded records (their original did not fit).
    var truncatedDeadLetters: UInt64 = 0
    /// Bounded records of large dead letters awaiting their delivery report, by delivery token.
    var pendingLargeDeadLetters: [UInt64: (key: [UInt8], value: [UInt8], headers: [(String, [UInt8])])] = [:]
    var deadLetterSequence: UInt64 = 0

    // MARK: Pending score refresh (the current user run)

    /// Whether a score refresh waits for the end of its user's run.
    private(set) var refreshDue = false
    /// The run's user, its last event's time and source, and the offset of its first event.
    var refreshUser: [UInt8] = []
    var refreshTimestamp: Int64 = 0
    var refreshSource = SourceMessage(topic: "", partition: 0, offset: 0)
    var refreshFirstOffset: Int64 = 0
    /// Catalog items the run's user gave feedback on (bought) during the run: left out of the refresh, whose
    /// `suppress_item` adjustments were just published.
    var refreshExcluded: [Int] = []
    /// Kafka timestamp of the run's first message (0: none), for the event → score delay metric.
    var refreshFirstMessageMs: Int64 = 0

    // MARK: Pending item-bias shifts (the current poll batch)

    /// One item's bias movement in the current batch.
    struct BiasShift {
        var item: Int
        var old: Float
        var new: Float
        var updates: UInt32
        var positives: UInt32
        var cause: LabelCause
        var label: Bool
        var predicted: Double
        var source: SourceMessage
    }
    /// Shifts in order of each item's first update in the batch.
    var biasShifts: [BiasShift] = []
    /// Per catalog item: its index in `biasShifts` + 1, or 0.
    var biasSlot: [Int32] = []

    init(publisher: P, spec: PipelineSpec, refreshTypes: Set<EventType>, refreshIntervalMs: Int64, maxMessageBytes: Int = 1_000_000) {
        self.publisher = publisher
        self.deadLetterLimit = maxMessageBytes - 1024
        self.outputs = spec.outputs
        self.pipelineName = spec.name
        var types = Array(repeating: false, count: EventType.allCases.count)
        for t in refreshTypes { types[Int(t.rawValue)] = true }
        self.refreshTypes = types
        self.refreshIntervalMs = refreshIntervalMs
        self.refreshLimiter = RefreshLimiter(intervalMs: refreshIntervalMs)
        refreshUser.reserveCapacity(256)
    }

    // MARK: PipelineSink

    mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) {
        let headers: [(String, [UInt8])] = [
            ("feedloop.reason", Array(reason.code.utf8)),
            ("feedloop.field", Array((reason.field ?? "").utf8)),
            ("feedloop.detail", Array(reason.detail.utf8)),
            ("feedloop.source", Array("\(source.topic)/\(source.partition)/\(source.offset)".utf8)),
        ]
        let headerBytes = headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.count + 10 }
        if key.count + input.count + headerBytes <= deadLetterLimit {
            var token: UInt64 = 0
            if input.count > Self.largeDeadLetterBytes {
                // The broker may still refuse it (a topic's max.message.bytes below the producer's limit): keep its
                // bounded record until the original is delivered, to publish instead (see `deadLetterRefused`).
                deadLetterSequence &+= 1
                token = DeadLetterToken.make(deadLetterSequence)
                let bounded = boundedDeadLetter(reason, input: input, headers: headers)
                pendingLargeDeadLetters[token] = bounded
            }
            publisher.publish(topic: outputs.deadLetterTopic, key: key, value: Array(input), headers: headers, token: token)
        } else {
            // The original cannot be published (the producer would refuse it, and the worker would meet it again on
            // every restart): a bounded record that identifies it instead; the original stays in the input topic.
            let bounded = boundedDeadLetter(reason, input: input, headers: headers)
            bounded.key.withUnsafeBytes { key in
                publisher.publish(topic: outputs.deadLetterTopic, key: key, value: bounded.value, headers: bounded.headers)
            }
            truncatedDeadLetters &+= 1
        }
        published.deadLetters &+= 1
    }

    /// The bounded record of a dead letter: the reason, source, original size, SHA-256 and first bytes.
    mutating func boundedDeadLetter(
        _ reason: RejectReason, input: UnsafeRawBufferPointer, headers original: [(String, [UInt8])]
    ) -> (key: [UInt8], value: [UInt8], headers: [(String, [UInt8])]) {
        var headers = original
        let digest = SHA256.hex(input)
        headers.append(("feedloop.truncated", Array("true".utf8)))
        headers.append(("feedloop.original_size", Array(String(input.count).utf8)))
        headers.append(("feedloop.sha256", Array(digest.utf8)))
        let head = max(0, min(Self.deadLetterHeadBytes, (deadLetterLimit - 2048) / 2))
        encoder.begin()
        encoder.raw(#"{"schema":1,"kind":"truncated_dead_letter","reason":"#); encoder.string(reason.code)
        encoder.raw(#","field":"#)
        if let field = reason.field { encoder.string(field) } else { encoder.raw("null") }
        encoder.raw(#","detail":"#); encoder.string(reason.detail)
        encoder.raw(#","source":{"topic":"#); encoder.string(source.topic)
        encoder.raw(#","partition":"#); encoder.int(Int64(source.partition))
        encoder.raw(#","offset":"#); encoder.int(source.offset)
        encoder.raw(#","timestamp_ms":"#); encoder.int(source.timestampMs)
        encoder.raw(#"},"original_bytes":"#); encoder.int(Int64(input.count))
        encoder.raw(#","original_key_bytes":"#); encoder.int(Int64(key.count))
        encoder.raw(#","sha256":"#); encoder.string(digest)
        encoder.raw(#","head_base64":"#); encoder.base64(UnsafeRawBufferPointer(rebasing: input.prefix(head)))
        encoder.raw("}")
        return (Array(key.prefix(Self.deadLetterKeyBytes)), encoder.bytes, headers)
    }

    /// A dead letter's delivery report came back: forget its bounded record.
    mutating func deadLetterDelivered(token: UInt64) {
        pendingLargeDeadLetters.removeValue(forKey: token)
    }

    /// The broker refused a dead letter (too large for it): publishes its bounded record instead and returns true;
    /// false when there is none to publish (the failure then stands).
    mutating func deadLetterRefused(token: UInt64) -> Bool {
        guard let bounded = pendingLargeDeadLetters.removeValue(forKey: token) else { return false }
        bounded.key.withUnsafeBytes { key in
            publisher.publish(topic: outputs.deadLetterTopic, key: key, value: bounded.value, headers: bounded.headers)
        }
        truncatedDeadLetters &+= 1
        return true
    }

    /// Dead letters larger than this keep their bounded record until delivered.
    static var largeDeadLetterBytes: Int { 16_384 }
    /// Bytes of the original kept in a bounded dead letter (`head_base64`), and of its key.
    static var deadLetterHeadBytes: Int { 4096 }
    static var deadLetterKeyBytes: Int { 1024 }

    mutating func scored(_ event: borrowing EventView, probability: Double) {}

    mutating func labelled(_ example: LabelledExample, itemID item: UnsafeRawBufferPointer) {
        guard let before = example.itemBiasBefore, let after = example.itemBiasAfter, example.item >= 0 else { return }
        if example.item >= biasSlot.count { biasSlot.append(contentsOf: repeatElement(0, count: example.item + 1 - biasSlot.count)) }
        let slot = Int(biasSlot[example.item])
        if slot == 0 {
            biasShifts.append(BiasShift(
                item: example.item, old: before, new: after, updates: 1, positives: example.label ? 1 : 0,
                cause: example.cause, label: example.label, predicted: example.probability, source: source))
            biasSlot[example.item] = Int32(biasShifts.count)
        } else {
            biasShifts.withUnsafeMutableBufferPointer { shifts in
                let i = slot - 1
                shifts[i].new = after
                shifts[i].updates &+= 1
                if example.label { shifts[i].positives &+= 1 }
                shifts[i].cause = example.cause
                shifts[i].label = example.label
                shifts[i].predicted = example.probability
                shifts[i].source = source
            }
        }
    }

    mutating func processed(_ event: borrowing EventView) {
        if event.type == .purchase {
            encoder.begin()
            encoder.raw(#"{"schema":1,"kind":"suppress_item","user_id":"#)
            encoder.string(event.userID)
            encoder.raw(#","item_id":"#); encoder.string(event.itemID)
            encoder.raw(#","reason":"purchase""#)
            appendProvenance(source, timestamp: event.timestamp)
            publisher.publish(topic: outputs.adjustmentsTopic, key: event.userID, value: encoder.bytes, headers: [])
            published.adjustments &+= 1
        }
        if refreshDue {
            // The loop publishes a pending refresh before another user's event: this one extends the run.
            let user = event.userID
            assert(refreshUser.elementsEqual(user), "a user run must end before another user's event")
            refreshTimestamp = event.timestamp
            refreshSource = source
            return
        }
        guard refreshTypes[Int(event.type.rawValue)] else { return }
        if refreshIntervalMs > 0, !refreshLimiter.allows(Self.userKey(event.userID), at: event.timestamp) { return }
        refreshDue = true
        refreshTimestamp = event.timestamp
        refreshSource = source
        refreshFirstOffset = source.offset
        refreshExcluded.removeAll(keepingCapacity: true)
        refreshFirstMessageMs = source.timestampMs
        refreshUser.removeAll(keepingCapacity: true)
        refreshUser.append(contentsOf: event.userID)
    }

    // MARK: Publishing what is pending

    /// Whether a refresh is pending for a user other than `user` (its run ends before `user`'s event).
    func refreshDue(otherThan user: UnsafeRawBufferPointer) -> Bool {
        refreshDue && !refreshUser.elementsEqual(user)
    }

    /// Encodes and publishes the pending score refresh with the ranked items.
    /// Drops the pending refresh unpublished (the worker withholds scores from a stale replica).
    mutating func refreshSkipped() { refreshDue = false }

    mutating func publishScores(items: [(item: Int, probability: Double)], catalog: ItemCatalog) {
        refreshDue = false
        if refreshIntervalMs > 0 { refreshUser.withUnsafeBytes { refreshLimiter.record(Self.userKey($0), at: refreshTimestamp) } }
        encoder.begin()
        encoder.raw(#"{"schema":1,"user_id":"#)
        refreshUser.withUnsafeBytes { encoder.string($0) }
        encoder.raw(#","items":["#)
        for (n, entry) in items.enumerated() {
            if n > 0 { encoder.raw(",") }
            encoder.raw(#"{"item_id":"#)
            catalog.withID(of: entry.item) { encoder.string($0) }
            encoder.raw(#","score":"#); encoder.number(entry.probability)
            encoder.raw("}")
        }
        encoder.raw("]")
        appendProvenance(refreshSource, timestamp: refreshTimestamp, firstOffset: refreshFirstOffset)
        let value = encoder.bytes
        let token = ScoreToken.make(eventTimestampMs: refreshFirstMessageMs)
        refreshUser.withUnsafeBytes { publisher.publish(topic: outputs.scoresTopic, key: $0, value: value, headers: [], token: token) }
        published.scores &+= 1
    }

    /// Publishes the refreshed user's tower (`outputs.vectors`, two-tower MF), right after the run's scores.
    mutating func publishUserVector(_ vector: [Float], linear: Double) {
        encoder.begin()
        encoder.raw(#"{"schema":1,"kind":"user_vector","user_id":"#)
        refreshUser.withUnsafeBytes { encoder.string($0) }
        appendVector(vector, linear: linear)
        appendProvenance(refreshSource, timestamp: refreshTimestamp, firstOffset: refreshFirstOffset)
        let value = encoder.bytes
        refreshUser.withUnsafeBytes { publisher.publish(topic: outputs.adjustmentsTopic, key: $0, value: value, headers: []) }
        published.adjustments &+= 1
    }

    /// Publishes the tower of an item that learned in this batch (`outputs.vectors`), with its last update's source.
    mutating func publishItemVector(_ shift: BiasShift, _ vector: [Float], linear: Double, catalog: ItemCatalog) {
        catalog.withID(of: shift.item) { id in
            encoder.begin()
            encoder.raw(#"{"schema":1,"kind":"item_vector","item_id":"#)
            encoder.string(id)
            appendVector(vector, linear: linear)
            encoder.raw(#","updates":"#); encoder.int(Int64(shift.updates))
            appendProvenance(shift.source)
            publisher.publish(topic: outputs.adjustmentsTopic, key: id, value: encoder.bytes, headers: [])
        }
        published.adjustments &+= 1
    }

    mutating func appendVector(_ vector: [Float], linear: Double) {
        encoder.raw(#","vector":["#)
        for (i, x) in vector.enumerated() {
            if i > 0 { encoder.raw(",") }
            encoder.number(Double(x))
        }
        encoder.raw(#"],"linear":"#); encoder.number(linear)
    }

    /// Publishes the batch's item-bias shifts (those that moved at least `min_bias_shift`) and starts a new batch.
    mutating func publishBiasShifts(catalog: ItemCatalog) {
        guard !biasShifts.isEmpty else { return }
        for shift in biasShifts {
            biasSlot[shift.item] = 0
            let moved = abs(Double(shift.new) - Double(shift.old))
            guard shift.new != shift.old, moved >= outputs.minBiasShift else { continue }
            catalog.withID(of: shift.item) { id in
                encoder.begin()
                encoder.raw(#"{"schema":1,"kind":"item_bias","item_id":"#)
                encoder.string(id)
                encoder.raw(#","old":"#); encoder.number(Double(shift.old))
                encoder.raw(#","new":"#); encoder.number(Double(shift.new))
                encoder.raw(#","updates":"#); encoder.int(Int64(shift.updates))
                encoder.raw(#","positives":"#); encoder.int(Int64(shift.positives))
                encoder.raw(#","reason":"#); encoder.string(shift.cause.rawValue)
                encoder.raw(#","label":"#); encoder.raw(shift.label ? "true" : "false")
                encoder.raw(#","predicted":"#); encoder.number(shift.predicted)
                appendProvenance(shift.source)
                publisher.publish(topic: outputs.adjustmentsTopic, key: id, value: encoder.bytes, headers: [])
            }
            published.adjustments &+= 1
        }
        biasShifts.removeAll(keepingCapacity: true)
    }

    mutating func appendProvenance(_ source: SourceMessage, timestamp: Int64? = nil, firstOffset: Int64? = nil) {
        encoder.raw(#","pipeline":"#); encoder.string(pipelineName)
        encoder.raw(#","model_version":"#); encoder.int(Int64(bitPattern: modelVersion))
        encoder.raw(#","source":{"topic":"#); encoder.string(source.topic)
        encoder.raw(#","partition":"#); encoder.int(Int64(source.partition))
        encoder.raw(#","offset":"#); encoder.int(source.offset)
        if let firstOffset { encoder.raw(#","first_offset":"#); encoder.int(firstOffset) }
        if let timestamp { encoder.raw(#","ts":"#); encoder.int(timestamp) }
        encoder.raw("}}")
    }

    /// FNV-1a 64 of the user id (never 0, the limiter's empty key).
    static func userKey(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h == 0 ? 1 : h
    }
}
