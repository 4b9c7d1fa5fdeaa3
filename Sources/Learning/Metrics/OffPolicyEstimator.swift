#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - OffPolicyEstimator

/// Off-policy value estimates of a target policy π from decisions logged by another policy μ, one decision at a
/// time, in O(1) memory.
///
/// Each decision `i` gives the logged action `aᵢ` (the item μ put first), its propensity `μᵢ = μ(aᵢ|xᵢ) > 0`, the
/// observed reward `rᵢ`, the probability `πᵢ = π(aᵢ|xᵢ)` that the target policy takes the same action, and a
/// reward model's predictions: `q̂ᵢ = q̂(xᵢ, aᵢ)` for the logged action and `dmᵢ = Σₐ π(a|xᵢ) q̂(xᵢ, a)` (the direct
/// method's value of π on this decision). With the importance weight `wᵢ = πᵢ / μᵢ`:
///
/// - IPS   `V = (1/n) Σ wᵢ rᵢ` (unbiased when the propensities are right and μ > 0 wherever π > 0);
/// - SNIPS `V = Σ wᵢ rᵢ / Σ wᵢ` (self-normalized: biased by O(1/n), lower variance, bounded by the rewards);
/// - DR    `V = (1/n) Σ [dmᵢ + wᵢ (rᵢ − q̂ᵢ)]` (unbiased if either the propensities or the reward model are right).
///
/// **Intervals.** 95% normal-approximation intervals, `V ± 1.96·SE`. IPS and DR are means of per-decision terms,
/// so `SE = s/√n` with `s` their sample standard deviation; SNIPS is a ratio of means, so its SE is the
/// delta-method (sandwich) one, `SE² = Σ wᵢ² (rᵢ − V)² / (Σ wᵢ)²`. Why not the bootstrap: these need only running
/// sums (the replay keeps no per-decision state), and at the thousands of decisions a replay sees the terms' mean is
/// close to normal, unless a few huge weights (tiny propensities) dominate — ``effectiveSampleSize`` and
/// ``maxWeight`` show when they do.
///
/// **Invalid input.** A propensity outside `(0, 1]`, a target probability outside `[0, 1]`, or a non-finite reward
/// or prediction is not recorded: it is counted in ``rejected`` (callers validate first; it should stay zero).
public struct OffPolicyEstimator: Sendable, Equatable {
    /// The standard normal quantile of a two-sided 95% interval.
    public static let z95 = 1.959963984540054

    /// Decisions recorded.
    public private(set) var decisions = 0
    /// Decisions where the target policy could take the logged action (`π(aᵢ|xᵢ) > 0`): the only ones whose
    /// reward enters IPS and SNIPS.
    public private(set) var matched = 0
    /// Inputs refused (see "Invalid input").
    public private(set) var rejected = 0
    /// The largest importance weight seen (0 before any decision).
    public private(set) var maxWeight = 0.0

    private var ipsTerms = RunningMoments()
    private var drTerms = RunningMoments()
    private var dmTerms = RunningMoments()
    private var rewards = RunningMoments()
    /// Σw, Σw², Σw·r, Σw²·r, Σw²·r² (SNIPS, its sandwich variance and the effective sample size).
    private var sumW = 0.0, sumW2 = 0.0, sumWR = 0.0, sumW2R = 0.0, sumW2R2 = 0.0

    public init() {}

    /// Records one decision (see the type's notes for the symbols).
    public mutating func record(
        propensity: Double, targetProbability: Double, reward: Double, loggedPrediction: Double, directMethod: Double
    ) {
        guard propensity > 0, propensity <= 1, targetProbability >= 0, targetProbability <= 1, reward.isFinite,
              loggedPrediction.isFinite, directMethod.isFinite
        else {
            rejected &+= 1
            return
        }
        let w = targetProbability / propensity
        decisions &+= 1
        if w > 0 { matched &+= 1 }
        maxWeight = max(maxWeight, w)
        let wr = w * reward
        ipsTerms.add(wr)
        drTerms.add(directMethod + w * (reward - loggedPrediction))
        dmTerms.add(directMethod)
        rewards.add(reward)
        sumW += w
        sumW2 += w * w
        sumWR += wr
        sumW2R += w * wr
        sumW2R2 += wr * wr
    }

    // MARK: Estimates

    /// Inverse propensity scoring.
    public var ips: OffPolicyEstimate { .init(meanOf: ipsTerms) }

    /// Self-normalized IPS, with the delta-method interval; NaN while no decision matched (Σw = 0).
    public var snips: OffPolicyEstimate {
        guard sumW > 0 else { return OffPolicyEstimate(value: .nan, standardError: .nan) }
        let v = sumWR / sumW
        let spread = max(sumW2R2 - 2 * v * sumW2R + v * v * sumW2, 0)
        return OffPolicyEstimate(value: v, standardError: spread.squareRoot() / sumW)
    }

    /// Doubly robust: the direct method corrected by the importance-weighted residual of the logged action.
    public var dr: OffPolicyEstimate { .init(meanOf: drTerms) }

    /// The direct method alone (the reward model's value of π), for comparison: biased as the model is.
    public var directMethod: OffPolicyEstimate { .init(meanOf: dmTerms) }

    /// The logging policy's own value: the mean observed reward.
    public var loggedReward: OffPolicyEstimate { .init(meanOf: rewards) }

    /// Mean importance weight (1 in expectation when π and μ cover the same actions; far from 1 means the
    /// propensities or the support are off).
    public var meanWeight: Double { sumW / Double(decisions) }

    /// `(Σw)² / Σw²`: how many decisions the weighted ones are worth (n when every weight is equal).
    public var effectiveSampleSize: Double { sumW2 > 0 ? sumW * sumW / sumW2 : 0 }
}

/// One estimate with its standard error and 95% normal interval.
public struct OffPolicyEstimate: Sendable, Equatable {
    public var value: Double
    public var standardError: Double

    public init(value: Double, standardError: Double) {
        self.value = value
        self.standardError = standardError
    }

    init(meanOf moments: RunningMoments) {
        self.init(value: moments.mean, standardError: moments.standardErrorOfMean)
    }

    /// `value − 1.96·SE`.
    public var low: Double { value - OffPolicyEstimator.z95 * standardError }
    /// `value + 1.96·SE`.
    public var high: Double { value + OffPolicyEstimator.z95 * standardError }
}

/// Mean and sum of squared deviations by Welford's update (no cancellation however many terms).
struct RunningMoments: Sendable, Equatable {
    private(set) var count = 0
    private(set) var mean = Double.nan
    private var m2 = 0.0

    mutating func add(_ x: Double) {
        count &+= 1
        if count == 1 {
            mean = x
            return
        }
        let delta = x - mean
        mean += delta / Double(count)
        m2 += delta * (x - mean)
    }

    /// `s / √n` with the sample standard deviation `s` (n − 1 in its denominator); NaN below two terms.
    var standardErrorOfMean: Double {
        count > 1 ? (m2 / Double(count - 1) / Double(count)).squareRoot() : .nan
    }
}
