// MARK: - Model

/// An online binary classifier trained by per-example logloss updates: logistic regression, a factorization machine
/// or a bilinear two-tower (matrix factorization) model, with SGD, AdaGrad or FTRL-Proximal.
///
/// A value type: all parameters and optimizer state live in one contiguous table of floats with copy-on-write
/// semantics, so copying a model is cheap until one copy learns. Single writer, no locks: share copies across tasks,
/// mutate one per task.
///
/// The table is allocated zeroed and lazily: a slot's random initial factors are materialized (from the seed, the
/// same values a sequential draw would give) the first time an update touches it. Creating a model is O(1), resident
/// memory and snapshot size grow with the slots the stream uses, never with `2^bits` or the number of events.
///
/// Each `learn` call dispatches once on the configuration, then runs loops specialised for that model kind and
/// optimizer pair (`Kernels`). A non-finite input value, margin or gradient never reaches the parameters: the update
/// is refused and counted in `rejectedNonFinite`.
public struct Model: Sendable {
    /// The configuration the model was created with.
    public let configuration: ModelConfiguration
    /// Weights, factors and optimizer state (see `ParameterLayout`) and the materialized-slot bitmap.
    @usableFromInline var storage: ParameterStorage
    /// Constants the kernels need, derived from the configuration.
    @usableFromInline let context: Kernels.Context
    /// Number of applied updates.
    public internal(set) var version: UInt64
    /// Updates refused by the non-finite guard (non-finite input value, margin, weight or gradient).
    public internal(set) var rejectedNonFinite: UInt64
    /// Individual coordinates whose update would have produced a non-finite weight or optimizer state (possible only
    /// for extreme but finite feature values) and were therefore left unchanged. Normally 0.
    public internal(set) var skippedNonFiniteCoordinates: UInt64
    /// The increments since the last exchange, for a replica that exchanges them (``trackIncrements()``); nil
    /// otherwise. Not part of a snapshot.
    var increments: IncrementTracker? = nil

    // MARK: Creation

    /// Creates a model with zero linear weights and bias and factors drawn from `configuration.seed`.
    /// An invalid configuration traps with the message of `ModelConfiguration.validate()`; validate user input first.
    public init(_ configuration: ModelConfiguration) {
        do {
            try configuration.validate()
        } catch {
            fatalError("Model: invalid configuration: \(error.message)")
        }
        let layout = ParameterLayout(configuration)
        self.init(validated: configuration, storage: ParameterStorage(floatCount: layout.floatCount, slots: layout.slots))
    }

    /// Creates a model over existing storage (already checked to have the layout's size).
    init(
        validated configuration: ModelConfiguration, storage: ParameterStorage, version: UInt64 = 0, rejected: UInt64 = 0,
        skipped: UInt64 = 0
    ) {
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
        self.storage = storage
        self.context = Kernels.Context(
            shape: shape, layout: layout, mask: UInt32(layout.slots - 1), userFields: user, itemFields: item,
            seed: configuration.seed, factorScale: Float(configuration.initStd * 3.0.squareRoot()))
        self.version = version
        self.rejectedNonFinite = rejected
        self.skippedNonFiniteCoordinates = skipped
    }

    /// Copies the storage if another `Model` value shares it (copy-on-write), and the increments' bookkeeping with
    /// it (shared exactly when the storage is).
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) {
            storage = storage.copy()
            increments?.makeUnique()
        }
    }

    /// Materializes every slot of `row` that is not yet: marks it and writes its initial factors. (`learn` does
    /// this inside its update loop; this form is for tests and tools.)
    func materialize(_ row: Kernels.RowView) {
        for j in 0..<row.count {
            let slot = Int(row.indices[j] & context.mask)
            Kernels.materialize(storage.floats, slot, slot &* context.layout.stride, context, storage.bits)
        }
    }

    // MARK: Prediction

    /// The raw score `b + Σ w x + (pairwise term)`, unclamped. Non-finite when an input value is non-finite.
    public func margin(_ row: FeatureRow) -> Double {
        let context = self.context
        let storage = self.storage
        return row.withView { view in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Kernels.scratchCount(context.layout)) { scratch in
                Kernels.forward(storage.floats, view, context, scratch.baseAddress!, materialized: storage.bits)
            }
        }
    }

    /// The probability of a positive label: σ(margin clamped to `[−35, 35]`). NaN if the margin is NaN.
    public func predict(_ row: FeatureRow) -> Double {
        clampedSigmoid(margin(row))
    }

    /// The raw score of features held elsewhere (see ``FeatureSlice``); equal to `margin(_:)` of a row with the
    /// same features.
    ///
    /// Inlinable, like the other per-event reads (``prefetch(_:)``, ``stampedMargin(_:)``, ``linearWeight(at:)``):
    /// a call into this module would pass the model value by address to a copy of it (hundreds of bytes per call),
    /// inlined it reads the few fields it needs in place.
    @inlinable @inline(__always)
    public func margin(_ features: FeatureSlice) -> Double {
        // Logistic models need no scratch: call the kernel directly (no closure, no copy of the model value).
        if context.shape == .logistic {
            return Kernels.forwardLogistic(
                storage.floats, features.view, context, storage.bits, start: Double(storage.floats[context.layout.biasBase]))
        }
        return Self.factorMargin(features, storage, context)
    }

    // MARK: Rows that share their first features

    /// Floats of `state` that ``beginRows(_:state:)`` writes: two k-vectors (none for logistic models).
    public var rowStateCount: Int { 2 &* context.layout.k }

    /// Prepares scoring many rows that all begin with the features `first` (a user's, before each candidate item's):
    /// returns the linear terms of `first` (bias first, then each term in row order) and, for factor models, writes
    /// their factor sums (FM: `Σ v x` and `Σ v² x²`; MF: the two towers) into `state` (``rowStateCount`` floats).
    /// ``margin(_:after:state:)`` then scores each row from there. Valid until the next update.
    /// (`state` may be nil for a logistic model.)
    public func beginRows(_ first: FeatureSlice, state: UnsafeMutablePointer<Float>?) -> Double {
        let bias = Double(storage.floats[context.layout.biasBase])
        let linear = Kernels.forwardLogistic(storage.floats, first.view, context, storage.bits, start: bias)
        if context.shape != .logistic {
            guard let state else { preconditionFailure("beginRows: a factor model needs state") }
            let storage = self.storage, context = self.context
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Kernels.scratchCount(context.layout)) { scratch in
                _ = Kernels.forward(storage.floats, first.view, context, scratch.baseAddress!, materialized: storage.bits)
                state.update(from: scratch.baseAddress!, count: 2 &* context.layout.k)
            }
        }
        return linear
    }

    /// The margin of the row made of the features given to ``beginRows(_:state:)`` followed by `rest` — to the bit
    /// ``margin(_:)`` of that whole row (every sum adds the same terms in the same order), without going over the
    /// first part again. `start` is what ``beginRows(_:state:)`` returned.
    /// Inlinable for the same reason as ``margin(_:)``.
    @inlinable @inline(__always)
    public func margin(_ rest: FeatureSlice, after start: Double, state: UnsafePointer<Float>) -> Double {
        if context.shape == .logistic {
            return Kernels.forwardLogistic(storage.floats, rest.view, context, storage.bits, start: start)
        }
        return Self.factorMargin(rest, storage, context, start: start, state: state)
    }

    /// `margin(_:)` of factor models (scratch for the factor sums). Static, so that the inlined caller passes the
    /// two fields it needs rather than a copy of the whole model.
    @usableFromInline @inline(never)
    static func factorMargin(_ features: FeatureSlice, _ storage: ParameterStorage, _ context: Kernels.Context) -> Double {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: Kernels.scratchCount(context.layout)) { scratch in
            Kernels.forward(storage.floats, features.view, context, scratch.baseAddress!, materialized: storage.bits)
        }
    }

    /// ``margin(_:after:state:)`` of factor models.
    @usableFromInline @inline(never)
    static func factorMargin(
        _ rest: FeatureSlice, _ storage: ParameterStorage, _ context: Kernels.Context, start: Double, state: UnsafePointer<Float>
    ) -> Double {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: Kernels.scratchCount(context.layout)) { scratch in
            Kernels.forward(
                storage.floats, rest.view, context, scratch.baseAddress!, materialized: storage.bits, start: start, sums: state)
        }
    }

    /// Starts loading the parameters `margin(_:)` of `features` will read (a cache hint; changes nothing). Issue it
    /// early — e.g. before other work on the same event — so the loads overlap that work instead of stalling it.
    @inlinable @inline(__always)
    public func prefetch(_ features: FeatureSlice) {
        let t = UnsafeRawPointer(storage.floats)
        let stride = context.layout.stride &* MemoryLayout<Float>.stride
        // Bytes of a slot the forward pass reads: the weight, and the factors of factor models.
        let span = context.layout.k == 0 ? 1 : (context.layout.factorOffset &+ context.layout.k) &* MemoryLayout<Float>.stride
        let mask = context.mask
        // One prefetch per cache line the span touches (the first line, then whole lines up to the span's last byte).
        let lastByte = span &- 1
        for j in 0..<features.count {
            let slot = Int(features.indices[j] & mask)
            let first = t + slot &* stride
            let last = first + lastByte
            var line = first - (Int(bitPattern: first) & 63)
            repeat {
                Learning.prefetch(line)
                line += 64
            } while line <= last
        }
    }

    /// The raw score of `features`, stamped with the model state it was computed on (pass it back to
    /// ``learn(_:label:weight:reusing:)`` to save the second forward pass when nothing was learned in between).
    @inlinable @inline(__always)
    public func stampedMargin(_ features: FeatureSlice) -> MarginStamp {
        MarginStamp(margin: margin(features), storage: ObjectIdentifier(storage), version: version)
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
        row.withView { view in learn(view, label, weight, nil) }
    }

    /// ``learn(_:label:weight:)`` for features held elsewhere (see ``FeatureSlice``). When `stamp` was computed by
    /// ``stampedMargin(_:)`` on these same features and the model has not changed since (same table, no update
    /// applied in between), its margin is used instead of a second forward pass for logistic models — the result,
    /// and every parameter, is bit-identical to recomputing it. Factor models always recompute (their update needs
    /// the forward pass's factor sums).
    @discardableResult
    public mutating func learn(_ features: FeatureSlice, label: Bool, weight: Double = 1, reusing stamp: MarginStamp = .none)
        -> LearnOutcome
    {
        let view = features.view
        var known: (margin: Double, probability: Double)? = nil
        if context.shape == .logistic, stamp.version == version, stamp.storage == ObjectIdentifier(storage) {
            known = (stamp.margin, stamp.probability)
        }
        return learn(view, label, weight, known)
    }

    @inline(__always)
    private mutating func learn(
        _ view: Kernels.RowView, _ label: Bool, _ weight: Double, _ known: (margin: Double, probability: Double)?
    ) -> LearnOutcome {
        let factorL2 = Float(configuration.factorL2)
        let factorOptimizer = configuration.effectiveFactorOptimizer
        switch configuration.optimizer {
        case .sgd(let rate, let decay):
            let linear = SGDUpdater(rate: Self.sgdRate(rate, decay, version), l2: 0)
            return learn(view, label, weight, known, linear, factorOptimizer, factorL2)
        case .adagrad(let rate, let epsilon):
            let linear = AdaGradUpdater(rate: Float(rate), epsilon: Float(epsilon), l2: 0)
            return learn(view, label, weight, known, linear, factorOptimizer, factorL2)
        case .ftrl(let alpha, let beta, let l1, let l2):
            let linear = FTRLUpdater(alpha: Float(alpha), beta: Float(beta), l1: Float(l1), l2: Float(l2))
            return learn(view, label, weight, known, linear, factorOptimizer, factorL2)
        }
    }

    /// `η / (1 + decay·t)` with `t` the number of updates applied so far.
    static func sgdRate(_ rate: Double, _ decay: Double, _ t: UInt64) -> Float {
        Float(rate / (1 + decay * Double(t)))
    }

    private mutating func learn<L: CoordinateUpdater>(
        _ view: Kernels.RowView, _ label: Bool, _ weight: Double, _ known: (margin: Double, probability: Double)?,
        _ linear: L, _ factorOptimizer: OptimizerKind, _ l2: Float
    ) -> LearnOutcome {
        switch factorOptimizer {
        case .sgd(let rate, let decay):
            return step(view, label, weight, known, linear, SGDUpdater(rate: Self.sgdRate(rate, decay, version), l2: l2))
        case .adagrad(let rate, let epsilon):
            return step(view, label, weight, known, linear, AdaGradUpdater(rate: Float(rate), epsilon: Float(epsilon), l2: l2))
        case .ftrl(let alpha, let beta, _, _):
            // FTRL's schedule on factors is AdaGrad's update with η = α, ε = β (see AdaGradUpdater).
            return step(view, label, weight, known, linear, AdaGradUpdater(rate: Float(alpha), epsilon: Float(beta), l2: l2))
        }
    }

    /// One update. `known` is the margin of `view` on the current parameters (and its probability) when the caller
    /// already has it (logistic only: factor models need the forward pass's sums in scratch).
    private mutating func step<L: CoordinateUpdater, F: CoordinateUpdater>(
        _ view: Kernels.RowView, _ label: Bool, _ weight: Double, _ known: (margin: Double, probability: Double)?,
        _ linear: L, _ factor: F
    ) -> LearnOutcome {
        let context = self.context
        let clip = configuration.gradientClip
        let weightValid = weight.isFinite && weight >= 0
        makeUnique()
        let storage = self.storage
        let result: (probability: Double, applied: Bool, skipped: Int) =
            withUnsafeTemporaryAllocation(of: Float.self, capacity: Kernels.scratchCount(context.layout)) { scratch in
                let base = storage.floats
                // Reads see initial factors either way; only an applied update materializes slots.
                let margin =
                    known?.margin ?? Kernels.forward(base, view, context, scratch.baseAddress!, materialized: storage.bits)
                // σ once, for the gradient and the outcome (the same value either way).
                let probability = known?.probability ?? clampedSigmoid(margin)
                guard margin.isFinite, weightValid else { return (probability, false, 0) }
                var g = weight * (probability - (label ? 1 : 0))
                if clip > 0 { g = g > clip ? clip : (g < -clip ? -clip : g) }
                let gradient = Float(g)
                guard gradient.isFinite else { return (probability, false, 0) }
                if gradient == 0 { return (probability, true, 0) }
                let skipped: Int
                if self.increments != nil {
                    // In place in the optional (no move out and back per update).
                    let log = self.increments!.log(rowCount: view.count)
                    skipped = Kernels.update(
                        base, view, context, scratch.baseAddress!, materialized: storage.bits, gradient: gradient,
                        linear: linear, factor: factor, recorder: log)
                } else {
                    skipped = Kernels.update(
                        base, view, context, scratch.baseAddress!, materialized: storage.bits, gradient: gradient,
                        linear: linear, factor: factor)
                }
                return (probability, true, skipped)
            }
        if result.applied {
            version &+= 1
            skippedNonFiniteCoordinates &+= UInt64(result.skipped)
        } else {
            rejectedNonFinite &+= 1
        }
        return LearnOutcome(probability: result.probability, applied: result.applied)
    }

    // MARK: Parameters

    /// The linear weight of hashed slot `index` (masked to the model's table).
    @inlinable
    public func linearWeight(at index: UInt32) -> Float {
        storage.floats[Int(index & context.mask) &* context.layout.stride]
    }

    /// A read-only view of the linear weights for code that reads many of them in a row (ranking candidates):
    /// inlinable reads and prefetches instead of a call per weight. Valid while this model value is alive and
    /// unmodified (a learn step may move or copy its storage).
    public var linearWeights: LinearWeights {
        LinearWeights(base: UnsafePointer(storage.floats), stride: context.layout.stride, mask: context.mask)
    }

    /// The intercept.
    public var bias: Double { Double(storage.floats[context.layout.biasBase]) }

    /// Latent factors per feature (0 for logistic regression).
    public var factorCount: Int { context.layout.k }

    /// The factor vector of hashed slot `index` (masked), `factorCount` floats (the initial values if no update has
    /// touched the slot yet); empty for logistic regression.
    public func factors(at index: UInt32) -> [Float] {
        let k = context.layout.k
        let slot = Int(index & context.mask)
        let storage = self.storage
        let context = self.context
        return [Float](unsafeUninitializedCapacity: k) { buffer, initialized in
            if k > 0 {
                if storage.isMaterialized(slot) {
                    buffer.baseAddress!.initialize(
                        from: storage.floats + (slot &* context.layout.stride &+ context.layout.factorOffset), count: k)
                } else {
                    Kernels.initialFactors(context, slot: slot, into: buffer.baseAddress!)
                }
            }
            initialized = k
        }
    }

    /// Memory reserved for parameters and optimizer state, in bytes: fixed by `bits`, the factor count and the
    /// optimizers, never by the number of events. Pages are committed lazily (see `materializedSlots`).
    public var parameterBytes: Int {
        storage.floatCount &* MemoryLayout<Float>.stride &+ storage.wordCount &* MemoryLayout<UInt64>.stride
    }

    /// Number of hashed slots that updates have touched (their factors materialized). Resident parameter memory and
    /// snapshot size are proportional to it.
    public var materializedSlots: Int { storage.materializedCount }

    // MARK: Internal access (tests, snapshots)

    /// The raw table as an array. Setting it replaces every value and marks every slot materialized.
    var table: [Float] {
        get { Array(UnsafeBufferPointer(start: storage.floats, count: storage.floatCount)) }
        set {
            guard newValue.count == storage.floatCount else { fatalError("Model.table: wrong length") }
            makeUnique()
            newValue.withUnsafeBufferPointer { storage.floats.update(from: $0.baseAddress!, count: $0.count) }
            for slot in 0..<context.layout.slots { storage.markMaterialized(slot) }
        }
    }

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

/// See ``Model/linearWeights``.
public struct LinearWeights {
    @usableFromInline let base: UnsafePointer<Float>
    @usableFromInline let stride: Int
    @usableFromInline let mask: UInt32

    @usableFromInline init(base: UnsafePointer<Float>, stride: Int, mask: UInt32) {
        self.base = base
        self.stride = stride
        self.mask = mask
    }

    /// The weight of hashed slot `index` (masked), the same value as ``Model/linearWeight(at:)``.
    @inlinable @inline(__always)
    public subscript(index: UInt32) -> Float { base[Int(index & mask) &* stride] }

    /// Asks for the cache line of slot `index`'s weight (a hint; never faults).
    @inlinable @inline(__always)
    public func prefetch(_ index: UInt32) {
        #if !FEEDLOOP_NO_PREFETCH  // see `prefetch(_:)` in Prefetch.swift
        _llvmPrefetch(UnsafeRawPointer(base + Int(index & mask) &* stride), 0, 3, 1)
        #endif
    }
}
