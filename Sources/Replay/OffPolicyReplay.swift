import Events
import Foundation
import Learning
import Pipelines

/// Off-policy evaluation (`feedloop replay --decisions D --input E --policy P`): the value of a target policy — the
/// expected reward of the item it would put first — estimated from decisions another policy logged, by IPS, SNIPS
/// and doubly robust (``OffPolicyEstimator``), while the pipeline replays the events as a plain replay does.
///
/// **One clock.** The decision log and the event log are merged by time, in file order: before each event, the
/// decisions with `ts` ≤ the event's are taken (a decision goes before events of its own millisecond). A decision
/// is scored when it is taken — each candidate's probability from the pipeline's model as it stands, before it
/// learns any event at or after the decision (predict, then learn; no look-ahead) — and the events then go through
/// the pipeline's step (``Pipeline/decode(_:sink:)``, ``Pipeline/apply(_:partition:sink:)``) as in a replay.
///
/// **Reward.** A decision's reward is 1 when an event of one of the pipeline's feedback types (`label.positives`:
/// what its model predicts) carries the decision's `ranking_id` and the item id of the item the decision put first,
/// with `ts` ≤ the decision's `ts` + the pipeline's attribution window; else 0. The decision closes when the
/// merged time passes that deadline by the allowed lateness (or the events end), and only then enters the
/// estimators. Feedback events that carry a ranking id and are not a reward are counted by why, never dropped
/// silently: on another item of the ranking, repeated, after the window, for a ranking not in the log (or not yet:
/// a reward before its decision). (A malformed `ranking_id` is the event decoder's to refuse: a dead letter.)
///
/// **Learning from the decisions.** With `serving.learn_from_rankings` the pipeline also learns from the decision
/// log as the worker does (``Pipeline/applyDecision(_:request:partition:sink:)``): each decision taken — after it
/// was scored — makes its shown items pending examples on a partition of their own, and feedback carrying its
/// `ranking_id` labels them in the pipeline's step (a repeated ranking id is not learned twice).
public struct OffPolicyReplay {
    /// The pipeline whose model scores the candidates; it learns from the events as a replay does.
    public internal(set) var pipeline: Pipeline
    public let policy: TargetPolicy
    public internal(set) var estimator = OffPolicyEstimator()
    public internal(set) var counters = OffPolicyCounters()
    /// The pipeline's partition index of the decision log when it learns from rankings, else nil.
    let rankingsPartition: Int?
    let rewardTypes: [Bool]
    let windowMs: Int64
    let latenessMs: Int64
    /// Decisions taken and not closed, in the order taken (`open[k]` has sequence number `openBase + k`).
    var open: [OpenDecision] = []
    var openHead = 0
    var openBase = 0
    /// Sequence number of each open decision, by ranking id; ids of the closed ones.
    var openIndex: [String: Int] = [:]
    var closed: Set<String> = []
    /// The merged stream's time: the greatest `ts` of a decision or event taken.
    var time = Int64.min
    var predictions: [Double] = []
    var margins: [Double] = []
    /// The ranking API's exploration (`serving.exploration`), for ``TargetPolicy/served``.
    public let exploration: Exploration
    /// When set (empty), for each decision taken, in the order taken, its ranking id and the candidates the target
    /// policy puts first with their probabilities (those above 0; one with probability 1 for a deterministic
    /// choice; `logged` gives none). For checking an estimate against a known world.
    public var choices: [(rankingID: String, first: [(itemID: String, probability: Double)])]?

    struct OpenDecision {
        var rankingID: String
        var firstItem: [UInt8]
        var deadline: Int64
        var propensity: Double
        var targetProbability: Double
        var loggedPrediction: Double
        var directMethod: Double
        var rewarded = false
    }

    public init(spec: PipelineSpec, policy: TargetPolicy) {
        pipeline = Pipeline(spec: spec)
        rankingsPartition = spec.serving.learnFromRankings
            ? pipeline.partitionIndex(topic: spec.serving.rankingsTopic, partition: 0) : nil
        self.policy = policy
        exploration = spec.serving.exploration
        var types = Array(repeating: false, count: EventType.allCases.count)
        for type in spec.label.positiveTypes { types[Int(type.rawValue)] = true }
        rewardTypes = types
        windowMs = spec.label.attributionWindowMs
        latenessMs = spec.label.allowedLatenessMs
    }

    /// The event types whose events are rewards, by name.
    public var rewardTypeNames: [String] {
        EventType.allCases.filter { rewardTypes[Int($0.rawValue)] }.map(\.name)
    }

    /// The attribution window of a reward after its decision (ms).
    public var rewardWindowMs: Int64 { windowMs }

    /// Replays `events` against the decisions of `decisions`. Bad event lines go to `deadLetters`, bad decision
    /// lines to `decisionDeadLetters` (both counted); the run fails only on I/O (or a line over the reader's bound).
    public mutating func run(
        decisions: String, events: String, progress: Progress? = nil,
        deadLetters: inout DeadLetterFile?, decisionDeadLetters: inout DeadLetterFile?
    ) throws(ReplayError) {
        var source = try DecisionSource(path: decisions, contextKeys: pipeline.contextKeys, type: pipeline.requestEventType)
        var reader = try LineFileReader(path: events)
        var sink = ReplaySink(deadLetters: deadLetters)
        var failure: ReplayError?
        var progress = progress
        while failure == nil, try reader.nextBatch({ lines, bytes in
            for line in lines where failure == nil {
                let input = UnsafeRawBufferPointer(rebasing: bytes[line])
                guard let event = pipeline.decode(input, sink: &sink) else { continue }
                do throws(ReplayError) {
                    try take(upTo: event.timestamp, from: &source, deadLetters: &decisionDeadLetters, sink: &sink)
                } catch {
                    failure = error
                    return
                }
                advance(to: event.timestamp)
                if rewardTypes[Int(event.type.rawValue)] { attribute(event) }
                pipeline.apply(event, sink: &sink)
            }
        }) {
            progress?.update(events: pipeline.counters.events, bytes: reader.bytesRead, total: reader.fileSize, metrics: pipeline.metrics)
        }
        if let failure { throw failure }
        try take(upTo: .max, from: &source, deadLetters: &decisionDeadLetters, sink: &sink)
        while openHead < open.count { close(open[openHead]); openHead += 1 }
        pipeline.finish(sink: &sink)
        deadLetters = sink.deadLetters
        counters.decisionsRejected = source.rejected
        counters.decisionsRejectedByReason = source.rejectedByReason
        counters.firstRejections = source.firstRejections
        progress?.finish()
    }

    /// Takes (scores and opens) the decisions of `source` up to time `t`; learning from rankings, the pipeline then
    /// makes their shown items pending examples.
    mutating func take(
        upTo t: Int64, from source: inout DecisionSource, deadLetters: inout DeadLetterFile?, sink: inout ReplaySink
    ) throws(ReplayError) {
        while let head = try source.head(deadLetters: &deadLetters), head.decision.timestamp <= t {
            let decision = head.decision
            advance(to: decision.timestamp)
            if openIndex[decision.rankingID] != nil || closed.contains(decision.rankingID) {
                counters.repeatedRankings += 1
            } else {
                open(decision, head.request)
                if let rankingsPartition {
                    pipeline.applyDecision(decision, request: head.request, partition: rankingsPartition, sink: &sink)
                }
            }
            source.take()
        }
    }

    /// Scores the candidates of `decision` for its request and opens it.
    mutating func open(_ d: LoggedDecision, _ request: EventView) {
        counters.unknownCandidates += UInt64(pipeline.margins(of: d.candidates, for: request, into: &margins))
        predictions.removeAll(keepingCapacity: true)
        for m in margins { predictions.append(sigmoid(m)) }
        let propensity = d.items[0].propensity
        let (pi, dm, first) = policy.evaluate(
            predictions: predictions, margins: margins, loggedIndex: d.loggedIndex, propensity: propensity, exploration: exploration)
        if choices != nil, let first {
            choices?.append((d.rankingID, first.indices.filter { first[$0] > 0 }.map { (d.candidates[$0], first[$0]) }))
        }
        counters.decisions += 1
        openIndex[d.rankingID] = openBase + open.count
        open.append(OpenDecision(
            rankingID: d.rankingID, firstItem: Array(d.items[0].itemID.utf8), deadline: d.timestamp &+ windowMs,
            propensity: propensity, targetProbability: pi, loggedPrediction: predictions[d.loggedIndex], directMethod: dm))
    }

    /// Moves the clock to `t`: decisions whose deadline passed by the allowed lateness close.
    mutating func advance(to t: Int64) {
        guard t > time else { return }
        time = t
        let watermark = t &- latenessMs
        while openHead < open.count, open[openHead].deadline < watermark {
            close(open[openHead])
            openHead += 1
        }
        if openHead > 4096 && openHead * 2 > open.count {
            open.removeFirst(openHead)
            openBase += openHead
            openHead = 0
        }
    }

    mutating func close(_ d: OpenDecision) {
        estimator.record(
            propensity: d.propensity, targetProbability: d.targetProbability, reward: d.rewarded ? 1 : 0,
            loggedPrediction: d.loggedPrediction, directMethod: d.directMethod)
        if d.rewarded { counters.rewarded += 1 }
        openIndex[d.rankingID] = nil
        closed.insert(d.rankingID)
    }

    /// Attributes a feedback event to the decision whose ranking it names, or counts why not.
    mutating func attribute(_ event: EventView) {
        guard event.hasRanking else {
            counters.feedbackWithoutRanking += 1
            return
        }
        let id = String(decoding: event.rankingID, as: UTF8.self)
        guard let seq = openIndex[id] else {
            if closed.contains(id) { counters.lateRewards += 1 } else { counters.unknownRankingRewards += 1 }
            return
        }
        let k = seq - openBase
        if event.timestamp > open[k].deadline {
            counters.lateRewards += 1
        } else if !event.itemID.elementsEqual(open[k].firstItem) {
            counters.otherItemRewards += 1
        } else if open[k].rewarded {
            counters.repeatedRewards += 1
        } else {
            open[k].rewarded = true
        }
    }
}

/// What an off-policy replay counted; everything not used is here, by reason.
public struct OffPolicyCounters: Sendable, Equatable {
    /// Decisions scored (valid lines with a new ranking id).
    public var decisions: UInt64 = 0
    /// Decisions whose first item got a reward in its window.
    public var rewarded: UInt64 = 0
    /// Decision lines rejected (by reason code), and the first messages (`file:line: reason`).
    public var decisionsRejected: UInt64 = 0
    public var decisionsRejectedByReason: [String: UInt64] = [:]
    public var firstRejections: [String] = []
    /// Decisions whose ranking id was already taken (the later ones are skipped).
    public var repeatedRankings: UInt64 = 0
    /// Candidates the catalog did not know, scored from their id (and the request's item-side context) alone.
    public var unknownCandidates: UInt64 = 0
    /// Feedback events carrying a ranking id that are no reward: on another item than the first, a second reward of
    /// the same decision, after the window, for a ranking the log did not have (yet).
    public var otherItemRewards: UInt64 = 0
    public var repeatedRewards: UInt64 = 0
    public var lateRewards: UInt64 = 0
    public var unknownRankingRewards: UInt64 = 0
    /// Always 0 now, kept for the report's readers (`bad_ranking_id`): the event decoder reads `ranking_id` and
    /// refuses a malformed one (`wrong_type`, `empty_field`: a dead letter, counted with the rejected events).
    public var badRankingReferences: UInt64 = 0
    /// Feedback events without a ranking id (not from a ranking; the pipeline still learns them).
    public var feedbackWithoutRanking: UInt64 = 0
}
