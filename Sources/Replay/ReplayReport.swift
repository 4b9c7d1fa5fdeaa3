import Learning
import Pipelines

/// The evaluation report of one pipeline over one replay (JSON keys are snake_case and stable).
public struct ReplayReport: Codable, Sendable {
    public var pipeline: String
    public var pipelineFile: String
    public var input: String
    public var model: String
    public var optimizer: String
    public var events: UInt64
    /// Labelled predictions (progressive validation examples).
    public var examples: Int
    public var positives: Int
    public var logloss: Double
    public var auc: Double
    /// Upper bound of |auc − exact AUC| from histogram ties (see `StreamingAUC`).
    public var aucErrorBound: Double
    public var accuracy: Double
    public var meanPrediction: Double
    public var positiveRate: Double
    public var calibration: [Calibration]
    public var rankingK: Int?
    public var rankingNegatives: String?
    public var rankingCount: Int
    public var hitRateAt10: Double?
    public var ndcgAt10: Double?
    /// Share of purchases whose item was among the score refresh's candidates just before (see
    /// `Pipeline.candidateRecall`); nil without positive feedback.
    public var candidateRecall: Double?
    /// The pipeline's own cost on one core: its step time plus the reading and decoding it needs
    /// (``eventsPerSecond`` and ``examplesPerSecond`` divide by it).
    public var seconds: Double
    public var eventsPerSecond: Double
    public var examplesPerSecond: Double
    /// Wall-clock seconds of the run that produced the report (every pipeline of a `--compare` together), and the
    /// threads it ran on (the reading thread included); nil where the run was not timed as a whole.
    public var elapsedSeconds: Double?
    public var threads: Int?
    public var peakRSSBytes: Int
    public var modelParameterBytes: Int
    public var modelVersion: UInt64
    public var rejected: UInt64
    public var rejectedByReason: [String: UInt64]
    public var counters: Counters
    public var windows: [Window]
    /// Off-policy evaluation (`--decisions`), when asked.
    public var ope: OffPolicyReport?

    public struct Calibration: Codable, Sendable {
        public var lower: Double, upper: Double, count: Int, meanPredicted: Double, observedRate: Double
        enum CodingKeys: String, CodingKey {
            case lower, upper, count
            case meanPredicted = "mean_predicted"
            case observedRate = "observed_rate"
        }
    }

    public struct Window: Codable, Sendable {
        public var endExample: Int, count: Int, logloss: Double, auc: Double, cumulativeLogloss: Double, cumulativeAUC: Double
        enum CodingKeys: String, CodingKey {
            case count, logloss, auc
            case endExample = "end_example"
            case cumulativeLogloss = "cumulative_logloss"
            case cumulativeAUC = "cumulative_auc"
        }
    }

    public struct Counters: Codable, Sendable {
        public var feedback: UInt64, unattributedFeedback: UInt64, ignored: UInt64, expiredNegatives: UInt64
        public var overflowNegatives: UInt64, endOfInputNegatives: UInt64, rejectedUpdates: UInt64, catalogItems: Int
        public var catalogOverflow: UInt64, catalogEvictions: UInt64, truncatedValues: UInt64
        enum CodingKeys: String, CodingKey {
            case feedback, ignored
            case unattributedFeedback = "unattributed_feedback"
            case expiredNegatives = "expired_negatives"
            case overflowNegatives = "overflow_negatives"
            case endOfInputNegatives = "end_of_input_negatives"
            case rejectedUpdates = "rejected_updates"
            case catalogItems = "catalog_items"
            case catalogOverflow = "catalog_overflow"
            case catalogEvictions = "catalog_evictions"
            case truncatedValues = "truncated_values"
        }
    }

    enum CodingKeys: String, CodingKey {
        case pipeline, input, model, optimizer, events, examples, positives, logloss, auc, accuracy, calibration
        case seconds, rejected, counters, windows, ope
        case pipelineFile = "pipeline_file"
        case meanPrediction = "mean_prediction"
        case positiveRate = "positive_rate"
        case aucErrorBound = "auc_error_bound"
        case rankingK = "ranking_k"
        case rankingNegatives = "ranking_negatives"
        case rankingCount = "ranking_count"
        case hitRateAt10 = "hit_rate_at_10"
        case ndcgAt10 = "ndcg_at_10"
        case candidateRecall = "candidate_recall"
        case eventsPerSecond = "events_per_second"
        case examplesPerSecond = "examples_per_second"
        case elapsedSeconds = "elapsed_seconds"
        case threads
        case peakRSSBytes = "peak_rss_bytes"
        case modelParameterBytes = "model_parameter_bytes"
        case modelVersion = "model_version"
        case rejectedByReason = "rejected_by_reason"
    }

    /// Builds the report of a finished pipeline.
    public init(pipeline p: Pipeline, file: String, input: String, seconds: Double, peakRSSBytes: Int) {
        let m = p.metrics
        pipeline = p.spec.name
        pipelineFile = file
        self.input = input
        model = Self.describe(p.spec.model.kind)
        optimizer = Self.describe(p.spec.model.optimizer)
        events = p.counters.events
        examples = m.count
        positives = m.positives
        logloss = m.logloss
        auc = m.auc
        aucErrorBound = m.aucErrorBound
        accuracy = m.accuracy
        meanPrediction = m.meanPrediction
        positiveRate = m.positiveRate
        calibration = m.calibration.map {
            Calibration(lower: $0.lower, upper: $0.upper, count: $0.count, meanPredicted: $0.meanPredicted, observedRate: $0.observedRate)
        }
        if let r = p.ranking, let spec = p.spec.evaluation.ranking {
            rankingK = r.k
            rankingNegatives = spec.negatives.map { "\($0) sampled" } ?? "all"
            rankingCount = r.count
            hitRateAt10 = r.hitRate
            ndcgAt10 = r.ndcg
        } else {
            rankingCount = 0
        }
        let recall = p.candidateRecall
        candidateRecall = recall.checked > 0 ? Double(recall.hits) / Double(recall.checked) : nil
        self.seconds = seconds
        eventsPerSecond = seconds > 0 ? Double(events) / seconds : 0
        examplesPerSecond = seconds > 0 ? Double(m.count) / seconds : 0
        self.peakRSSBytes = peakRSSBytes
        modelParameterBytes = p.model.parameterBytes
        modelVersion = p.model.version
        rejected = p.counters.rejected
        rejectedByReason = p.counters.rejectedByReason
        counters = Counters(
            feedback: p.counters.feedback, unattributedFeedback: p.counters.unattributedFeedback,
            ignored: p.counters.ignored, expiredNegatives: p.counters.expiredNegatives,
            overflowNegatives: p.counters.overflowNegatives, endOfInputNegatives: p.counters.endOfInputNegatives,
            rejectedUpdates: p.model.rejectedNonFinite, catalogItems: p.catalog.count,
            catalogOverflow: p.catalog.overflow, catalogEvictions: p.catalog.evicted, truncatedValues: p.truncatedValues)
        windows = m.windowsIncludingPartial.map {
            Window(endExample: $0.endExample, count: $0.count, logloss: $0.logloss, auc: $0.auc,
                   cumulativeLogloss: $0.cumulativeLogloss, cumulativeAUC: $0.cumulativeAUC)
        }
    }

    static func describe(_ kind: ModelKind) -> String {
        switch kind {
        case .logistic: "logistic"
        case .factorizationMachine(let k): "fm(k=\(k))"
        case .matrixFactorization(let k, _, _): "mf(k=\(k))"
        }
    }

    static func describe(_ o: OptimizerKind) -> String {
        switch o {
        case .sgd(let lr, let decay): "sgd(lr=\(lr), decay=\(decay))"
        case .adagrad(let lr, let eps): "adagrad(lr=\(lr), eps=\(eps))"
        case .ftrl(let a, let b, let l1, let l2): "ftrl(alpha=\(a), beta=\(b), l1=\(l1), l2=\(l2))"
        }
    }
}
