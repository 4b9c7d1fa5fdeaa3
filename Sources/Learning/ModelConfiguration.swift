// MARK: - ModelConfiguration

/// Everything that defines a model before it sees data. Two models with equal configurations trained on the same
/// stream end bit-identical.
public struct ModelConfiguration: Sendable, Equatable, Hashable {
    /// The model's shape.
    public var kind: ModelKind
    /// Optimizer for the linear weights and the bias. The bias is never L1- or L2-regularised.
    public var optimizer: OptimizerKind
    /// Optimizer for factor vectors; `nil` = the same as `optimizer`.
    ///
    /// FTRL on factors runs without L1, as online gradient descent with FTRL's per-coordinate rate
    /// `η = α / (β + √n)` (`n` = sum of squared factor gradients); without regularisation FTRL-Proximal and OGD with
    /// those rates coincide (McMahan et al. 2013, §3.1). L1 on factors would snap the randomly initialised vectors to
    /// zero, where every factor gradient vanishes and they could never recover; FTRL's `l1`/`l2` therefore apply to
    /// linear weights only, and factors are regularised by `factorL2`.
    public var factorOptimizer: OptimizerKind?
    /// Table size is `2^bits` hashed slots (`1...30`).
    public var bits: Int
    /// Seed of the factor initialisation; same seed ⇒ bit-identical run.
    public var seed: UInt64
    /// Standard deviation of the initial factors: uniform on `[−√3·initStd, √3·initStd]` (exact, libm-free, so
    /// identical on every platform).
    public var initStd: Double
    /// L2 penalty on factors: `factorL2·v` is added to every factor gradient.
    public var factorL2: Double
    /// Cap on `|per-example loss gradient|` = `|weight·(p − y)|` (applied before the chain rule); 0 = off.
    public var gradientClip: Double

    /// Creates a configuration. Defaults: logistic, FTRL(α 0.1, β 1, λ1 0, λ2 0), 2^20 slots, seed 42,
    /// initStd 0.01, no factor L2, gradient clip 100.
    public init(
        kind: ModelKind = .logistic,
        optimizer: OptimizerKind = .ftrl(alpha: 0.1, beta: 1, l1: 0, l2: 0),
        factorOptimizer: OptimizerKind? = nil,
        bits: Int = 20,
        seed: UInt64 = 42,
        initStd: Double = 0.01,
        factorL2: Double = 0,
        gradientClip: Double = 100
    ) {
        self.kind = kind
        self.optimizer = optimizer
        self.factorOptimizer = factorOptimizer
        self.bits = bits
        self.seed = seed
        self.initStd = initStd
        self.factorL2 = factorL2
        self.gradientClip = gradientClip
    }

    /// The optimizer applied to factor coordinates (`factorOptimizer ?? optimizer`).
    public var effectiveFactorOptimizer: OptimizerKind { factorOptimizer ?? optimizer }

    // MARK: Validation

    /// Checks every parameter's range. `Model.init` traps on an invalid configuration, so call this first when the
    /// configuration comes from user input (pipeline files).
    public func validate() throws(ModelConfigurationError) {
        guard (1...30).contains(bits) else { throw .init("bits must be in 1...30, got \(bits)") }
        switch kind {
        case .logistic:
            break
        case .factorizationMachine(let k):
            guard (1...1024).contains(k) else { throw .init("factors must be in 1...1024, got \(k)") }
        case .matrixFactorization(let k, let user, let item):
            guard (1...1024).contains(k) else { throw .init("factors must be in 1...1024, got \(k)") }
            guard user != 0, item != 0 else { throw .init("matrix factorization needs non-empty user and item fields") }
        }
        try Self.validate(optimizer, role: "optimizer")
        if let factorOptimizer { try Self.validate(factorOptimizer, role: "factor optimizer") }
        guard initStd.isFinite, initStd >= 0 else { throw .init("initStd must be finite and ≥ 0, got \(initStd)") }
        guard factorL2.isFinite, factorL2 >= 0 else { throw .init("factorL2 must be finite and ≥ 0, got \(factorL2)") }
        guard gradientClip.isFinite, gradientClip >= 0 else {
            throw .init("gradientClip must be finite and ≥ 0 (0 = off), got \(gradientClip)")
        }
        let layout = ParameterLayout(self)
        guard layout.floatCount.multipliedReportingOverflow(by: 4).overflow == false else {
            throw .init("parameter table too large for bits=\(bits), factors=\(kind.factors)")
        }
    }

    private static func validate(_ o: OptimizerKind, role: String) throws(ModelConfigurationError) {
        func positive(_ v: Double, _ name: String) throws(ModelConfigurationError) {
            guard v.isFinite, v > 0 else { throw .init("\(role): \(name) must be finite and > 0, got \(v)") }
        }
        func nonNegative(_ v: Double, _ name: String) throws(ModelConfigurationError) {
            guard v.isFinite, v >= 0 else { throw .init("\(role): \(name) must be finite and ≥ 0, got \(v)") }
        }
        switch o {
        case .sgd(let rate, let decay):
            try positive(rate, "learningRate")
            try nonNegative(decay, "decay")
        case .adagrad(let rate, let epsilon):
            try positive(rate, "learningRate")
            try positive(epsilon, "epsilon")
        case .ftrl(let alpha, let beta, let l1, let l2):
            try positive(alpha, "alpha")
            try positive(beta, "beta")
            try nonNegative(l1, "l1")
            try nonNegative(l2, "l2")
        }
    }

    // MARK: Memory

    /// Bytes reserved for a model with this configuration (weights, factors and optimizer state for `2^bits` slots
    /// plus the bias slot, and the materialized-slot bitmap). Independent of how many events the model sees; pages
    /// are committed only as slots are used.
    public var parameterBytes: Int {
        let layout = ParameterLayout(self)
        return layout.floatCount &* MemoryLayout<Float>.stride &+ (layout.slots + 63) / 64 &* MemoryLayout<UInt64>.stride
    }
}

// MARK: - ModelConfigurationError

/// An out-of-range configuration parameter, with a message naming it.
public struct ModelConfigurationError: Error, Equatable, CustomStringConvertible {
    /// What is wrong, e.g. `"bits must be in 1...30, got 31"`.
    public var message: String
    /// Creates an error with a message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}
