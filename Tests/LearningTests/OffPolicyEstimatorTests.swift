import Testing
@testable import Learning

/// IPS, SNIPS and DR with their intervals against values computed by hand for a four-decision log.
@Suite struct OffPolicyEstimatorTests {
    /// (μ, π, r, q̂ of the logged item, direct method Σ π q̂) → weights w = π/μ = 2, 0, 1.25, 5.
    static let log: [(mu: Double, pi: Double, r: Double, q: Double, dm: Double)] = [
        (0.5, 1, 1, 0.6, 0.6), (0.25, 0, 1, 0.2, 0.7), (0.8, 1, 0, 0.5, 0.5), (0.1, 0.5, 1, 0.4, 0.3),
    ]

    static func estimator() -> OffPolicyEstimator {
        var e = OffPolicyEstimator()
        for d in log { e.record(propensity: d.mu, targetProbability: d.pi, reward: d.r, loggedPrediction: d.q, directMethod: d.dm) }
        return e
    }

    @Test func ipsIsTheMeanOfWeightedRewardsWithTheSampleStandardError() {
        let ips = Self.estimator().ips
        // Terms w·r = 2, 0, 0, 5: mean 7/4; squared deviations 0.0625 + 3.0625 + 3.0625 + 10.5625 = 16.75.
        #expect(abs(ips.value - 1.75) < 1e-12)
        #expect(abs(ips.standardError - (16.75 / 3 / 4).squareRoot()) < 1e-12)
        #expect(abs(ips.low - (1.75 - 1.959963984540054 * (16.75 / 12).squareRoot())) < 1e-12)
        #expect(abs(ips.high - (1.75 + 1.959963984540054 * (16.75 / 12).squareRoot())) < 1e-12)
    }

    @Test func snipsNormalizesByTheWeightsWithTheDeltaMethodStandardError() {
        let snips = Self.estimator().snips
        // Σw·r / Σw = 7 / 8.25 = 28/33; Σ w²(r − 28/33)² = (4·25 + 1.5625·784 + 25·25) / 1089 = 1950/1089.
        #expect(abs(snips.value - 28.0 / 33) < 1e-12)
        #expect(abs(snips.standardError - (1950.0 / 1089).squareRoot() / 8.25) < 1e-12)
    }

    @Test func doublyRobustCorrectsTheDirectMethodByTheWeightedResidual() {
        let e = Self.estimator()
        // dm + w(r − q̂): 0.6 + 2·0.4 = 1.4, 0.7 + 0 = 0.7, 0.5 + 1.25·(−0.5) = −0.125, 0.3 + 5·0.6 = 3.3.
        let terms = [1.4, 0.7, -0.125, 3.3]
        let mean = terms.reduce(0, +) / 4
        let variance = terms.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 3
        #expect(abs(e.dr.value - 1.31875) < 1e-12)
        #expect(abs(e.dr.standardError - (variance / 4).squareRoot()) < 1e-12)
        #expect(abs(e.directMethod.value - 0.525) < 1e-12)
        #expect(abs(e.loggedReward.value - 0.75) < 1e-12)
    }

    @Test func countsMatchedDecisionsAndWeightDiagnostics() {
        let e = Self.estimator()
        #expect(e.decisions == 4 && e.matched == 3 && e.rejected == 0)
        #expect(e.maxWeight == 5)
        #expect(abs(e.meanWeight - 8.25 / 4) < 1e-12)
        // (Σw)² / Σw² = 68.0625 / 30.5625.
        #expect(abs(e.effectiveSampleSize - 68.0625 / 30.5625) < 1e-12)
    }

    @Test func refusesImpossiblePropensitiesAndCountsThem() {
        var e = Self.estimator()
        e.record(propensity: 0, targetProbability: 1, reward: 1, loggedPrediction: 0.5, directMethod: 0.5)
        e.record(propensity: 1.5, targetProbability: 1, reward: 1, loggedPrediction: 0.5, directMethod: 0.5)
        e.record(propensity: 0.5, targetProbability: 1, reward: .nan, loggedPrediction: 0.5, directMethod: 0.5)
        #expect(e.rejected == 3)
        #expect(e == { var f = Self.estimator(); f.record(propensity: -1, targetProbability: 0, reward: 0, loggedPrediction: 0, directMethod: 0); f.record(propensity: 0, targetProbability: 0, reward: 0, loggedPrediction: 0, directMethod: 0); f.record(propensity: 2, targetProbability: 0, reward: 0, loggedPrediction: 0, directMethod: 0); return f }())
    }

    @Test func undefinedBeforeEnoughDecisions() {
        var e = OffPolicyEstimator()
        #expect(e.ips.value.isNaN && e.snips.value.isNaN)
        e.record(propensity: 0.5, targetProbability: 0, reward: 1, loggedPrediction: 0.5, directMethod: 0.5)
        #expect(e.ips.value == 0 && e.ips.standardError.isNaN)
        #expect(e.snips.value.isNaN, "no decision matched: Σw = 0")
    }
}
