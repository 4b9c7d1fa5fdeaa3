import Events
import Learning
import Pipelines

/// `feedloop replay --members N`: what N workers of one consumer group learn from one log, simulated
/// deterministically, so that the cost of scaling out in quality is known before deploying.
///
/// Each event goes to the member that owns its user (the input key): member = FNV-1a 64 of the user id mod N — as a
/// keyed topic spreads users over partitions and a group spreads partitions over members. Every member holds a
/// replica of the model and learns on its own events, in log order. A member hands its increments (``ModelIncrements``)
/// to every other member each time it has learned `sync.every` examples (fewer while the model is young,
/// ``SyncSpec/examplesBeforeExchange(version:)``, as a worker does), or its event time has moved `sync.intervalMs`
/// past its last exchange — event time, not wall time, so the result is the same on every run. The
/// increments reach the others `syncDelayEvents` events of the log after they were taken (0: at once): the transport
/// of a real group (the producer's linger, the broker, the reader's fetch), in events because the simulation has no
/// wall clock — at R events/s of input, D ms is R·D/1000 events. With N = 1 it is the plain replay. Quality is
/// progressive validation over all members' examples together (each prediction made by the member that learned the
/// example, on its replica at that moment). The item catalogs (the candidate pool's popularity) are not exchanged.
public struct MemberSimulation {
    public private(set) var members: [Pipeline]
    /// The exchange's triggers (`enabled` is not read: both triggers off means no exchange).
    public let sync: SyncSpec
    /// Events of the log between an exchange and its arrival at the other members.
    public let syncDelayEvents: UInt64
    /// Progressive validation over every member's labelled examples.
    public private(set) var metrics: ProgressiveMetrics
    /// Exchanges (one member's increments to all the others), the slots they carried, and their size uncompressed.
    public private(set) var exchanges = 0
    public private(set) var slotsExchanged = 0
    public private(set) var bytesExchanged = 0
    public private(set) var events: UInt64 = 0
    /// Seconds spent in the members' pipeline steps, and in taking and applying increments (for the cost model:
    /// what the exchange adds to the work per event).
    public private(set) var stepSeconds = 0.0
    public private(set) var exchangeSeconds = 0.0
    /// Per member: its labelled examples at which the count trigger asks for its next exchange.
    var examplesDue: [UInt64]
    var timeAtSync: [Int64]
    var router: EventDecoder
    /// Increments taken and not yet arrived, in the order taken: added to every member but `from` once `events`
    /// reaches `due`.
    var inTransit: [(due: UInt64, from: Int, increments: ModelIncrements)] = []
    var arrived = 0

    /// `sync.every` 0 or `sync.intervalMs` 0: that trigger is off; both off: the members never exchange (what
    /// separate models per worker learn).
    public init(spec: PipelineSpec, members n: Int, sync: SyncSpec, syncDelayEvents: UInt64 = 0) {
        precondition(n >= 1, "at least one member")
        members = (0..<n).map { _ in
            var p = Pipeline(spec: spec)
            p.trackModelIncrements()
            return p
        }
        self.sync = sync
        self.syncDelayEvents = syncDelayEvents
        metrics = ProgressiveMetrics(
            windowSize: spec.evaluation.window, calibrationBins: spec.evaluation.calibrationBins, aucBins: spec.evaluation.aucBins)
        examplesDue = Array(repeating: sync.examplesDue(from: 0, version: 0), count: n)
        timeAtSync = Array(repeating: .min, count: n)
        router = EventDecoder(contextKeys: [])
    }

    /// The member that owns `user`.
    static func member(of user: UnsafeRawBufferPointer, among n: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in user { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return Int(h % UInt64(n))
    }

    /// One batch of log lines.
    public mutating func feed(_ lines: UnsafeBufferPointer<Range<Int>>, bytes: UnsafeRawBufferPointer) {
        var sink = SharedMetricsSink()
        swap(&sink.metrics, &metrics)
        let start = monotonicSeconds()
        let exchangeBefore = exchangeSeconds
        for line in lines {
            let input = UnsafeRawBufferPointer(rebasing: bytes[line])
            // Undecodable input goes to member 0, which rejects it.
            let m = (try? router.decode(input)).map { Self.member(of: $0.userID, among: members.count) } ?? 0
            members[m].process(input, sink: &sink)
            events &+= 1
            if arrived < inTransit.count, inTransit[arrived].due <= events { deliver(upTo: events) }
            exchangeIfDue(m)
        }
        stepSeconds += monotonicSeconds() - start - (exchangeSeconds - exchangeBefore)
        swap(&sink.metrics, &metrics)
    }

    mutating func exchangeIfDue(_ m: Int) {
        guard members.count > 1 else { return }
        let examples = members[m].counters.labelled
        let time = members[m].maxEventTime
        if timeAtSync[m] == .min { timeAtSync[m] = time }
        let byCount = examples >= examplesDue[m]
        let byTime = sync.intervalMs > 0 && time != .min && time &- timeAtSync[m] >= sync.intervalMs
        guard byCount || byTime else { return }
        examplesDue[m] = sync.examplesDue(from: examples, version: members[m].model.version)
        timeAtSync[m] = time
        let start = monotonicSeconds()
        defer { exchangeSeconds += monotonicSeconds() - start }
        let increments = members[m].takeModelIncrements()
        guard !increments.slots.isEmpty else { return }
        if syncDelayEvents > 0 {
            inTransit.append((events &+ syncDelayEvents, m, increments))
        } else {
            for j in members.indices where j != m { members[j].applyModelIncrements(increments) }
        }
        exchanges += 1
        slotsExchanged += increments.slots.count
        bytesExchanged += increments.byteCount
    }

    /// Adds the increments due by `event` to every member but their publisher, in the order they were taken.
    mutating func deliver(upTo event: UInt64) {
        let start = monotonicSeconds()
        defer { exchangeSeconds += monotonicSeconds() - start }
        while arrived < inTransit.count, inTransit[arrived].due <= event {
            let (_, from, increments) = inTransit[arrived]
            for j in members.indices where j != from { members[j].applyModelIncrements(increments) }
            arrived += 1
        }
        if arrived == inTransit.count {
            inTransit.removeAll(keepingCapacity: true)
            arrived = 0
        }
    }

    /// Ends the log: the increments still in transit arrive, then every member's open windows close (labelled
    /// negative), as in a plain replay.
    public mutating func finish() {
        deliver(upTo: .max)
        var sink = SharedMetricsSink()
        swap(&sink.metrics, &metrics)
        for m in members.indices { members[m].finish(sink: &sink) }
        swap(&sink.metrics, &metrics)
    }

    /// Examples learned by each member.
    public var examplesPerMember: [UInt64] { members.map(\.counters.examples) }
}

/// Records every labelled example into one progressive validation (the members' together).
struct SharedMetricsSink: PipelineSink {
    var metrics = ProgressiveMetrics(windowSize: 1, calibrationBins: 1, aucBins: 2)
    mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) {}
    mutating func scored(_ event: borrowing EventView, probability: Double) {}
    mutating func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer) {
        metrics.record(probability: example.probability, label: example.label, weight: example.weight)
    }
    mutating func processed(_ event: borrowing EventView) {}
}
