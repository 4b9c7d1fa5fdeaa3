import Learning

/// The off-policy part of a replay report (`ope` in the JSON report; JSON keys are snake_case and stable).
/// `ips`, `snips` and `dr` are the estimates; `ci_low`, `ci_high` and `standard_error` give each its 95% interval
/// (normal approximation; see ``OffPolicyEstimator``). NaN (no matched decision, fewer than two decisions) is
/// written as the string "nan".
public struct OffPolicyReport: Codable, Sendable {
    public struct PerEstimator: Codable, Sendable {
        public var ips: Double, snips: Double, dr: Double
    }

    public struct Rewards: Codable, Sendable {
        public var types: [String]
        public var windowMs: Int64
        public var rewarded: UInt64
        public var onOtherItems: UInt64, repeated: UInt64, late: UInt64, unknownRanking: UInt64, badRankingID: UInt64
        public var feedbackWithoutRanking: UInt64
        enum CodingKeys: String, CodingKey {
            case types, rewarded, repeated, late
            case windowMs = "window_ms"
            case onOtherItems = "on_other_items"
            case unknownRanking = "unknown_ranking"
            case badRankingID = "bad_ranking_id"
            case feedbackWithoutRanking = "feedback_without_ranking"
        }
    }

    public var policy: String
    /// For `served`: the exploration it evaluates (`greedy`, `epsilon_greedy(0.05)`, `softmax(1.0)`); absent otherwise.
    public var exploration: String?
    public var decisionsFile: String
    public var decisions: Int
    public var matched: Int
    public var ips: Double
    public var snips: Double
    public var dr: Double
    public var ciLow: PerEstimator
    public var ciHigh: PerEstimator
    public var standardError: PerEstimator
    public var interval: String
    /// The reward model alone (biased as the model is) and the log's mean reward (the logging policy's value).
    public var directMethod: Double
    public var loggedReward: Double
    public var meanWeight: Double
    public var maxWeight: Double
    public var effectiveSampleSize: Double
    public var rewards: Rewards
    public var unknownCandidates: UInt64
    public var repeatedRankings: UInt64
    public var decisionsRejected: UInt64
    public var decisionsRejectedByReason: [String: UInt64]
    public var firstRejections: [String]

    enum CodingKeys: String, CodingKey {
        case policy, exploration, decisions, matched, ips, snips, dr, interval, rewards
        case decisionsFile = "decisions_file"
        case ciLow = "ci_low"
        case ciHigh = "ci_high"
        case standardError = "standard_error"
        case directMethod = "direct_method"
        case loggedReward = "logged_reward"
        case meanWeight = "mean_weight"
        case maxWeight = "max_weight"
        case effectiveSampleSize = "effective_sample_size"
        case unknownCandidates = "unknown_candidates"
        case repeatedRankings = "repeated_rankings"
        case decisionsRejected = "decisions_rejected"
        case decisionsRejectedByReason = "decisions_rejected_by_reason"
        case firstRejections = "first_rejections"
    }

    public init(_ replay: OffPolicyReplay, decisionsFile: String) {
        let e = replay.estimator, c = replay.counters
        policy = replay.policy.rawValue
        exploration = replay.policy == .served ? replay.exploration.name : nil
        self.decisionsFile = decisionsFile
        decisions = e.decisions
        matched = e.matched
        ips = e.ips.value
        snips = e.snips.value
        dr = e.dr.value
        ciLow = PerEstimator(ips: e.ips.low, snips: e.snips.low, dr: e.dr.low)
        ciHigh = PerEstimator(ips: e.ips.high, snips: e.snips.high, dr: e.dr.high)
        standardError = PerEstimator(ips: e.ips.standardError, snips: e.snips.standardError, dr: e.dr.standardError)
        interval = "95%, normal approximation (IPS, DR: mean of per-decision terms; SNIPS: delta method)"
        directMethod = e.directMethod.value
        loggedReward = e.loggedReward.value
        meanWeight = e.meanWeight
        maxWeight = e.maxWeight
        effectiveSampleSize = e.effectiveSampleSize
        rewards = Rewards(
            types: replay.rewardTypeNames, windowMs: replay.rewardWindowMs, rewarded: c.rewarded,
            onOtherItems: c.otherItemRewards, repeated: c.repeatedRewards, late: c.lateRewards,
            unknownRanking: c.unknownRankingRewards, badRankingID: c.badRankingReferences,
            feedbackWithoutRanking: c.feedbackWithoutRanking)
        unknownCandidates = c.unknownCandidates
        repeatedRankings = c.repeatedRankings
        decisionsRejected = c.decisionsRejected
        decisionsRejectedByReason = c.decisionsRejectedByReason
        firstRejections = c.firstRejections
    }
}
