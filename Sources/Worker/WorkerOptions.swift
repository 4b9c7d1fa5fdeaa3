import Events
import Pipelines

/// Everything the worker needs besides the pipeline definition.
public struct WorkerOptions: Sendable {
    /// The validated pipeline.
    public var spec: PipelineSpec
    /// Bootstrap brokers, `host:port[,host:port…]`.
    public var brokers: String
    /// Consumer group.
    public var groupID: String = "feedloop"
    /// Group session timeout (librdkafka default 45 s). Tansu holds a group join for about half of it.
    public var sessionTimeoutSeconds: Double? = nil
    /// Checkpoint directory (one per worker).
    public var checkpointDirectory: String = ".checkpoints"
    /// Checkpoint after this many events…
    public var checkpointEveryEvents: Int = 100_000
    /// …or this many seconds, whichever comes first (when there were events).
    public var checkpointEverySeconds: Double = 10
    /// Checkpoint files kept.
    public var checkpointsKept: Int = 3
    /// Prometheus endpoint; port 0 picks a free port, nil disables it.
    public var metricsHost: String = "127.0.0.1"
    public var metricsPort: Int? = 9464
    /// Event types after which the user's scores are refreshed.
    public var refreshTypes: Set<EventType> = [.click, .purchase, .addToCart]
    /// At most one refresh per user per this much event time (0 = after every refresh-type event).
    public var refreshIntervalMs: Int64 = 0
    /// Stop by itself (gracefully) after this long without input; nil = run until signalled.
    public var exitWhenIdleSeconds: Double? = nil
    /// Write the model snapshot here on graceful exit (for comparisons and hand-off).
    public var finalSnapshotPath: String? = nil
    /// Write a JSON summary here on graceful exit (events, examples, positions, model version, outputs).
    public var summaryPath: String? = nil
    /// Progress line period on the log, seconds (0 = off).
    public var progressEverySeconds: Double = 5
    /// Beaten once per loop turn, for the metrics server's `/healthz` (nil: no liveness tracking).
    public var heartbeat: LoopHeartbeat? = nil
    /// Messages taken per poll (at most a quarter of `ItemCatalog.evictionGuardEvents`).
    public var maxMessagesPerPoll: Int = 4096
    /// Raw librdkafka properties for consumer, producer and admin (SASL/SSL…). Secrets are never logged.
    public var kafkaProperties: [String: String] = [:]
    /// Create the output topics when missing (1 partition each; `scores` compacted).
    public var createOutputTopics: Bool = true

    /// The pipeline as the worker runs it: the sampled ranking evaluation is an offline metric (replay) and is
    /// not run online, where it would cost 101 predictions per purchase.
    public var onlineSpec: PipelineSpec {
        var s = spec
        s.evaluation.ranking = nil
        return s
    }

    public init(spec: PipelineSpec, brokers: String) {
        self.spec = spec
        self.brokers = brokers
    }
}
