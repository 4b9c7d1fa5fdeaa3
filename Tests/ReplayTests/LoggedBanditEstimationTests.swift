import Foundation
import Learning
import Testing
@testable import Replay

/// The estimator targets on the synthetic logged bandit (``LoggedBandit``: known click probabilities,
/// ε-greedy logging): `uniform` and `logged` estimated within 2% of their exact values at 100k decisions, and the
/// 95% intervals cover the truth in ≥ 90% of 50 seeds. The reward model of DR here is the logging policy's belief
/// (close to, not equal to, the truth); `bench/ope` runs the same through `feedloop replay` with the pipeline's
/// own model and 100k decisions for each of the 50 seeds.
@Suite struct LoggedBanditEstimationTests {
    /// Estimators of `uniform` and `logged` over `count` decisions of the bandit of `seed`.
    static func estimate(seed: UInt64, count: Int) -> (bandit: LoggedBandit, uniform: OffPolicyEstimator, logged: OffPolicyEstimator) {
        var bandit = LoggedBandit(.init(seed: seed))
        var uniform = OffPolicyEstimator(), logged = OffPolicyEstimator()
        let items = bandit.configuration.items
        for _ in 0..<count {
            let d = bandit.next()
            let q = d.candidates.map { bandit.belief[d.segment * items + $0] }
            let index = d.candidates.firstIndex(of: d.ranking[0])!
            let reward = d.clicked ? 1.0 : 0.0
            for (policy, p) in [(TargetPolicy.uniform, 0), (.logged, 1)] {
                let (pi, dm, _) = policy.evaluate(predictions: q, margins: q.map { log($0 / (1 - $0)) }, loggedIndex: index, propensity: d.propensities[0])
                if p == 0 {
                    uniform.record(propensity: d.propensities[0], targetProbability: pi, reward: reward, loggedPrediction: q[index], directMethod: dm)
                } else {
                    logged.record(propensity: d.propensities[0], targetProbability: pi, reward: reward, loggedPrediction: q[index], directMethod: dm)
                }
            }
        }
        return (bandit, uniform, logged)
    }

    static func estimates(_ e: OffPolicyEstimator) -> [(String, OffPolicyEstimate)] {
        [("ips", e.ips), ("snips", e.snips), ("dr", e.dr)]
    }

    @Test func uniformAndLoggedAreEstimatedWithinTwoPercentAt100kDecisions() {
        let (bandit, uniform, logged) = Self.estimate(seed: 1, count: 100_000)
        for (name, e, truth) in [("uniform", uniform, bandit.uniformValue), ("logged", logged, bandit.loggedValue)] {
            for (estimator, estimate) in Self.estimates(e) {
                let error = abs(estimate.value - truth) / truth
                print("\(name) \(estimator): \(estimate.value) [\(estimate.low), \(estimate.high)], truth \(truth), error \(error)")
                #expect(error < 0.02, "\(name) \(estimator): \(estimate.value) vs \(truth)")
            }
        }
    }

    /// 50 seeds of 20,000 decisions each (coverage is a property of the interval at any size; 100k per seed runs
    /// in `bench/ope`).
    @Test func intervalsCoverTheTruthInNinetyPercentOfFiftySeeds() {
        var covered: [String: Int] = [:]
        for seed in 1...50 {
            let (bandit, uniform, logged) = Self.estimate(seed: UInt64(seed), count: 20_000)
            for (name, e, truth) in [("uniform", uniform, bandit.uniformValue), ("logged", logged, bandit.loggedValue)] {
                for (estimator, estimate) in Self.estimates(e) where estimate.low <= truth && truth <= estimate.high {
                    covered["\(name) \(estimator)", default: 0] += 1
                }
            }
        }
        print("intervals covering the truth, of 50 seeds: \(covered.sorted { $0.key < $1.key })")
        for policy in ["uniform", "logged"] {
            for estimator in ["ips", "snips", "dr"] {
                #expect(covered["\(policy) \(estimator)", default: 0] >= 45, "\(policy) \(estimator)")
            }
        }
    }

    /// Every outcome of the first two positions' draws (exploit with 1 − ε, explore each remaining item with
    /// ε/r), summed: the first position's propensity is the probability of that item first, the second's that of
    /// the second item given the first.
    @Test func eachPositionsPropensityIsTheProbabilityOfThatItemThereGivenTheItemsAbove() {
        let bandit = LoggedBandit(.init(seed: 3))
        let e = bandit.configuration.epsilon
        let candidates = [0, 3, 5, 7, 11]
        func outcomes(_ r: Int) -> [(draw: (explore: Bool, pick: Int), probability: Double)] {
            [((false, 0), 1 - e)] + (0..<r).map { ((true, $0), e / Double(r)) }
        }
        for segment in [0, 2, 19] {
            var first: [Int: Double] = [:], pair: [[Int]: Double] = [:]
            var logged: [[Int]: [Double]] = [:]
            for o1 in outcomes(5) {
                for o2 in outcomes(4) {
                    var draws = [o1.draw, o2.draw]
                    let (ranking, propensities) = bandit.rank(candidates, segment: segment) { _ in
                        draws.isEmpty ? (false, 0) : draws.removeFirst()
                    }
                    first[ranking[0], default: 0] += o1.probability * o2.probability
                    pair[Array(ranking[0..<2]), default: 0] += o1.probability * o2.probability
                    logged[Array(ranking[0..<2])] = Array(propensities[0..<2])
                }
            }
            #expect(abs(first.values.reduce(0, +) - 1) < 1e-12)
            for (top, propensities) in logged {
                #expect(abs(propensities[0] - first[top[0]]!) < 1e-12, "segment \(segment) first \(top[0])")
                #expect(abs(propensities[1] - pair[top]! / first[top[0]]!) < 1e-12, "segment \(segment) second \(top)")
            }
            #expect(zip(candidates, bandit.firstPropensities(candidates, segment: segment)).allSatisfy { abs($1 - first[$0]!) < 1e-12 })
        }
    }
}
