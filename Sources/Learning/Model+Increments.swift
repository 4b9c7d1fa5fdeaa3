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

/// The bookkeeping of a replica that exchanges increments: which slots were touched since the last exchange, their
/// values before the first touch, and what the replica added from others to those slots meanwhile (so the increment
/// is `current − before − received`). Nothing in it is indexed by slot but one bit per slot: the per-update cost is a
/// bit test, and the memory it adds to the learner's working set is 1/32 of a float table's.
struct IncrementTracker: Sendable {
    var touchedBits: [UInt64]
    var touched: [UInt32] = []
    /// `stride` floats per entry of `touched`, in the same order: the first `beforeCount` (the array only grows).
    var before: [Float] = []
    var beforeCount = 0
    /// Others' increments added to touched slots since the last exchange: slot, and `stride` floats each.
    var received: [UInt32] = []
    var receivedDeltas: [Float] = []
    var updates: UInt64 = 0
    /// Reused by ``Model/takeIncrements()`` to order the slots.
    var scratch: [UInt64] = []
    var counts: [Int] = []

    init(slots: Int) {
        touchedBits = Array(repeating: 0, count: (slots + 64) / 64)
    }

    @inline(__always)
    func isTouched(_ slot: Int) -> Bool { touchedBits[slot >> 6] & (1 &<< UInt64(slot & 63)) != 0 }

    /// Records the slots an update of `view` is about to change (the bias slot and each feature's), with their values
    /// before it.
    @inline(__always)
    mutating func record(_ view: Kernels.RowView, storage: ParameterStorage, context: Kernels.Context) {
        let mask = context.mask
        touch(context.layout.slots, storage, context)
        for j in 0..<view.count { touch(Int(view.indices[j] & mask), storage, context) }
        updates &+= 1
    }

    @inline(__always)
    private mutating func touch(_ slot: Int, _ storage: ParameterStorage, _ context: Kernels.Context) {
        guard !isTouched(slot) else { return }
        firstTouch(slot, storage, context)
    }

    /// The first touch of `slot` since the last exchange: its values now are its `before`.
    @inline(never)
    private mutating func firstTouch(_ slot: Int, _ storage: ParameterStorage, _ context: Kernels.Context) {
        touchedBits[slot >> 6] |= 1 &<< UInt64(slot & 63)
        touched.append(UInt32(slot))
        let stride = context.layout.stride
        let start = beforeCount
        // `before` grows by doubling and is written in place: one uniqueness check per touch, not one per float.
        if before.count < start + stride { before.append(contentsOf: repeatElement(0, count: max(before.count, 256 * stride))) }
        beforeCount += stride
        before.withUnsafeMutableBufferPointer { b in
            let out = b.baseAddress! + start
            if slot < context.layout.slots && !storage.isMaterialized(slot) {
                // Not yet materialized: the update starts from zeros and the initial factors, which are not part of
                // what it learned.
                out.update(repeating: 0, count: stride)
                if context.layout.k > 0 { Kernels.generateInitialFactors(context, slot: slot, into: out + context.layout.factorOffset) }
            } else {
                let values = storage.floats + slot * stride
                for f in 0..<stride { out[f] = values[f] }
            }
        }
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
    /// In place in the optional (no move out and back per update).
    @inline(__always)
    mutating func recordTouch(_ view: Kernels.RowView) {
        increments?.record(view, storage: storage, context: context)
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
        guard increments?.touched.isEmpty == false else { return result }
        // Moved out (and back at the end), so that clearing its arrays does not copy them first.
        var tracker = increments.take()!
        makeUnique()
        let stride = context.layout.stride
        // Ascending slots: (slot, position) packed in one integer, ordered by slot (SlotOrder); the others'
        // increments to touched slots likewise, merged in.
        var order = tracker.touched.enumerated().map { UInt64($0.element) << 32 | UInt64($0.offset) }
        SlotOrder.sort(&order, scratch: &tracker.scratch, counts: &tracker.counts)
        var others = tracker.received.enumerated().map { UInt64($0.element) << 32 | UInt64($0.offset) }
        SlotOrder.sort(&others, scratch: &tracker.scratch, counts: &tracker.counts)
        let n = order.count
        for key in order { materialize(Int(key >> 32)) }
        let floats = storage.floats
        result.slots = [UInt32](unsafeUninitializedCapacity: n) { slots, count in
            for (k, key) in order.enumerated() { slots[k] = UInt32(key >> 32) }
            count = n
        }
        result.deltas = [Float](unsafeUninitializedCapacity: n * stride) { deltas, count in
            tracker.before.withUnsafeBufferPointer { before in
                tracker.receivedDeltas.withUnsafeBufferPointer { received in
                    var o = 0
                    for (k, key) in order.enumerated() {
                        let slot = Int(key >> 32), i = Int(key & 0xffff_ffff)
                        let current = floats + slot * stride, was = before.baseAddress! + i * stride
                        let out = deltas.baseAddress! + k * stride
                        for f in 0..<stride { out[f] = current[f] - was[f] }
                        while o < others.count, Int(others[o] >> 32) == slot {
                            let r = received.baseAddress! + Int(others[o] & 0xffff_ffff) * stride
                            for f in 0..<stride { out[f] -= r[f] }
                            o += 1
                        }
                    }
                }
            }
            count = n * stride
        }
        for key in order { tracker.touchedBits[Int(key >> 38)] = 0 }
        result.updates = tracker.updates
        tracker.touched.removeAll(keepingCapacity: true)
        tracker.beforeCount = 0
        tracker.received.removeAll(keepingCapacity: true)
        tracker.receivedDeltas.removeAll(keepingCapacity: true)
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
            if increments?.isTouched(slot) == true {
                // Touched here too: the others' part is not this replica's to hand on.
                increments!.received.append(s)
                increments!.receivedDeltas.append(contentsOf: other.deltas[(i * stride)..<((i + 1) * stride)])
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
