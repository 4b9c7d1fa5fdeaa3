import Foundation
import Testing
@testable import Learning

// MARK: - Reference arithmetic (Double)

/// FTRL-Proximal per-coordinate step, McMahan et al. 2013, Algorithm 1, in Double.
private func ftrlReference(
    z: inout Double, n: inout Double, w: inout Double, g: Double, alpha: Double, beta: Double, l1: Double, l2: Double
) {
    let sigma = ((n + g * g).squareRoot() - n.squareRoot()) / alpha
    z += g - sigma * w
    n += g * g
    w = abs(z) <= l1 ? 0 : -(z - (z > 0 ? l1 : -l1)) / ((beta + n.squareRoot()) / alpha + l2)
}

/// One FTRL coordinate of the Double reference.
private struct FTRLCoordinate {
    var z = 0.0
    var n = 0.0
    var w = 0.0

    mutating func step(_ g: Double, alpha: Double, beta: Double, l1: Double, l2: Double) {
        ftrlReference(z: &z, n: &n, w: &w, g: g, alpha: alpha, beta: beta, l1: l1, l2: l2)
    }
}

/// |a − b| within `tolerance` relative to max(1, |b|).
private func close(_ a: Double, _ b: Double, _ tolerance: Double = 2e-6) -> Bool {
    abs(a - b) <= tolerance * max(1, abs(b))
}

// MARK: - Optimizers

@Suite("Optimizers")
struct OptimizerTests {
    /// One feature (slot 7, value 1) plus the bias.
    static let single = FeatureRow(indices: [7], values: [1], fields: [0])

    @Test func ftrlMatchesHandComputedReferenceUpdates() {
        let (alpha, beta, l1, l2) = (0.5, 1.0, 0.2, 0.1)
        var model = Model(ModelConfiguration(
            kind: .logistic, optimizer: .ftrl(alpha: alpha, beta: beta, l1: l1, l2: l2), bits: 4, gradientClip: 0))

        // Step 1 by hand: margin 0, p = 0.5, label 1 ⇒ g = −0.5 for the weight (x = 1) and the bias.
        //   weight: n = 0.25, σ = (√0.25 − 0)/0.5 = 1, z = −0.5 − 1·0 = −0.5, |z| > λ1 ⇒
        //           w = −(z − sgn(z)λ1) / ((β + √n)/α + λ2) = −(−0.5 + 0.2) / ((1 + 0.5)/0.5 + 0.1) = 0.3/3.1
        //   bias (no L1, no L2): b = 0.5 / ((1 + 0.5)/0.5) = 0.5/3
        let first = model.learn(Self.single, label: true)
        #expect(first.probability == 0.5)
        #expect(close(Double(model.linearWeight(at: 7)), 0.3 / 3.1))  // 0.0967741935…
        #expect(close(model.bias, 0.5 / 3))  // 0.1666666…
        #expect(model.table[model.linearOffset(7) + 1] == -0.5)  // z
        #expect(model.table[model.linearOffset(7) + 2] == 0.25)  // n

        // Steps 2 and 3 against the same arithmetic in Double.
        var (zw, nw, w) = (-0.5, 0.25, 0.3 / 3.1)
        var (zb, nb, b) = (-0.5, 0.25, 0.5 / 3)
        for label in [false, true, true, false] {
            let p = CoreTest.sigmoid(w + b)
            let outcome = model.learn(Self.single, label: label)
            #expect(close(outcome.probability, p))
            let g = p - (label ? 1 : 0)
            ftrlReference(z: &zw, n: &nw, w: &w, g: g, alpha: alpha, beta: beta, l1: l1, l2: l2)
            ftrlReference(z: &zb, n: &nb, w: &b, g: g, alpha: alpha, beta: beta, l1: 0, l2: 0)
            #expect(close(Double(model.linearWeight(at: 7)), w), "w \(model.linearWeight(at: 7)) vs \(w)")
            #expect(close(model.bias, b), "b \(model.bias) vs \(b)")
        }
        #expect(model.version == 5)
    }

    @Test func ftrlL1KeepsWeakWeightsExactlyZeroButNeverTheBias() {
        var model = Model(ModelConfiguration(
            kind: .logistic, optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 10, l2: 0), bits: 4, gradientClip: 0))
        for _ in 0..<5 { model.learn(Self.single, label: true) }
        #expect(model.linearWeight(at: 7) == 0)
        #expect(model.table[model.linearOffset(7) + 1] < -1)  // z accumulates, stays within λ1
        #expect(model.bias > 0.1)
    }

    @Test func adagradMatchesHandComputedReferenceUpdates() {
        let (rate, epsilon) = (0.1, 0.5)
        var model = Model(ModelConfiguration(
            kind: .logistic, optimizer: .adagrad(learningRate: rate, epsilon: epsilon), bits: 4, gradientClip: 0))
        // Step 1 by hand: g = −0.5, G = 0.25, w = 0 − 0.1·(−0.5)/(√0.25 + 0.5) = 0.05; the bias likewise.
        model.learn(Self.single, label: true)
        #expect(close(Double(model.linearWeight(at: 7)), 0.05))
        #expect(close(model.bias, 0.05))
        var (sum, w, b) = (0.25, 0.05, 0.05)
        for label in [false, false, true] {
            let g = CoreTest.sigmoid(w + b) - (label ? 1 : 0)
            model.learn(Self.single, label: label)
            sum += g * g
            w -= rate * g / (sum.squareRoot() + epsilon)
            b -= rate * g / (sum.squareRoot() + epsilon)
            #expect(close(Double(model.linearWeight(at: 7)), w))
            #expect(close(model.bias, b))
            #expect(close(Double(model.table[model.linearOffset(7) + 1]), sum))
        }
    }

    @Test func sgdLearningRateDecaysAsEtaOverOnePlusDecayTimesUpdates() {
        let (eta, decay) = (0.5, 0.25)
        var model = Model(ModelConfiguration(
            kind: .logistic, optimizer: .sgd(learningRate: eta, decay: decay), bits: 4, gradientClip: 0))
        let row = FeatureRow(indices: [7], values: [2], fields: [0])
        var (w, b) = (0.0, 0.0)
        for (t, label) in [true, false, true, true, false].enumerated() {
            let p = CoreTest.sigmoid(2 * w + b)
            model.learn(row, label: label)
            let rate = eta / (1 + decay * Double(t))  // t = updates applied before this one
            w -= rate * (p - (label ? 1 : 0)) * 2
            b -= rate * (p - (label ? 1 : 0))
            #expect(close(Double(model.linearWeight(at: 7)), w), "step \(t)")
            #expect(close(model.bias, b), "step \(t)")
        }
        #expect(Model.sgdRate(eta, decay, 4) == Float(0.25))
    }

    /// A Double reference of a two-tower MF (k = 5: one SIMD group of four plus a remainder) over several steps,
    /// for each factor optimizer; linear weights and bias use FTRL.
    @Test(arguments: ["adagrad", "ftrl"])
    func factorOptimizersMatchReferenceArithmeticOverSeveralSteps(optimizer: String) {
        let k = 5
        let (alpha, beta, l1, l2) = (0.3, 1.0, 0.01, 0.05)
        let (rate, epsilon) = (0.2, 0.1)
        let factorL2 = 0.1
        let factorOptimizer: OptimizerKind =
            optimizer == "adagrad" ? .adagrad(learningRate: rate, epsilon: epsilon) : .ftrl(alpha: alpha, beta: beta, l1: l1, l2: l2)
        var model = Model(ModelConfiguration(
            kind: .matrixFactorization(factors: k, userFields: 1, itemFields: 2),
            optimizer: .ftrl(alpha: alpha, beta: beta, l1: l1, l2: l2), factorOptimizer: factorOptimizer,
            bits: 6, seed: 3, initStd: 0.3, factorL2: factorL2, gradientClip: 0))
        let row = FeatureRow(indices: [1, 2], values: [1, 0.5], fields: [0, 1])
        let x = [1.0, 0.5]

        var v = [model.factors(at: 1).map(Double.init), model.factors(at: 2).map(Double.init)]
        var state = [[Double]](repeating: [Double](repeating: 0, count: k), count: 2)
        var linear = [FTRLCoordinate(), FTRLCoordinate()]
        var bias = FTRLCoordinate()

        for label in [true, false, true, true, false, true] {
            let user = v[0].map { $0 * x[0] }
            let item = v[1].map { $0 * x[1] }
            let margin = bias.w + linear[0].w * x[0] + linear[1].w * x[1] + zip(user, item).map(*).reduce(0, +)
            let g = CoreTest.sigmoid(margin) - (label ? 1 : 0)
            let outcome = model.learn(row, label: label)
            #expect(close(outcome.probability, CoreTest.sigmoid(margin), 1e-5))

            bias.step(g, alpha: alpha, beta: beta, l1: 0, l2: 0)
            for j in 0..<2 { linear[j].step(g * x[j], alpha: alpha, beta: beta, l1: l1, l2: l2) }
            let partner = [item, user]  // ∂(U·I)/∂v_user = x_u I, ∂/∂v_item = x_i U
            for j in 0..<2 {
                for f in 0..<k {
                    let grad = g * x[j] * partner[j][f] + factorL2 * v[j][f]
                    state[j][f] += grad * grad
                    if optimizer == "adagrad" {
                        v[j][f] -= rate * grad / (state[j][f].squareRoot() + epsilon)
                    } else {
                        v[j][f] -= alpha * grad / (beta + state[j][f].squareRoot())
                    }
                }
            }
            for (j, index) in [UInt32(1), 2].enumerated() {
                #expect(close(Double(model.linearWeight(at: index)), linear[j].w, 1e-5))
                let factors = Array(model.factors(at: index))
                for f in 0..<k { #expect(close(Double(factors[f]), v[j][f], 1e-5), "slot \(index) factor \(f)") }
            }
            #expect(close(model.bias, bias.w, 1e-5))
        }
    }

    @Test(arguments: [ModelKind.logistic, .factorizationMachine(factors: 8), .matrixFactorization(factors: 6, userFields: 1, itemFields: 2)])
    func importanceWeightTwoDoublesTheGradient(kind: ModelKind) {
        let configuration = ModelConfiguration(
            kind: kind, optimizer: .sgd(learningRate: 0.01, decay: 0), bits: 8, seed: 4, initStd: 0.3, gradientClip: 0)
        let row = FeatureRow(indices: [3, 9, 14], values: [1, 0.5, 2], fields: [0, 1, 2])
        let start = GradientTests.randomizedModel(configuration)
        var once = start
        var twice = start
        once.learn(row, label: true, weight: 1)
        twice.learn(row, label: true, weight: 2)
        var changed = 0
        for i in start.table.indices {
            let d1 = Double(once.table[i]) - Double(start.table[i])
            let d2 = Double(twice.table[i]) - Double(start.table[i])
            #expect(abs(d2 - 2 * d1) <= 1e-6, "entry \(i): \(d2) vs 2×\(d1)")
            if d1 != 0 { changed += 1 }
        }
        #expect(changed >= 4)
    }

    @Test func weightZeroIsAnAppliedUpdateThatChangesNothing() {
        var model = Model(ModelConfiguration(kind: .factorizationMachine(factors: 4), bits: 6))
        let before = CoreTest.tableBits(model)
        let outcome = model.learn(Self.single, label: true, weight: 0)
        #expect(outcome.applied)
        #expect(model.version == 1)
        #expect(CoreTest.tableBits(model) == before)
    }

    @Test func gradientClippingCapsThePerExampleGradient() {
        let row = FeatureRow(indices: [3, 9], values: [1, 0.5], fields: [0, 1])
        func trained(clip: Double, weight: Double) -> Model {
            var model = Model(ModelConfiguration(
                kind: .factorizationMachine(factors: 4), optimizer: .sgd(learningRate: 0.001, decay: 0), bits: 6,
                initStd: 0.1, gradientClip: clip))
            model.learn(row, label: true, weight: weight)
            return model
        }
        // Fresh model: p = σ(pairwise term) — compute the unclipped gradient to pick the equivalent weight.
        let p = Model(trained(clip: 0, weight: 0).configuration).predict(row)
        let unclipped = 1000 * (p - 1)  // ≈ −500
        #expect(unclipped < -100)
        let clipped = trained(clip: 100, weight: 1000)
        let equivalent = trained(clip: 0, weight: 100 / (1 - p))  // weight·(p − 1) = −100
        let off = trained(clip: 0, weight: 1000)
        for i in clipped.table.indices {
            #expect(abs(clipped.table[i] - equivalent.table[i]) <= 1e-7)
        }
        #expect(abs(off.bias) > 4 * abs(clipped.bias))
        #expect(abs(clipped.bias - 0.1) < 1e-6)  // η·|g| = 0.001·100
    }
}
