import Events
import Learning
import Pipelines

/// Where the worker's sink sends encoded messages (the Kafka producer in production).
public protocol OutputPublisher {
    /// Sends one message. `headers` are (name, value) pairs.
    mutating func publish(topic: String, key: UnsafeRawBufferPointer, value: [UInt8], headers: [(String, [UInt8])])
}

/// The input message being processed, for provenance in outputs and dead letters.
public struct SourceMessage: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }
}

/// Turns what the pipeline did into output messages: dead letters, adjustments and score refreshes.
///
/// - Rejected input → the dead-letter topic, original key and bytes, headers `feedloop.reason`,
///   `feedloop.field`, `feedloop.detail`, `feedloop.source` (topic/partition/offset).
/// - A labelled example whose update moved the item's bias → `adjustments` `item_bias` (old/new).
/// - Feedback (a purchase) → `adjustments` `suppress_item` for that user (downstream caches drop it from the
///   user's recommendations).
/// - After an event of a refresh type, at most once per user per `refreshIntervalMs` of event time →
///   `scores`: the user's top-K catalog items.
struct WorkerSink<P: OutputPublisher>: PipelineSink {
    var publisher: P
    var encoder = OutputEncoder()
    var source = SourceMessage(topic: "", partition: 0, offset: 0)
    var key: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    let outputs: OutputSpec
    let pipelineName: String
    let refreshTypes: [Bool]
    let refreshIntervalMs: Int64
    /// Last refresh per user key (event time).
    var lastRefresh: [UInt64: Int64] = [:]
    /// Users whose scores should be refreshed after the current event (set in `processed`).
    var refreshDue = false
    var modelVersion: UInt64 = 0
    var published: (scores: UInt64, adjustments: UInt64, deadLetters: UInt64) = (0, 0, 0)

    init(publisher: P, spec: PipelineSpec, refreshTypes: Set<EventType>, refreshIntervalMs: Int64) {
        self.publisher = publisher
        self.outputs = spec.outputs
        self.pipelineName = spec.name
        var types = Array(repeating: false, count: EventType.allCases.count)
        for t in refreshTypes { types[Int(t.rawValue)] = true }
        self.refreshTypes = types
        self.refreshIntervalMs = refreshIntervalMs
    }

    mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) {
        let headers: [(String, [UInt8])] = [
            ("feedloop.reason", Array(reason.code.utf8)),
            ("feedloop.field", Array((reason.field ?? "").utf8)),
            ("feedloop.detail", Array(reason.detail.utf8)),
            ("feedloop.source", Array("\(source.topic)/\(source.partition)/\(source.offset)".utf8)),
        ]
        publisher.publish(topic: outputs.deadLetterTopic, key: key, value: Array(input), headers: headers)
        published.deadLetters &+= 1
    }

    mutating func scored(_ event: borrowing EventView, probability: Double) {}

    mutating func labelled(_ example: LabelledExample, itemID item: UnsafeRawBufferPointer) {
        guard let before = example.itemBiasBefore, let after = example.itemBiasAfter, before != after, item.count > 0 else { return }
        encoder.begin()
        encoder.raw(#"{"schema":1,"kind":"item_bias","item_id":"#)
        encoder.string(item)
        encoder.raw(#","old":"#); encoder.number(Double(before))
        encoder.raw(#","new":"#); encoder.number(Double(after))
        encoder.raw(#","reason":"#); encoder.string(example.cause.rawValue)
        encoder.raw(#","label":"#); encoder.raw(example.label ? "true" : "false")
        encoder.raw(#","predicted":"#); encoder.number(example.probability)
        appendProvenance()
        publisher.publish(topic: outputs.adjustmentsTopic, key: item, value: encoder.bytes, headers: [])
        published.adjustments &+= 1
    }

    mutating func processed(_ event: borrowing EventView) {
        if event.type == .purchase {
            encoder.begin()
            encoder.raw(#"{"schema":1,"kind":"suppress_item","user_id":"#)
            encoder.string(event.userID)
            encoder.raw(#","item_id":"#); encoder.string(event.itemID)
            encoder.raw(#","reason":"purchase""#)
            appendProvenance(timestamp: event.timestamp)
            publisher.publish(topic: outputs.adjustmentsTopic, key: event.userID, value: encoder.bytes, headers: [])
            published.adjustments &+= 1
        }
        refreshDue = false
        guard refreshTypes[Int(event.type.rawValue)] else { return }
        let userKey = Self.userKey(event.userID)
        if let last = lastRefresh[userKey], refreshIntervalMs > 0, event.timestamp < last &+ refreshIntervalMs { return }
        lastRefresh[userKey] = event.timestamp
        refreshDue = true
        refreshTimestamp = event.timestamp
        refreshUser.removeAll(keepingCapacity: true)
        refreshUser.append(contentsOf: event.userID)
    }

    var refreshTimestamp: Int64 = 0
    var refreshUser: [UInt8] = []

    /// Encodes and publishes the score refresh due after the last event, with the ranked items.
    mutating func publishScores(items: [(item: Int, probability: Double)], catalog: ItemCatalog) {
        refreshDue = false
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
        appendProvenance(timestamp: refreshTimestamp)
        let value = encoder.bytes
        refreshUser.withUnsafeBytes { publisher.publish(topic: outputs.scoresTopic, key: $0, value: value, headers: []) }
        published.scores &+= 1
    }

    mutating func appendProvenance(timestamp: Int64? = nil) {
        encoder.raw(#","pipeline":"#); encoder.string(pipelineName)
        encoder.raw(#","model_version":"#); encoder.int(Int64(bitPattern: modelVersion))
        encoder.raw(#","source":{"topic":"#); encoder.string(source.topic)
        encoder.raw(#","partition":"#); encoder.int(Int64(source.partition))
        encoder.raw(#","offset":"#); encoder.int(source.offset)
        if let timestamp { encoder.raw(#","ts":"#); encoder.int(timestamp) }
        encoder.raw("}}")
    }

    static func userKey(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}
