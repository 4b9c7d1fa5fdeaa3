/// The ranking API of a pipeline (`serving:` in the pipeline file; docs/serving.md): its exploration policy, the
/// topic its decisions are logged to, how often the worker publishes the model view requests read, and the
/// request bounds. Not part of the checkpointed state's definition: it may change across a restart.
public struct ServingSpec: Sendable, Equatable {
    /// How a ranking departs from the greedy order, and with which probabilities.
    public var exploration: Exploration
    /// Every ranking is published here (key: user id), with its propensities.
    public var rankingsTopic: String
    /// The worker publishes a fresh copy of the model for requests at most this often (ms of wall time): the
    /// staleness bound of an answer.
    public var snapshotIntervalMs: Int64
    /// Most candidates one request may send.
    public var maxCandidates: Int
    /// Items returned when a request gives no `k` (outputs.top_k unless set).
    public var defaultK: Int
    /// Whether the worker reads the decision log as an input (`learn_from_rankings`, default false): each logged
    /// ranking's shown items become pending examples of the label join, keyed by (ranking, item), and feedback
    /// carrying the ranking's `ranking_id` labels them (docs/serving.md, "Rewards").
    public var learnFromRankings: Bool = false

    /// The defaults: no exploration, topic `rankings`, a new view every second, up to 1,000 candidates.
    public static func defaults(topK: Int) -> ServingSpec {
        ServingSpec(exploration: .none, rankingsTopic: "rankings", snapshotIntervalMs: 1000, maxCandidates: 1000, defaultK: topK)
    }

    /// ``defaults(topK:)`` with the default `outputs.top_k`.
    public static let defaults = ServingSpec.defaults(topK: OutputSpec.defaults.topK)
}
