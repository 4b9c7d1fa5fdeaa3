import Testing
@testable import Learning

// MARK: - Non-finite guard

@Suite("Non-finite guard")
struct NonFiniteGuardTests {
    static let configurations: [ModelConfiguration] = [
        ModelConfiguration(kind: .logistic, bits: 6),
        ModelConfiguration(kind: .factorizationMachine(factors: 8), optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-6), bits: 6),
        ModelConfiguration(
            kind: .matrixFactorization(factors: 5, userFields: 1, itemFields: 2), optimizer: .sgd(learningRate: 0.1, decay: 0),
            bits: 6),
    ]

    @Test(arguments: configurations, [Float.nan, .infinity, -.infinity])
    func nonFiniteInputValueIsRejectedCountedAndNeverReachesTheWeights(configuration: ModelConfiguration, bad: Float) {
        var model = Model(configuration)
        let good = FeatureRow(indices: [1, 2, 3], values: [1, 1, 0.5], fields: [0, 1, 2])
        for _ in 0..<3 { model.learn(good, label: true) }
        let before = CoreTest.tableBits(model)
        // The bad value sits on each field in turn (user tower, item tower, neither).
        for position in 0..<3 {
            var values: [Float] = [1, 1, 0.5]
            values[position] = bad
            let row = FeatureRow(indices: [1, 2, 3], values: values, fields: [0, 1, 2])
            let outcome = model.learn(row, label: position % 2 == 0)
            #expect(!outcome.applied)
        }
        #expect(model.rejectedNonFinite == 3)
        #expect(model.version == 3)
        #expect(CoreTest.tableBits(model) == before)
        #expect(model.table.allSatisfy { $0.isFinite })
    }

    @Test(arguments: configurations)
    func nonFiniteValueOnAFreshModelIsRejected(configuration: ModelConfiguration) {
        var model = Model(configuration)
        let before = CoreTest.tableBits(model)
        let outcome = model.learn(FeatureRow(indices: [1, 2, 3], values: [1, .infinity, 1], fields: [0, 1, 2]), label: true)
        #expect(!outcome.applied)
        #expect(model.rejectedNonFinite == 1)
        #expect(CoreTest.tableBits(model) == before)
    }

    @Test func invalidImportanceWeightsAreRejected() {
        var model = Model(ModelConfiguration(kind: .logistic, bits: 6))
        let row = FeatureRow(indices: [1], values: [1], fields: [0])
        let before = CoreTest.tableBits(model)
        for weight in [Double.nan, .infinity, -1] {
            #expect(!model.learn(row, label: true, weight: weight).applied)
        }
        #expect(model.rejectedNonFinite == 3)
        #expect(CoreTest.tableBits(model) == before)
    }

    @Test func predictionOfANaNRowIsNaNAndInfiniteMarginsAreClamped() {
        var model = Model(ModelConfiguration(kind: .logistic, optimizer: .sgd(learningRate: 1, decay: 0), bits: 6, gradientClip: 0))
        let row = FeatureRow(indices: [1], values: [1], fields: [0])
        model.learn(row, label: true)
        #expect(model.predict(FeatureRow(indices: [1], values: [.nan], fields: [0])).isNaN)
        #expect(model.predict(FeatureRow(indices: [1], values: [.infinity], fields: [0])) == Model.probability(margin: 35))
        #expect(Model.probability(margin: -1e300) == Model.probability(margin: -35))
        #expect(Model.probability(margin: -35) > 0)
        #expect(Model.probability(margin: 35) < 1)
    }

    @Test func linearCoordinateThatWouldOverflowIsSkippedAndCounted() {
        // Finite margin (weight 0 × 3e38 = 0), finite gradient, but w − η·g·x = 10·0.5·3e38 overflows Float.
        var model = Model(ModelConfiguration(kind: .logistic, optimizer: .sgd(learningRate: 10, decay: 0), bits: 6, gradientClip: 0))
        let row = FeatureRow(indices: [1, 2], values: [3e38, 1], fields: [0, 0])
        let outcome = model.learn(row, label: true)
        #expect(outcome.applied)
        #expect(model.skippedNonFiniteCoordinates == 1)
        #expect(model.linearWeight(at: 1) == 0)
        #expect(model.linearWeight(at: 2) == 5)  // the other coordinates still learn
        #expect(model.bias == 5)
        #expect(model.table.allSatisfy { $0.isFinite })
    }

    @Test(arguments: ["sgd", "adagrad", "ftrl"])
    func factorBlockThatWouldOverflowIsSkippedPerCoordinate(optimizer: String) {
        let factorOptimizer: OptimizerKind
        switch optimizer {
        case "sgd": factorOptimizer = .sgd(learningRate: 1000, decay: 0)
        case "adagrad": factorOptimizer = .adagrad(learningRate: 0.1, epsilon: 1e-6)
        default: factorOptimizer = .ftrl(alpha: 0.1, beta: 1, l1: 0, l2: 0)
        }
        var model = Model(ModelConfiguration(
            kind: .matrixFactorization(factors: 8, userFields: 1, itemFields: 2),
            optimizer: .sgd(learningRate: 1e-30, decay: 0), factorOptimizer: factorOptimizer, bits: 6, initStd: 0.01,
            gradientClip: 0))
        // Item value 3e38: the item tower is ~1e36, the margin stays finite, but the user factors' gradients (~1e36)
        // square (AdaGrad/FTRL state) or step (SGD η = 1000) past Float.max.
        let row = FeatureRow(indices: [1, 2], values: [1, 3e38], fields: [0, 1])
        let margin = model.margin(row)
        #expect(margin.isFinite)
        let outcome = model.learn(row, label: margin < 0)
        #expect(outcome.applied)
        #expect(model.skippedNonFiniteCoordinates >= 8)
        #expect(model.table.allSatisfy { $0.isFinite })
    }
}
