import Foundation
import Pipelines

/// The policy whose value an off-policy replay estimates (`feedloop replay --decisions … --policy`): what it would
/// put first among a decision's candidates, given the model's scores for them.
public enum TargetPolicy: String, Sendable, CaseIterable {
    /// The pipeline's greedy choice: the candidate its model scores highest (the first of equal scores).
    case model
    /// The pipeline's policy as its ranking API serves it: its `serving.exploration` over its model's scores, so
    /// the item put first is drawn as ``Exploration/choose(k:margins:rng:weights:into:)`` draws position 1 (with
    /// `none`, exactly ``model``).
    case served
    /// A uniformly random candidate.
    case uniform
    /// The logging policy itself: its value is the log's mean reward, so it checks the estimators.
    case logged

    /// For one decision: the probability that this policy puts the logged first item (candidate `loggedIndex`,
    /// logged with `propensity`) first, the direct method's value of the policy on the decision,
    /// `Σₐ π(a) q̂(a)` over the candidates' `predictions` (the model's probabilities; `margins` are their
    /// log-odds, by which ``served`` orders and explores as the API does), and the policy's probability of putting
    /// each candidate first (nil for ``logged``, whose distribution over the other candidates is not in the log).
    /// For `logged` the direct method takes the logged item's prediction, a one-sample estimate of `E_μ[q̂]`; its
    /// doubly-robust term is then the observed reward itself.
    public func evaluate(
        predictions: [Double], margins: [Double], loggedIndex: Int, propensity: Double, exploration: Exploration = .none
    ) -> (targetProbability: Double, directMethod: Double, first: [Double]?) {
        precondition(predictions.indices.contains(loggedIndex), "the logged item must be a candidate")
        precondition(margins.count == predictions.count, "a margin per prediction")
        var pi = [Double](repeating: 0, count: predictions.count)
        switch self {
        case .model:
            pi[Self.greedy(predictions)] = 1
        case .served:
            Self.firstPosition(margins: margins, exploration: exploration, into: &pi)
        case .uniform:
            for i in pi.indices { pi[i] = 1 / Double(pi.count) }
        case .logged:
            return (propensity, predictions[loggedIndex], nil)
        }
        var dm = 0.0
        for i in pi.indices where pi[i] > 0 { dm += pi[i] * predictions[i] }
        return (pi[loggedIndex], dm, pi)
    }

    /// The first of the highest scores (a NaN below every number).
    static func greedy(_ scores: [Double]) -> Int {
        var best = 0
        for i in scores.indices where scores[i] > scores[best] || (scores[best].isNaN && !scores[i].isNaN) { best = i }
        return best
    }

    /// The probability that the ranking API, exploring by `exploration`, puts each candidate first, from their
    /// margins (candidate order; the API sorts by margin, best first, ties in candidate order, NaN as −∞):
    /// - none: 1 for the best;
    /// - ε-greedy: 1 − ε + ε/n for the best, ε/n for every other;
    /// - softmax(T): exp((m − top)/T) normalized, `top` the best margin (0 when it is not finite), a non-finite
    ///   margin weighing 0; uniform when every weight is 0 (as the API falls back).
    static func firstPosition(margins: [Double], exploration: Exploration, into pi: inout [Double]) {
        let n = margins.count
        let sortable = margins.map { $0.isNaN ? -Double.infinity : $0 }
        let best = greedy(sortable)
        switch exploration {
        case .none:
            pi[best] = 1
        case .epsilonGreedy(let epsilon):
            for i in 0..<n { pi[i] = epsilon / Double(n) }
            pi[best] = 1 - epsilon + epsilon / Double(n)
        case .softmax(let temperature):
            let top = sortable[best].isFinite ? sortable[best] : 0
            var total = 0.0
            for i in 0..<n {
                pi[i] = sortable[i].isFinite ? exp((sortable[i] - top) / temperature) : 0
                total += pi[i]
            }
            for i in 0..<n { pi[i] = total > 0 ? pi[i] / total : 1 / Double(n) }
        }
    }
}
