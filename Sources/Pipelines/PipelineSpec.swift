import Events
import Learning

/// A validated pipeline definition: what `pipelines/*.yaml` declares. Shared by the worker and the replay tool.
///
/// Built by ``PipelineSpec/load(path:)`` / ``PipelineSpec/parse(yaml:file:)``; every field has been range-checked.
public struct PipelineSpec: Sendable, Equatable {
    /// Format version of the file (`version:`); only 1 exists.
    public var version: Int
    /// Human-readable name (`name:`), used in reports and metric labels.
    public var name: String
    /// Input topics the worker subscribes to.
    public var inputTopics: [String]
    /// Feature extraction.
    public var features: FeatureSpec
    /// How labelled examples are formed from the stream (delayed feedback join).
    public var label: LabelSpec
    /// Model and optimizer, in the core's terms.
    public var model: ModelConfiguration
    /// Output topics and top-K size.
    public var outputs: OutputSpec
    /// Progressive-validation options.
    public var evaluation: EvaluationSpec
    /// How the workers of one consumer group share one model (`sync:`); off when absent.
    public var sync: SyncSpec = .off
    /// The ranking API's policy and decision log (`serving:`); defaults when absent.
    public var serving: ServingSpec = .defaults
}

/// The exchange of model increments between the workers of one consumer group (docs/scaling-out.md): each member
/// publishes what its replica learned after `every` labelled examples or `intervalMs` of wall time, whichever comes
/// first, and applies every other member's. Not part of the checkpointed state's definition.
public struct SyncSpec: Sendable, Equatable {
    public var enabled: Bool
    /// Labelled examples between two exchanges of one member (0: no count trigger).
    public var every: Int
    /// Wall time in ms between two exchanges of one member (0: no time trigger).
    public var intervalMs: Int64
    /// A member that has not read the increments topic to its end for this long (ms) stops publishing scores.
    public var maxStalenessMs: Int64
    /// While the model is young, a member exchanges after this fraction of the examples its replica has learned (all
    /// members' together) instead of `every`, when that is fewer (at least ``rampFloor``); 0: always `every`.
    public var ramp: Double

    public init(enabled: Bool, every: Int, intervalMs: Int64, maxStalenessMs: Int64, ramp: Double = 0.02) {
        self.enabled = enabled
        self.every = every
        self.intervalMs = intervalMs
        self.maxStalenessMs = maxStalenessMs
        self.ramp = ramp
    }

    public static let off = SyncSpec(enabled: false, every: 1000, intervalMs: 1000, maxStalenessMs: 30_000)
    /// `sync: on`: every 1,000 examples or 1 s, scores withheld after 30 s without the others' increments.
    public static let on = SyncSpec(enabled: true, every: 1000, intervalMs: 1000, maxStalenessMs: 30_000)

    /// The fewest examples between two exchanges of a member while the ramp holds.
    public static let rampFloor = 10

    /// Labelled examples a member learns before its next exchange, its replica having learned `version` examples
    /// (its own and the others' it applied): `every`, or `ramp · version` (at least ``rampFloor``) when that is fewer.
    /// A young model changes fastest — what one replica learned and another lacks moves the other's predictions most
    /// in the first thousands of examples — so a fresh group exchanges sooner there, at the cost of a few dozen more
    /// records: with N members the model grows by a factor 1 + N·ramp between two exchanges of one member, so a
    /// member's interval reaches `every` after about 1/(N·ramp) + ln(every / rampFloor) / ln(1 + N·ramp) records
    /// of its own (3 members, ramp 0.02: ~70 at every 250, ~95 at every 1000). A replica restored from a checkpoint
    /// or caught up with the group's records is past it. 0 when the count trigger is off.
    public func examplesBeforeExchange(version: UInt64) -> Int {
        guard every > 0 else { return 0 }
        guard ramp > 0 else { return every }
        let ramped = (Double(version) * ramp).rounded(.down)
        return ramped >= Double(every) ? every : min(every, max(Self.rampFloor, Int(ramped)))
    }

    /// The labelled examples at which a member's count trigger asks for its next exchange, its last having been at
    /// `base` and its replica holding `version` examples' learning; `UInt64.max` (never) when the count trigger is off.
    public func examplesDue(from base: UInt64, version: UInt64) -> UInt64 {
        let n = examplesBeforeExchange(version: version)
        return n == 0 ? .max : base &+ UInt64(n)
    }
}

// MARK: - Features

/// Hashed features: namespaces read from event fields, plus pairwise crosses.
public struct FeatureSpec: Sendable, Equatable {
    /// log2 of the number of hash buckets.
    public var bits: Int
    /// Namespaces in file order; a namespace's index is its field id in ``FeatureRow``.
    public var namespaces: [NamespaceSpec]
    /// Pairwise crosses, as indices into ``namespaces``; cross `c` has field id `namespaces.count + c`.
    public var crosses: [CrossSpec]
    /// At most this many values are taken from one array-valued field (e.g. genres); extra values are counted, not used.
    public var maxValuesPerField: Int
}

/// One namespace: where its value comes from and how it becomes hashed features.
public struct NamespaceSpec: Sendable, Equatable {
    /// Short name, unique in the pipeline (used by crosses and in the hash seed).
    public var name: String
    /// The event field that feeds it.
    public var source: FeatureSource
    /// How the value is turned into features.
    public var transform: FeatureTransform
    /// Which side of the user×item interaction it describes (drives matrix factorization and candidate scoring).
    public var side: FeatureSide
}

/// Event fields a namespace can read.
public enum FeatureSource: Sendable, Equatable {
    case userID, itemID, eventType
    /// `context.KEY`
    case context(String)
    /// Derived from `ts` (UTC): hour of day 0–23, day of week 0–6.
    case hourOfDay, dayOfWeek

    /// The spelling used in pipeline files.
    public var fieldName: String {
        switch self {
        case .userID: "user_id"
        case .itemID: "item_id"
        case .eventType: "type"
        case .context(let key): "context.\(key)"
        case .hourOfDay: "hour_of_day"
        case .dayOfWeek: "day_of_week"
        }
    }
}

/// Value → feature rule.
public enum FeatureTransform: Sendable, Equatable {
    /// One feature per distinct value (strings, integers, booleans; each string of an array).
    case categorical
    /// Numbers bucketed as `floor(x / width)`, one feature per bucket (e.g. age decades).
    case bucket(width: Double)
    /// One feature whose value is `x * scale`.
    case numeric(scale: Double)
}

/// Which entity a namespace describes.
public enum FeatureSide: String, Sendable, Equatable {
    case user, item, context
}

/// A pairwise cross of two namespaces (all value pairs).
public struct CrossSpec: Sendable, Equatable {
    public var first: Int
    public var second: Int
}

// MARK: - Labels

/// Delayed feedback: examples are scored when they arrive and labelled when feedback arrives or the window passes.
public struct LabelSpec: Sendable, Equatable {
    /// Event types that create an example, with their importance weight.
    public var exampleWeights: [EventType: Double]
    /// Event types that label a pending example of the same (user, item) positive.
    public var positiveTypes: Set<EventType>
    /// Event-time window after an example during which feedback counts, in ms.
    public var attributionWindowMs: Int64
    /// The watermark trails the maximum event time seen by this much, in ms.
    public var allowedLatenessMs: Int64
    /// Maximum number of pending examples; on overflow the oldest is labelled negative early and counted.
    public var bufferCapacity: Int
}

// MARK: - Outputs and evaluation

/// Where the worker publishes and how many items a score refresh carries.
public struct OutputSpec: Sendable, Equatable {
    public var topK: Int
    public var scoresTopic: String
    public var adjustmentsTopic: String
    public var deadLetterTopic: String
    /// Capacity of the item catalog used for candidate scoring.
    public var catalogCapacity: Int
    /// Candidates of a score refresh: the `candidates` items with the most positive feedback (0: the whole
    /// catalog). The refresh costs one prediction per candidate.
    public var candidates: Int
    /// The worker publishes an `item_bias` adjustment only when the bias moved at least this much over a poll
    /// batch (0: any change).
    public var minBiasShift: Double
    /// Half-life in ms of event time of the popularity that picks the `candidates` (0: all-time counts). Not part
    /// of the checkpointed state's definition: it may change across a restart (see ``ItemCatalog``).
    public var popularityHalfLifeMs: Int64 = 0
    /// Two-tower MF only: the worker also publishes `user_vector` (with each score refresh) and `item_vector`
    /// (per poll batch, for the items that learned) adjustments.
    public var vectors: Bool = false
}

/// Progressive-validation options.
public struct EvaluationSpec: Sendable, Equatable {
    /// Examples per window of the metric curves.
    public var window: Int
    public var calibrationBins: Int
    /// Histogram bins of the whole-stream AUC (power of two). The report carries the resulting error bound
    /// (`auc_error_bound`); 2^16 keeps the histogram in cache and the bound far below the 4th decimal.
    public var aucBins: Int
    /// Next-purchase ranking evaluation, or nil when off.
    public var ranking: RankingSpec?
}

/// Ranking evaluation: at each positive feedback the bought item is ranked among `negatives` other catalog items
/// drawn uniformly (seeded) — the sampled protocol of He et al. (NCF, 2017); `negatives: all` ranks the whole catalog.
public struct RankingSpec: Sendable, Equatable {
    public var k: Int
    /// Number of sampled negatives, or nil for the whole catalog.
    public var negatives: Int?
    public var seed: UInt64
}

extension PipelineSpec {
    /// Parses a duration written as a non-negative integer with unit `ms`, `s`, `m`, `h` or `d` (`30m`, `0s`,
    /// `1500ms`) into milliseconds; nil when malformed. Pipeline files and the CLI share this spelling.
    public static func durationMilliseconds(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (unit, factor) in units where text.hasSuffix(unit) {
            let digits = text.dropLast(unit.count)
            if unit == "s" && digits.hasSuffix("m") { continue }  // "ms" handled first
            if let n = Int64(digits), n >= 0, n <= Int64.max / factor { return n * factor }
        }
        return nil
    }
}
