import Testing
@testable import Learning

// MARK: - Gradients against central finite differences

/// Every model's analytic gradient (observed as the change of one plain-SGD step with learning rate 1, which is
/// exactly −∇ at the pre-update point) is compared, parameter by parameter, with central finite differences of the
/// logloss computed in Double from `Model.margin`.
@Suite("Gradients")
struct GradientTests {
    /// Five features with distinct slots, mixed values and fields 0…3 (field 2 belongs to neither MF tower, field 3
    /// to both).
    static let row = FeatureRow(
        indices: [3, 17, 42, 100, 201], values: [1, 0.5, -1.5, 2, 0.75], fields: [0, 1, 2, 1, 3])

    static func sgdConfiguration(_ kind: ModelKind, factorL2: Double = 0) -> ModelConfiguration {
        ModelConfiguration(
            kind: kind, optimizer: .sgd(learningRate: 1, decay: 0), bits: 8, seed: 1, initStd: 0.3,
            factorL2: factorL2, gradientClip: 0)
    }

    /// A model whose whole table (weights, factors, bias) holds random values in [−0.5, 0.5).
    static func randomizedModel(_ configuration: ModelConfiguration, seed: UInt64 = 99) -> Model {
        var model = Model(configuration)
        var rng = CoreTestRandom(seed: seed)
        for i in model.table.indices { model.table[i] = Float(rng.uniform(-0.5, 0.5)) }
        return model
    }

    /// Central difference of the logloss w.r.t. the table entry at `offset`.
    static func finiteDifference(_ model: Model, offset: Int, label: Bool, h: Double = 1e-2) -> Double {
        var plus = model
        var minus = model
        plus.table[offset] = Float(Double(model.table[offset]) + h)
        minus.table[offset] = Float(Double(model.table[offset]) - h)
        let span = Double(plus.table[offset]) - Double(minus.table[offset])
        return (CoreTest.marginLoss(plus.margin(row), label) - CoreTest.marginLoss(minus.margin(row), label)) / span
    }

    /// Offsets of every parameter the row's margin depends on, and of parameters it must not touch.
    static func parameterOffsets(_ model: Model) -> (touched: [Int], untouched: [Int]) {
        var touched = [model.biasOffset]
        var untouched = [Int]()
        let k = model.factorCount
        for (j, index) in row.indices.enumerated() {
            touched.append(model.linearOffset(index))
            let field = row.fields[j]
            let inTowers: Bool
            switch model.configuration.kind {
            case .logistic: inTowers = false
            case .factorizationMachine: inTowers = true
            case .matrixFactorization(_, let user, let item): inTowers = (user | item) & (1 << UInt64(field)) != 0
            }
            for f in 0..<k {
                if inTowers { touched.append(model.factorOffset(index, f)) } else { untouched.append(model.factorOffset(index, f)) }
            }
        }
        // A slot the row does not use.
        untouched.append(model.linearOffset(77))
        for f in 0..<k { untouched.append(model.factorOffset(77, f)) }
        return (touched, untouched)
    }

    static let kinds: [ModelKind] = [
        .logistic,
        .factorizationMachine(factors: 5),
        .factorizationMachine(factors: 8),
        .matrixFactorization(factors: 5, userFields: 1 << 0 | 1 << 3, itemFields: 1 << 1 | 1 << 3),
        .matrixFactorization(factors: 8, userFields: 1 << 0 | 1 << 3, itemFields: 1 << 1 | 1 << 3),
    ]

    @Test(arguments: kinds, [true, false])
    func sgdStepEqualsFiniteDifferenceGradientForEveryParameter(kind: ModelKind, label: Bool) {
        let model = Self.randomizedModel(Self.sgdConfiguration(kind))
        var stepped = model
        let outcome = stepped.learn(Self.row, label: label)
        #expect(outcome.applied)
        let (touched, untouched) = Self.parameterOffsets(model)
        let featuresInTowers: Int
        switch kind {
        case .logistic: featuresInTowers = 0
        case .factorizationMachine: featuresInTowers = 5
        case .matrixFactorization: featuresInTowers = 4  // field 2 is in neither tower
        }
        #expect(touched.count == 1 + 5 + model.factorCount * featuresInTowers)
        for offset in touched {
            let analytic = Double(model.table[offset]) - Double(stepped.table[offset])
            let numeric = Self.finiteDifference(model, offset: offset, label: label)
            #expect(
                abs(analytic - numeric) <= 1e-3 * max(1, abs(numeric)),
                "offset \(offset): analytic \(analytic), finite difference \(numeric)")
            #expect(abs(numeric) > 1e-6, "offset \(offset) should influence the loss")
        }
        for offset in untouched {
            #expect(model.table[offset].bitPattern == stepped.table[offset].bitPattern, "offset \(offset) changed")
            #expect(abs(Self.finiteDifference(model, offset: offset, label: label)) < 1e-6)
        }
    }

    @Test(arguments: [ModelKind.factorizationMachine(factors: 5), .matrixFactorization(factors: 5, userFields: 1, itemFields: 2)])
    func factorL2AddsLambdaTimesFactorToTheGradient(kind: ModelKind) {
        let lambda = 0.3
        let plain = Self.randomizedModel(Self.sgdConfiguration(kind))
        let regularized = Self.randomizedModel(Self.sgdConfiguration(kind, factorL2: lambda))
        var a = plain
        var b = regularized
        a.learn(Self.row, label: true)
        b.learn(Self.row, label: true)
        let (touched, _) = Self.parameterOffsets(plain)
        let factorOffsets = Set(touched).subtracting(
            [plain.biasOffset] + Self.row.indices.map { plain.linearOffset($0) })
        #expect(!factorOffsets.isEmpty)
        for offset in factorOffsets {
            let gradPlain = Double(plain.table[offset]) - Double(a.table[offset])
            let gradRegularized = Double(regularized.table[offset]) - Double(b.table[offset])
            let expected = lambda * Double(plain.table[offset])
            #expect(abs((gradRegularized - gradPlain) - expected) < 1e-5, "offset \(offset)")
        }
        // Linear weights and bias are not touched by factorL2.
        for offset in [plain.biasOffset] + Self.row.indices.map({ plain.linearOffset($0) }) {
            #expect(a.table[offset] == b.table[offset])
        }
    }
}
