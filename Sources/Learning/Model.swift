// MARK: - Model

/// An online binary classifier trained by per-example logloss updates: logistic regression, a factorization machine
/// or a bilinear two-tower (matrix factorization) model, with SGD, AdaGrad or FTRL-Proximal.
///
/// A value type: all parameters and optimizer state live in one contiguous `[Float]` (copy-on-write), so copying a
/// model is cheap until one copy learns. Single writer, no locks: share copies across tasks, mutate one per task.
///
/// Each `learn` call dispatches once on the configuration, then runs loops specialised for that model kind and
/// optimizer pair (`Kernels`). A non-finite input value, margin or gradient never reaches the parameters: the update
/// is refused and counted in `rejectedNonFinite`.
public struct Model: Sendable {
    /// The configuration the model was created with.
    public let configuration: ModelConfiguration
    /// Weights, factors and optimizer state; see `ParameterLayout`.
    var table: [Float]
    /// Constants the kernels need, derived from the configuration.
    let context: Kernels.Context
    /// Number of applied updates.
    public internal(set) var version: UInt64
    /// Updates refused by the non-finite guard (non-finite input value, margin, weight or gradient).
    public internal(set) var rejectedNonFinite: UInt64
    /// Individual coordinates whose update would have produced a non-finite weight or optimizer state (possible only
    /// for extreme but finite feature values) and were therefore left unchanged. Normally 0.
    public internal(set) var skippedNonFiniteCoordinates: UInt64

    // MARK: Creation

    /// Creates a model with zero linear weights and bias and factors drawn from `configuration.seed`.
    /// An invalid configuration traps with the message of `ModelConfiguration.validate()`; validate user input first.
    public init(_ configuration: ModelConfiguration) {
        do {
            try configuration.validate()
        } catch {
            fatalError("Model: invalid configuration: \(error.message)")
        }
        self.init(validated: configuration, table: Self.initialTable(configuration))
    }

    /// Creates a model over an existing table (already checked to have the layout's size).
    init(validated configuration: ModelConfiguration, table: [Float], version: UInt64 = 0, rejected: UInt64 = 0, skipped: UInt64 = 0) {
        let layout = ParameterLayout(configuration)
        let shape: Kernels.Shape
        var user: UInt64 = 0
        var item: UInt64 = 0
        switch configuration.kind {
        case .logistic:
            shape = .logistic
        case .factorizationMachine:
            shape = .factorizationMachine
        case .matrixFactorization(_, let u, let i):
            shape = .matrixFactorization
            user = u
            item = i
        }
        self.configuration = configuration
        self.table = table
        self.context = Kernels.Context(
            shape: shape, layout: layout, mask: UInt32(layout.slots - 1), userFields: user, itemFields: item)
        self.version = version
        self.rejectedNonFinite = rejected
        self.skippedNonFiniteCoordinates = skipped
    }

    /// Zero weights and state; factors uniform on `[−√3·initStd, √3·initStd]` (std = initStd), drawn slot by slot,
    /// factor by factor, from SplitMix64(seed). The bias slot's factors stay 0 (unused).
    static func initialTable(_ configuration: ModelConfiguration) -> [Float] {
        let layout = ParameterLayout(configuration)
        var table = [Float](repeating: 0, count: layout.floatCount)
        let k = layout.k
        guard k > 0 else { return table }
        let scale = Float(configuration.initStd * 3.0.squareRoot())
        var rng = SplitMix64(seed: configuration.seed)
        table.withUnsafeMutableBufferPointer { t in
            var base = layout.factorOffset
            for _ in 0..<layout.slots {
                for f in 0..<k { t[base + f] = scale * rng.nextSymmetricUnit() }
                base += layout.stride
            }
        }
        return table
    }

    // MARK: Prediction

    /// The raw score `b + Σ w x + (pairwise term)`, unclamped. Non-finite when an input value is non-finite.
    public func margin(_ row: FeatureRow) -> Double {
        let context = self.context
        return row.withView { view in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Kernels.scratchCount(context.layout)) { scratch in
                table.withUnsafeBufferPointer { t in
                    Kernels.forward(t.baseAddress!, view, context, scratch.baseAddress!)
                }
            }
        }
    }

    /// The probability of a positive label: σ(margin clamped to `[−35, 35]`). NaN if the margin is NaN.
    public func predict(_ row: FeatureRow) -> Double {
        clampedSigmoid(margin(row))
    }

    /// The logistic link used by `predict`: σ of the margin clamped to `[−35, 35]`.
    public static func probability(margin: Double) -> Double {
        clampedSigmoid(margin)
    }

    // MARK: Learning

    /// Predicts, then takes one optimizer step on the logloss of `row` with `label`, scaled by the importance
    /// `weight` (gradient × weight). The per-example gradient `weight·(p − y)` is clipped to
    /// `±configuration.gradientClip` (if > 0).
    ///
    /// Refused (`applied == false`, model unchanged, `rejectedNonFinite` incremented) when the margin is
    /// non-finite (a NaN/Inf feature value or an overflow) or `weight` is negative or non-finite.
    /// Weight 0 counts as an applied update that changes no parameter.
    @discardableResult
    public mutating func learn(_ row: FeatureRow, label: Bool, weight: Double = 1) -> LearnOutcome {
        let factorL2 = Float(configuration.factorL2)
        let factorOptimizer = configuration.effectiveFactorOptimizer
        switch configuration.optimizer {
        case .sgd(let rate, let decay):
            let linear = SGDUpdater(rate: Self.sgdRate(rate, decay, version), l2: 0)
            return learn(row, label, weight, linear, factorOptimizer, factorL2)
        case .adagrad(let rate, let epsilon):
            let linear = AdaGradUpdater(rate: Float(rate), epsilon: Float(epsilon), l2: 0)
            return learn(row, label, weight, linear, factorOptimizer, factorL2)
        case .ftrl(let alpha, let beta, let l1, let l2):
            let linear = FTRLUpdater(alpha: Float(alpha), beta: Float(beta), l1: Float(l1), l2: Float(l2))
            return learn(row, label, weight, linear, factorOptimizer, factorL2)
        }
    }

    /// `η / (1 + decay·t)` with `t` the number of updates applied so far.
    static func sgdRate(_ rate: Double, _ decay: Double, _ t: UInt64) -> Float {
        Float(rate / (1 + decay * Double(t)))
    }

    private mutating func learn<L: CoordinateUpdater>(
        _ row: FeatureRow, _ label: Bool, _ weight: Double, _ linear: L, _ factorOptimizer: OptimizerKind, _ l2: Float
    ) -> LearnOutcome {
        switch factorOptimizer {
        case .sgd(let rate, let decay):
            return step(row, label, weight, linear, SGDUpdater(rate: Self.sgdRate(rate, decay, version), l2: l2))
        case .adagrad(let rate, let epsilon):
            return step(row, label, weight, linear, AdaGradUpdater(rate: Float(rate), epsilon: Float(epsilon), l2: l2))
        case .ftrl(let alpha, let beta, _, _):
            return step(row, label, weight, linear, FTRLFactorUpdater(alpha: Float(alpha), beta: Float(beta), l2: l2))
        }
    }

    private mutating func step<L: CoordinateUpdater, F: CoordinateUpdater>(
        _ row: FeatureRow, _ label: Bool, _ weight: Double, _ linear: L, _ factor: F
    ) -> LearnOutcome {
        let context = self.context
        let clip = configuration.gradientClip
        let weightValid = weight.isFinite && weight >= 0
        let result: (margin: Double, applied: Bool, skipped: Int) = row.withView { view in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Kernels.scratchCount(context.layout)) { scratch in
                table.withUnsafeMutableBufferPointer { t in
                    let base = t.baseAddress!
                    let margin = Kernels.forward(base, view, context, scratch.baseAddress!)
                    guard margin.isFinite, weightValid else { return (margin, false, 0) }
                    var g = weight * (clampedSigmoid(margin) - (label ? 1 : 0))
                    if clip > 0 { g = g > clip ? clip : (g < -clip ? -clip : g) }
                    let gradient = Float(g)
                    guard gradient.isFinite else { return (margin, false, 0) }
                    if gradient == 0 { return (margin, true, 0) }
                    let skipped = Kernels.update(
                        base, view, context, scratch.baseAddress!, gradient: gradient, linear: linear, factor: factor)
                    return (margin, true, skipped)
                }
            }
        }
        if result.applied {
            version &+= 1
            skippedNonFiniteCoordinates &+= UInt64(result.skipped)
        } else {
            rejectedNonFinite &+= 1
        }
        return LearnOutcome(probability: clampedSigmoid(result.margin), applied: result.applied)
    }

    // MARK: Parameters

    /// The linear weight of hashed slot `index` (masked to the model's table).
    public func linearWeight(at index: UInt32) -> Float {
        table[Int(index & context.mask) &* context.layout.stride]
    }

    /// The intercept.
    public var bias: Double { Double(table[context.layout.biasBase]) }

    /// Latent factors per feature (0 for logistic regression).
    public var factorCount: Int { context.layout.k }

    /// The factor vector of hashed slot `index` (masked), `factorCount` floats; empty for logistic regression.
    /// A slice of the model's storage: O(1), no copy until the model next learns.
    public func factors(at index: UInt32) -> ArraySlice<Float> {
        let start = Int(index & context.mask) &* context.layout.stride &+ context.layout.factorOffset
        return table[start..<(start + context.layout.k)]
    }

    /// Memory held by parameters and optimizer state, in bytes: fixed by `bits` and the factor count, never by the
    /// number of events.
    public var parameterBytes: Int { table.count &* MemoryLayout<Float>.stride }

    // MARK: Internal access (tests, snapshots)

    /// Table offset of the linear weight of slot `index`.
    func linearOffset(_ index: UInt32) -> Int { Int(index & context.mask) &* context.layout.stride }
    /// Table offset of factor `f` of slot `index`.
    func factorOffset(_ index: UInt32, _ f: Int) -> Int { linearOffset(index) &+ context.layout.factorOffset &+ f }
    /// Table offset of the bias.
    var biasOffset: Int { context.layout.biasBase }
}

// MARK: - FeatureRow view

extension FeatureRow {
    /// Runs `body` with raw views of the three arrays (no copy).
    @inline(__always)
    func withView<R>(_ body: (Kernels.RowView) -> R) -> R {
        _indices.withUnsafeBufferPointer { i in
            _values.withUnsafeBufferPointer { v in
                _fields.withUnsafeBufferPointer { f in
                    body(Kernels.RowView(indices: i, values: v, fields: f))
                }
            }
        }
    }
}
