import CoreMetrics
import Metrics
import Pipelines

/// The worker's metrics (swift-metrics; exported by the Prometheus endpoint).
struct WorkerMetrics {
    let events: Counter
    let rejected: Counter
    let truncatedDeadLetters: Counter
    let deliveryFailures: Counter
    let checkpoints: Counter
    let checkpointDuration: Timer
    let scoreDelay: Timer
    let scoreDelivered: Timer
    let updateLatency: Timer
    let lagGauge: Gauge
    let stalledGauge: Gauge
    let checkpointAgeGauge: Gauge
    let modelVersion: Gauge
    let logloss: Gauge
    let auc: Gauge
    let scores: Gauge
    let adjustments: Gauge
    let catalogItems: Gauge
    let catalogRefused: Gauge
    let catalogEvicted: Gauge
    let pendingExamples: Gauge
    let overflowNegatives: Gauge
    let unattributedFeedback: Gauge
    /// The decision log as an input (`serving.learn_from_rankings`).
    let rankings: Gauge
    let rankingsRejected: Gauge
    let rankingExamples: Gauge
    let rewards: Gauge
    let rewardsAttributed: Gauge
    let rewardsUnknownRanking: Gauge
    var lastEvents: UInt64 = 0
    var lastRejected: UInt64 = 0
    var lastTruncated: UInt64 = 0

    init(pipeline: String) {
        let d = [("pipeline", pipeline)]
        events = Counter(label: "feedloop_events_total", dimensions: d)
        rejected = Counter(label: "feedloop_dead_letters_total", dimensions: d)
        truncatedDeadLetters = Counter(label: "feedloop_dead_letters_truncated_total", dimensions: d)
        deliveryFailures = Counter(label: "feedloop_delivery_failures_total", dimensions: d)
        checkpoints = Counter(label: "feedloop_checkpoints_total", dimensions: d)
        scoreDelay = Timer(label: "feedloop_event_to_score_seconds", dimensions: d, preferredDisplayUnit: .seconds)
        scoreDelivered = Timer(label: "feedloop_event_to_score_delivered_seconds", dimensions: d, preferredDisplayUnit: .seconds)
        checkpointDuration = Timer(label: "feedloop_checkpoint_seconds", dimensions: d, preferredDisplayUnit: .seconds)
        updateLatency = Timer(label: "feedloop_event_seconds", dimensions: d, preferredDisplayUnit: .seconds)
        lagGauge = Gauge(label: "feedloop_consumer_lag", dimensions: d)
        stalledGauge = Gauge(label: "feedloop_stalled", dimensions: d)
        stalledGauge.record(0)
        checkpointAgeGauge = Gauge(label: "feedloop_checkpoint_age_seconds", dimensions: d)
        modelVersion = Gauge(label: "feedloop_model_version", dimensions: d)
        logloss = Gauge(label: "feedloop_progressive_logloss", dimensions: d)
        auc = Gauge(label: "feedloop_progressive_auc", dimensions: d)
        scores = Gauge(label: "feedloop_scores_published", dimensions: d)
        adjustments = Gauge(label: "feedloop_adjustments_published", dimensions: d)
        catalogItems = Gauge(label: "feedloop_catalog_items", dimensions: d)
        catalogRefused = Gauge(label: "feedloop_catalog_refused_items", dimensions: d)
        catalogEvicted = Gauge(label: "feedloop_catalog_evicted_items", dimensions: d)
        pendingExamples = Gauge(label: "feedloop_pending_examples", dimensions: d)
        overflowNegatives = Gauge(label: "feedloop_label_overflow_negatives", dimensions: d)
        unattributedFeedback = Gauge(label: "feedloop_unattributed_feedback", dimensions: d)
        rankings = Gauge(label: "feedloop_rankings_read", dimensions: d)
        rankingsRejected = Gauge(label: "feedloop_rankings_rejected", dimensions: d)
        rankingExamples = Gauge(label: "feedloop_ranking_examples", dimensions: d)
        rewards = Gauge(label: "feedloop_rewards", dimensions: d)
        rewardsAttributed = Gauge(label: "feedloop_rewards_attributed", dimensions: d)
        rewardsUnknownRanking = Gauge(label: "feedloop_rewards_unknown_ranking", dimensions: d)
    }

    /// Mean per-event processing time of a poll batch.
    func batch(events n: Int, nanoseconds: UInt64) {
        updateLatency.recordNanoseconds(Int64(nanoseconds) / Int64(max(n, 1)))
    }

    mutating func observe(
        pipeline: Pipeline, sink published: (scores: UInt64, adjustments: UInt64, deadLetters: UInt64), truncatedDeadLetters truncated: UInt64
    ) {
        truncatedDeadLetters.increment(by: Int64(truncated - lastTruncated))
        lastTruncated = truncated
        let e = pipeline.counters.events
        events.increment(by: Int64(e - lastEvents))
        lastEvents = e
        let r = pipeline.counters.rejected
        rejected.increment(by: Int64(r - lastRejected))
        lastRejected = r
        modelVersion.record(Double(pipeline.model.version))
        if pipeline.metrics.count > 0 {
            logloss.record(pipeline.metrics.logloss)
            auc.record(pipeline.metrics.auc)
        }
        scores.record(Double(published.scores))
        adjustments.record(Double(published.adjustments))
        catalogItems.record(Double(pipeline.catalog.count))
        catalogRefused.record(Double(pipeline.catalog.overflow))
        catalogEvicted.record(Double(pipeline.catalog.evicted))
        pendingExamples.record(Double(pipeline.join.pendingCount))
        overflowNegatives.record(Double(pipeline.counters.overflowNegatives))
        unattributedFeedback.record(Double(pipeline.counters.unattributedFeedback))
        let c = pipeline.counters
        rankings.record(Double(c.rankings))
        rankingsRejected.record(Double(c.rankingsRejected))
        rankingExamples.record(Double(c.rankingExamples))
        rewards.record(Double(c.rewards))
        rewardsAttributed.record(Double(c.rewardsAttributed))
        rewardsUnknownRanking.record(Double(c.rewardsUnknownRanking))
    }

    func lag(_ value: Int64) { if value >= 0 { lagGauge.record(Double(value)) } }
    /// 1 while the progress watchdog reports a stalled consumer (input waits, nothing handled), else 0.
    func stalled(_ value: Bool) { stalledGauge.record(value ? 1 : 0) }
    func checkpointAge(_ seconds: Double) { checkpointAgeGauge.record(seconds) }
    /// A checkpoint was written; `nanoseconds` is the time the loop stood still for it (output flush, state
    /// serialization, write and fsync).
    func checkpointWritten(nanoseconds: UInt64) {
        checkpoints.increment()
        checkpointDuration.recordNanoseconds(Int64(nanoseconds))
    }
    /// From the Kafka timestamp of the first input message a score refresh covers to the refresh being handed to
    /// the producer: the input's hop through the broker plus the worker's queueing and work (ms resolution).
    func scoreDelay(milliseconds: Int64) { scoreDelay.recordMilliseconds(max(0, milliseconds)) }
    /// From the Kafka timestamp of the first input message a score refresh covers to the broker's acknowledgement
    /// of the score message (its delivery report; ms resolution): event produced → refreshed score delivered.
    func scoreDelivered(milliseconds: Int64) { scoreDelivered.recordMilliseconds(max(0, milliseconds)) }
    func deliveryFailure() { deliveryFailures.increment() }
}
