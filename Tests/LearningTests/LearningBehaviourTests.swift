import Foundation
import Testing
@testable import Learning

// MARK: - Determinism

@Suite("Determinism")
struct DeterminismTests {
    static let configurations: [ModelConfiguration] = [
        ModelConfiguration(kind: .factorizationMachine(factors: 8), optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 0.01, l2: 0.1), bits: 10, seed: 5),
        ModelConfiguration(
            kind: .matrixFactorization(factors: 6, userFields: 1, itemFields: 2), optimizer: .adagrad(learningRate: 0.1, epsilon: 1e-6),
            bits: 10, seed: 5, initStd: 0.05),
    ]

    static func train(_ configuration: ModelConfiguration) -> Model {
        var model = Model(configuration)
        var stream = CoreTestRandom(seed: 1234)
        var row = FeatureRow()
        for _ in 0..<2000 {
            row.removeAll()
            row.append(index: UInt32(stream.below(100)), value: 1, field: 0)
            row.append(index: UInt32(100 + stream.below(100)), value: 1, field: 1)
            row.append(index: UInt32(200 + stream.below(5)), value: Float(stream.uniform(0, 1)), field: 2)
            model.learn(row, label: stream.unit() < 0.3)
        }
        return model
    }

    @Test(arguments: configurations)
    func sameSeedAndStreamEndBitIdenticalDifferentSeedDiffers(configuration: ModelConfiguration) {
        let a = Self.train(configuration)
        let b = Self.train(configuration)
        #expect(a.snapshotBytes() == b.snapshotBytes())
        var other = configuration
        other.seed = 6
        let c = Self.train(other)
        #expect(CoreTest.tableBits(c) != CoreTest.tableBits(a))
        #expect(Model(other).factors(at: 3) != Model(configuration).factors(at: 3))
    }

    @Test func initialFactorsHaveTheConfiguredSpread() {
        let model = Model(ModelConfiguration(kind: .factorizationMachine(factors: 16), bits: 12, seed: 8, initStd: 0.2))
        var values = [Double]()
        for slot in 0..<UInt32(1 << 12) { values += model.factors(at: slot).map(Double.init) }
        let mean = values.reduce(0, +) / Double(values.count)
        let std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        #expect(abs(mean) < 0.005)
        #expect(abs(std - 0.2) < 0.005)
        #expect(values.allSatisfy { abs($0) <= 0.2 * 3.0.squareRoot() })
        #expect(model.bias == 0)
        #expect(model.linearWeight(at: 5) == 0)
    }
}

// MARK: - Learning sanity

@Suite("Learning sanity")
struct LearningSanityTests {
    /// Progressive (predict-then-learn) logloss over the last quarter of a synthetic stream of 40 users × 40 items.
    /// `interaction`: label logit 4·p_u·q_i with p, q ∈ {−1, +1} (XOR-like, needs factors);
    /// otherwise 3·(a_u + b_i) with a, b ∈ {−1, +1} (additive, linear models suffice).
    static func finalLogloss(_ configuration: ModelConfiguration, interaction: Bool, events: Int = 40_000) -> Double {
        var rng = CoreTestRandom(seed: 77)
        let users = (0..<40).map { _ in rng.unit() < 0.5 ? -1.0 : 1.0 }
        let items = (0..<40).map { _ in rng.unit() < 0.5 ? -1.0 : 1.0 }
        var model = Model(configuration)
        var row = FeatureRow()
        var loss = 0.0
        var counted = 0
        for e in 0..<events {
            let u = rng.below(40)
            let i = rng.below(40)
            let logit = interaction ? 4 * users[u] * items[i] : 3 * (users[u] + items[i])
            let label = rng.unit() < CoreTest.sigmoid(logit)
            row.removeAll()
            row.append(index: UInt32(u), value: 1, field: 0)
            row.append(index: UInt32(100 + i), value: 1, field: 1)
            let outcome = model.learn(row, label: label)
            if e >= events * 3 / 4 {
                loss += CoreTest.logloss(outcome.probability, label)
                counted += 1
            }
        }
        return loss / Double(counted)
    }

    @Test(arguments: [
        OptimizerKind.ftrl(alpha: 0.1, beta: 1, l1: 0.1, l2: 0.1), .adagrad(learningRate: 0.1, epsilon: 1e-6),
        .sgd(learningRate: 0.05, decay: 1e-5),
    ])
    func logisticLearnsAnAdditiveStreamWellBelowChance(optimizer: OptimizerKind) {
        // Bayes logloss here ≈ ½·0.693 + ½·0.0025 ≈ 0.348; chance is 0.693; these runs reach ≈ 0.37–0.40.
        let loss = Self.finalLogloss(ModelConfiguration(kind: .logistic, optimizer: optimizer, bits: 10), interaction: false)
        #expect(loss < 0.43, "logloss \(loss)")
    }

    @Test(arguments: [
        ModelKind.factorizationMachine(factors: 4), .matrixFactorization(factors: 4, userFields: 1, itemFields: 2),
    ], [OptimizerKind.ftrl(alpha: 0.1, beta: 1, l1: 0, l2: 0), .adagrad(learningRate: 0.1, epsilon: 1e-6)])
    func factorModelsLearnAnInteractionThatLogisticCannot(kind: ModelKind, optimizer: OptimizerKind) {
        // Bayes logloss ≈ log(1 + e^−4) ≈ 0.018; a linear model cannot beat ≈ 0.69.
        let factor = Self.finalLogloss(
            ModelConfiguration(kind: kind, optimizer: optimizer, bits: 10, initStd: 0.1), interaction: true)
        let linear = Self.finalLogloss(ModelConfiguration(kind: .logistic, optimizer: optimizer, bits: 10), interaction: true)
        #expect(factor < 0.2, "factor model logloss \(factor)")
        #expect(linear > 0.6, "logistic logloss \(linear)")
    }
}

// MARK: - Configuration

@Suite("Configuration")
struct ConfigurationTests {
    @Test func validationNamesTheOffendingParameter() {
        func message(_ c: ModelConfiguration) -> String? {
            do {
                try c.validate()
                return nil
            } catch {
                return error.message
            }
        }
        #expect(message(ModelConfiguration()) == nil)
        #expect(message(ModelConfiguration(bits: 0)) == "bits must be in 1...30, got 0")
        #expect(message(ModelConfiguration(kind: .factorizationMachine(factors: 0))) == "factors must be in 1...1024, got 0")
        #expect(message(ModelConfiguration(kind: .matrixFactorization(factors: 4, userFields: 0, itemFields: 2)))
            == "matrix factorization needs non-empty user and item fields")
        #expect(message(ModelConfiguration(optimizer: .sgd(learningRate: -1, decay: 0)))
            == "optimizer: learningRate must be finite and > 0, got -1.0")
        #expect(message(ModelConfiguration(factorOptimizer: .adagrad(learningRate: 0.1, epsilon: 0)))
            == "factor optimizer: epsilon must be finite and > 0, got 0.0")
        #expect(message(ModelConfiguration(optimizer: .ftrl(alpha: 0.1, beta: 0, l1: 0, l2: 0)))
            == "optimizer: beta must be finite and > 0, got 0.0")
        #expect(message(ModelConfiguration(gradientClip: .nan)) != nil)
        #expect(message(ModelConfiguration(initStd: -1)) != nil)
    }

    @Test func parameterBytesAreFixedByBitsFactorsAndOptimizerState() {
        // FTRL linear (w, z, n) + 8 factors + FTRL factor state n per factor = 3 + 16 = 19 floats per slot.
        let configuration = ModelConfiguration(kind: .factorizationMachine(factors: 8), bits: 10)
        var model = Model(configuration)
        #expect(configuration.parameterBytes == (1024 + 1) * 19 * 4 + 1024 / 8)  // + the materialized-slot bitmap
        #expect(model.parameterBytes == configuration.parameterBytes)
        let row = FeatureRow(indices: [1, 2, 3], values: [1, 1, 1], fields: [0, 1, 2])
        for _ in 0..<1000 { model.learn(row, label: true) }
        #expect(model.parameterBytes == configuration.parameterBytes)
        #expect(ModelConfiguration(kind: .logistic, optimizer: .sgd(learningRate: 0.1, decay: 0), bits: 4).parameterBytes == 17 * 4 + 8)
    }

    @Test func indicesWiderThanTheModelAreMaskedIntoIt() {
        var model = Model(ModelConfiguration(kind: .factorizationMachine(factors: 4), bits: 4))
        let wide = FeatureRow(indices: [0xffff_fff3], values: [1], fields: [0])
        let narrow = FeatureRow(indices: [3], values: [1], fields: [0])
        model.learn(wide, label: true)
        #expect(model.linearWeight(at: 3) != 0)
        #expect(model.linearWeight(at: 0xffff_fff3) == model.linearWeight(at: 3))
        #expect(model.margin(wide) == model.margin(narrow))
    }
}
