import Events
import Foundation
import Pipelines

/// Everything the worker needs besides the pipeline definition.
public struct WorkerOptions: Sendable {
    /// The validated pipeline.
    public var spec: PipelineSpec
    /// Bootstrap brokers, `host:port[,host:port…]`.
    public var brokers: String
    /// Consumer group.
    public var groupID: String = "feedloop"
    /// This worker's id in the group's model exchange (`sync:`); nil: the one kept in the checkpoint directory.
    public var memberID: String? = nil
    /// Group session timeout (librdkafka default 45 s). Tansu holds a group join for about half of it.
    public var sessionTimeoutSeconds: Double? = nil

    /// The group's session timeout in effect: `sessionTimeoutSeconds`, else `session.timeout.ms` from the Kafka
    /// properties, else librdkafka's default (45 s).
    public var effectiveSessionTimeoutSeconds: Double {
        if let sessionTimeoutSeconds { return sessionTimeoutSeconds }
        if let ms = kafkaProperties["session.timeout.ms"].flatMap(Double.init) { return ms / 1000 }
        return 45
    }
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
    /// Stop by itself (gracefully) after this long without input, once caught up (lag 0 on every assigned
    /// partition); nil = run until signalled.
    public var exitWhenIdleSeconds: Double? = nil
    /// Input waiting and no event handled for this long: `/healthz` answers 503 (see ``ProgressWatchdog``).
    public var stallAfterSeconds: Double = 60
    /// A graceful stop (SIGTERM) ends within this long: when outputs cannot be delivered in time the worker stops
    /// without a checkpoint (a restart replays from the last one) and exits non-zero.
    public var shutdownTimeoutSeconds: Double = 30
    /// Write the model snapshot here on graceful exit (for comparisons and hand-off).
    public var finalSnapshotPath: String? = nil
    /// Write a JSON summary here on graceful exit (events, examples, positions, model version, outputs).
    public var summaryPath: String? = nil
    /// Progress line period on the log, seconds (0 = off).
    public var progressEverySeconds: Double = 5
    /// Beaten once per loop turn, for the metrics server's `/healthz` (nil: no liveness tracking).
    public var heartbeat: LoopHeartbeat? = nil
    /// The ranking API's model view: when set, the loop publishes copies of the model to it
    /// (`serving.snapshot_interval`; see ``ServingView``). nil: no ranking API.
    public var servingView: ServingView? = nil
    /// Messages taken per poll (at most a quarter of `ItemCatalog.evictionGuardEvents`).
    public var maxMessagesPerPoll: Int = 4096
    /// Raw librdkafka properties for consumer, producer and admin (SASL/SSL…). Secrets are never logged.
    public var kafkaProperties: [String: String] = [:]
    /// Create the output topics when missing (1 partition each; `scores` compacted).
    public var createOutputTopics: Bool = true

    /// The producer's `message.max.bytes` (librdkafka's default 1,000,000 unless set in ``kafkaProperties``): the
    /// largest output message it accepts, key and headers included.
    public var producerMaxMessageBytes: Int {
        kafkaProperties["message.max.bytes"].flatMap { Int($0.trimmingCharacters(in: .whitespaces)) } ?? 1_000_000
    }

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
