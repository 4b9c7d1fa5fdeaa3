/// The policy whose value an off-policy replay estimates (`feedloop replay --decisions … --policy`): what it would
/// put first among a decision's candidates, given the reward model's predictions for them.
public enum TargetPolicy: String, Sendable, CaseIterable {
    /// The pipeline's greedy choice: the candidate its model scores highest (the first of equal scores).
    case model
    /// A uniformly random candidate.
    case uniform
    /// The logging policy itself: its value is the log's mean reward, so it checks the estimators.
    case logged

    /// For one decision: the probability that this policy puts the logged first item (candidate `loggedIndex`,
    /// logged with `propensity`) first, the direct method's value of the policy on the decision,
    /// `Σₐ π(a) q̂(a)` over the candidates' `predictions`, and the candidate it puts first when it is deterministic
    /// (`model`; nil otherwise). The logging policy's distribution over the other candidates is not in the log, so
    /// for `logged` the direct method takes the logged item's prediction, a one-sample estimate of `E_μ[q̂]`; its
    /// doubly-robust term is then the observed reward itself.
    public func evaluate(
        predictions: [Double], loggedIndex: Int, propensity: Double
    ) -> (targetProbability: Double, directMethod: Double, choice: Int?) {
        precondition(predictions.indices.contains(loggedIndex), "the logged item must be a candidate")
        switch self {
        case .model:
            var best = 0
            for i in predictions.indices where predictions[i] > predictions[best] { best = i }
            return (best == loggedIndex ? 1 : 0, predictions[best], best)
        case .uniform:
            return (1 / Double(predictions.count), predictions.reduce(0, +) / Double(predictions.count), nil)
        case .logged:
            return (propensity, predictions[loggedIndex], nil)
        }
    }
}
