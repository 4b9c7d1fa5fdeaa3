// MARK: - Increments: replicas of one model that learn on different events

/// What one replica of a model learned since it last handed its increments over: for each parameter slot an update
/// touched, the change of every float of the slot (weight, optimizer state, factors and their state), in slot order.
///
/// Replicas of one model — members of a consumer group, each learning on its own partitions — exchange these and
/// add the others' to their own table (``Model/applyIncrements(_:)``). The merge rule is the sum, per float:
/// - SGD: the weight's steps add up, as if the examples had been applied in sequence to one model (exact, but for
///   the order in which each replica saw the others' steps).
/// - AdaGrad: the sums of squared gradients add up (they are sums over examples), and so do the weight steps.
/// - FTRL-Proximal: `z` and `n` are sums over examples of per-example terms (McMahan et al. 2013, Algorithm 1), so
///   their increments add up; the weight is not summed but recomputed from the merged `z` and `n` by the closed
///   form, as every update does. The `σ·w` term of each `z` increment used the replica's own `w` at that moment:
///   that, and the rates of each step computed from a `n` without the others' recent squares, is the staleness of
///   the merge, bounded by the exchange interval.
/// - Factors (AdaGrad's rule on factor coordinates, also under FTRL): as AdaGrad.
/// A slot is materialized (its random initial factors drawn from the seed) before an increment is added, on both
/// sides: the increments never carry the initial values, which every replica draws identically.
public struct ModelIncrements: Sendable, Equatable {
    /// Floats per slot (the model's layout).
    public let stride: Int
    /// Touched slots, ascending (the bias slot is `2^bits`).
    public internal(set) var slots: [UInt32] = []
    /// `stride` floats per slot: the change since the last exchange.
    public internal(set) var deltas: [Float] = []
    /// Updates applied by the replica since the last exchange.
    public internal(set) var updates: UInt64 = 0

    public init(stride: Int) { self.stride = stride }

    /// Increments as they travel: `slots` ascending, `stride` floats each in `deltas`.
    public init(stride: Int, slots: [UInt32], deltas: [Float], updates: UInt64) {
        precondition(deltas.count == slots.count * stride, "stride floats per slot")
        self.stride = stride
        self.slots = slots
        self.deltas = deltas
        self.updates = updates
    }

    /// Bytes of the increments as they would travel uncompressed (slot index + floats).
    public var byteCount: Int { slots.count * (4 + 4 * stride) + 8 }
}

/// The bookkeeping of a replica that exchanges increments: which slots were touched since the last exchange, and
/// their values before the first touch (so the increment is `current − before`, whatever the replica added from
/// others meanwhile, which is added to `before` as well).
struct IncrementTracker: Sendable {
    var touchedBits: [UInt64]
    var touched: [UInt32] = []
    /// `stride` floats per entry of `touched`, in the same order.
    var before: [Float] = []
    /// Position of each touched slot in `touched` (valid only where its bit is set).
    var position: [Int32]
    var updates: UInt64 = 0

    init(slots: Int) {
        touchedBits = Array(repeating: 0, count: (slots + 64) / 64)
        position = Array(repeating: 0, count: slots + 1)
    }
}

extension Model {
    /// Starts tracking the increments of this replica (nothing is tracked otherwise, at no cost to `learn`).
    public mutating func trackIncrements() {
        if increments == nil { increments = IncrementTracker(slots: context.layout.slots) }
    }

    /// Whether ``trackIncrements()`` was called.
    public var tracksIncrements: Bool { increments != nil }

    /// Slots touched since the last ``takeIncrements()`` (the size of the next increments).
    public var touchedSlotCount: Int { increments?.touched.count ?? 0 }

    /// Floats per slot, and the slot count (the bias slot is the last index + 1): what increments must match.
    public var incrementLayout: (stride: Int, slots: Int) { (context.layout.stride, context.layout.slots) }

    /// Records the slots an update of `view` is about to change, with their values before it (called by `step`).
    @inline(never)
    mutating func recordTouch(_ view: Kernels.RowView) {
        guard var tracker = increments else { return }
        increments = nil  // unique while it is modified
        let mask = context.mask
        touch(context.layout.slots, &tracker)
        for j in 0..<view.count { touch(Int(view.indices[j] & mask), &tracker) }
        tracker.updates &+= 1
        increments = tracker
    }

    private func touch(_ slot: Int, _ tracker: inout IncrementTracker) {
        let bit: UInt64 = 1 &<< UInt64(slot & 63)
        guard tracker.touchedBits[slot >> 6] & bit == 0 else { return }
        tracker.touchedBits[slot >> 6] |= bit
        tracker.position[slot] = Int32(tracker.touched.count)
        tracker.touched.append(UInt32(slot))
        let stride = context.layout.stride
        let start = tracker.before.count
        if slot < context.layout.slots && !storage.isMaterialized(slot) {
            // Not yet materialized: the update starts from zeros and the initial factors, which are not part of what
            // it learned.
            tracker.before.append(contentsOf: repeatElement(0, count: stride))
            if context.layout.k > 0 {
                tracker.before.withUnsafeMutableBufferPointer { b in
                    Kernels.generateInitialFactors(context, slot: slot, into: b.baseAddress! + start + context.layout.factorOffset)
                }
            }
        } else {
            tracker.before.append(contentsOf: UnsafeBufferPointer(start: storage.floats + slot * stride, count: stride))
        }
    }

    /// Gives `slot` its values before they are read or added to (zeros and its initial factors), as an update does
    /// the first time it touches a slot. The bias slot is always live.
    private func materialize(_ slot: Int) {
        guard slot < context.layout.slots, !storage.isMaterialized(slot) else { return }
        let stride = context.layout.stride
        (storage.floats + slot * stride).update(repeating: 0, count: stride)
        if context.layout.k > 0 {
            Kernels.materialize(storage.floats, slot, slot * stride, context, storage.bits)
        } else {
            storage.markMaterialized(slot)
        }
    }

    /// What this replica learned since the last call (or since ``trackIncrements()``), and starts a new interval.
    public mutating func takeIncrements() -> ModelIncrements {
        var result = ModelIncrements(stride: context.layout.stride)
        guard var tracker = increments, !tracker.touched.isEmpty else { return result }
        makeUnique()
        let stride = context.layout.stride
        let order = tracker.touched.indices.sorted { tracker.touched[$0] < tracker.touched[$1] }
        result.slots.reserveCapacity(order.count)
        result.deltas.reserveCapacity(order.count * stride)
        for i in order {
            let slot = Int(tracker.touched[i])
            materialize(slot)
            let current = storage.floats + slot * stride
            result.slots.append(UInt32(slot))
            for f in 0..<stride { result.deltas.append(current[f] - tracker.before[i * stride + f]) }
            tracker.touchedBits[slot >> 6] = 0
        }
        result.updates = tracker.updates
        tracker.touched.removeAll(keepingCapacity: true)
        tracker.before.removeAll(keepingCapacity: true)
        tracker.updates = 0
        increments = tracker
        return result
    }

    /// Adds another replica's increments to this model (see ``ModelIncrements`` for the merge rule). The model's
    /// version moves on by their update count, so margins computed before are not reused.
    public mutating func applyIncrements(_ other: ModelIncrements) {
        guard !other.slots.isEmpty else { return }
        precondition(other.stride == context.layout.stride, "increments of another model layout")
        makeUnique()
        let stride = context.layout.stride
        let ftrl: (alpha: Float, beta: Float, l1: Float, l2: Float)?
        if case .ftrl(let a, let b, let l1, let l2) = configuration.optimizer {
            ftrl = (Float(a), Float(b), Float(l1), Float(l2))
        } else {
            ftrl = nil
        }
        for (i, s) in other.slots.enumerated() {
            let slot = Int(s)
            materialize(slot)
            let current = storage.floats + slot * stride
            for f in 0..<stride { current[f] += other.deltas[i * stride + f] }
            if var tracker = increments, tracker.touchedBits[slot >> 6] & (1 &<< UInt64(slot & 63)) != 0 {
                // Touched here too: the others' part is not this replica's to hand on.
                increments = nil
                let at = Int(tracker.position[slot]) * stride
                for f in 0..<stride { tracker.before[at + f] += other.deltas[i * stride + f] }
                increments = tracker
            }
            if let ftrl {
                // w from the merged z (state 0) and n (state 1); the bias is never regularised.
                let bias = slot == context.layout.slots
                let l1 = bias ? 0 : ftrl.l1, l2 = bias ? 0 : ftrl.l2
                let z = current[1], n = max(0, current[2])
                current[2] = n
                current[0] = abs(z) <= l1 ? 0 : -(z - Float(signOf: z, magnitudeOf: l1)) / ((ftrl.beta + n.squareRoot()) / ftrl.alpha + l2)
            }
        }
        version &+= max(other.updates, 1)
    }
}

extension Model {
    /// How far two replicas of one model are apart: the largest difference of any float of the table (weights and
    /// optimizer state), relative to max(1, |value|). Replicas that exchanged every increment differ only by the
    /// order in which each added them (float addition is not associative).
    public func largestRelativeDifference(from other: Model) -> Float {
        precondition(context.layout.floatCount == other.context.layout.floatCount, "replicas of different layouts")
        var largest: Float = 0
        for i in 0..<context.layout.floatCount {
            let a = storage.floats[i], b = other.storage.floats[i]
            largest = max(largest, abs(a - b) / max(1, abs(a)))
        }
        return largest
    }
}
