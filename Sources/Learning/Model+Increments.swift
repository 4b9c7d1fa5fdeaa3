#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Increments: replicas of one model that learn on different events

/// What one replica of a model learned since it last handed its increments over: for each parameter slot an update
/// touched, the change of every float of the slot (weight, optimizer state, factors and their state; under FTRL
/// not the weight, which the merge recomputes), in slot order.
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
    /// Floats per slot: the model's layout less the floats increments leave out (``Model/incrementLayout``).
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

/// What an update shows of the slots it changes (``Kernels/update(_:_:_:_:materialized:gradient:linear:factor:recorder:)``):
/// every slot, once it is materialized and before its values change.
protocol TouchRecorder {
    func touch(_ slot: Int, _ values: UnsafePointer<Float>)
}

/// A model that does not exchange increments records nothing (the kernels compile without it).
struct NoTouches: TouchRecorder {
    @inline(__always) func touch(_ slot: Int, _ values: UnsafePointer<Float>) {}
}

/// The recording of a replica that exchanges increments, written by the update kernels: at a slot's first touch
/// since the last exchange (its bit clear), the bit is set, the slot appended to `slots` and its `stride` values
/// appended to `before` — the values the update found, which are the slot's at the start of the interval. The room for
/// a whole row is made before the update (``IncrementTracker/log(rowCount:)``), so a touch checks no bound.
struct TouchLog: TouchRecorder {
    let bits: UnsafeMutablePointer<UInt64>
    let slots: UnsafeMutablePointer<UInt32>
    let before: UnsafeMutablePointer<Float>
    let count: UnsafeMutablePointer<Int>
    let stride: Int

    @inline(__always)
    func touch(_ slot: Int, _ values: UnsafePointer<Float>) {
        let word = bits[slot &>> 6]
        let bit: UInt64 = 1 &<< UInt64(slot & 63)
        guard word & bit == 0 else { return }
        bits[slot &>> 6] = word | bit
        let n = count.pointee
        slots[n] = UInt32(truncatingIfNeeded: slot)
        let out = before + n &* stride
        if stride > 8 {
            out.update(from: values, count: stride)
        } else {
            var f = 0
            while f < stride {
                out[f] = values[f]
                f &+= 1
            }
        }
        count.pointee = n &+ 1
    }
}

/// The memory a ``TouchLog`` writes: one bit per slot (the bias slot included), and per touched slot its index and
/// `stride` floats. Held by one model value at a time: a shared instance is copied before it is written
/// (``IncrementTracker/log(rowCount:)``), which makes the unchecked `Sendable` sound.
final class TouchBuffers: @unchecked Sendable {
    let stride: Int
    let wordCount: Int
    let bits: UnsafeMutablePointer<UInt64>
    private(set) var slots: UnsafeMutablePointer<UInt32>
    private(set) var before: UnsafeMutablePointer<Float>
    /// Slots `slots` and `before` have room for.
    private(set) var capacity: Int
    /// Slots touched since the last exchange (where the kernels write the next one).
    let count: UnsafeMutablePointer<Int>

    init(slots: Int, stride: Int, capacity: Int = 1_024) {
        self.stride = stride
        wordCount = (slots + 64) / 64
        guard let b = calloc(wordCount, MemoryLayout<UInt64>.stride) else { fatalError("TouchBuffers: cannot allocate") }
        bits = b.bindMemory(to: UInt64.self, capacity: wordCount)
        self.capacity = capacity
        self.slots = .allocate(capacity: capacity)
        before = .allocate(capacity: capacity &* stride)
        count = .allocate(capacity: 1)
        count.initialize(to: 0)
    }

    deinit {
        free(bits)
        slots.deallocate()
        before.deallocate()
        count.deallocate()
    }

    func copy() -> TouchBuffers {
        let c = TouchBuffers(slots: (wordCount - 1) * 64, stride: stride, capacity: capacity)
        c.bits.update(from: bits, count: wordCount)
        c.slots.update(from: slots, count: count.pointee)
        c.before.update(from: before, count: count.pointee &* stride)
        c.count.pointee = count.pointee
        return c
    }

    /// Makes room for `more` touched slots besides those recorded.
    @inline(__always)
    func reserve(_ more: Int) {
        if count.pointee &+ more > capacity { grow(count.pointee &+ more) }
    }

    @inline(never)
    private func grow(_ needed: Int) {
        let n = count.pointee
        let newCapacity = max(needed, 2 &* capacity)
        let newSlots = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity)
        let newBefore = UnsafeMutablePointer<Float>.allocate(capacity: newCapacity &* stride)
        newSlots.update(from: slots, count: n)
        newBefore.update(from: before, count: n &* stride)
        slots.deallocate()
        before.deallocate()
        slots = newSlots
        before = newBefore
        capacity = newCapacity
    }

    var log: TouchLog { TouchLog(bits: bits, slots: slots, before: before, count: count, stride: stride) }

    @inline(__always)
    func isTouched(_ slot: Int) -> Bool { bits[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0 }
}

/// The bookkeeping of a replica that exchanges increments: which slots were touched since the last exchange, their
/// values before the first touch (both recorded by the update kernels, ``TouchLog``), and what the replica added from
/// others to those slots meanwhile (so the increment is `current − before − received`). Nothing in it is indexed by
/// slot but one bit per slot: the per-update cost is a bit test in the update's own loop, and the memory it adds to
/// the learner's working set is 1/32 of a float table's.
struct IncrementTracker: Sendable {
    var buffers: TouchBuffers
    /// Others' increments added to touched slots since the last exchange: slot, and the increments' floats each.
    var received: [UInt32] = []
    var receivedDeltas: [Float] = []
    var updates: UInt64 = 0
    /// Reused by ``Model/takeIncrements()`` to order the slots.
    var order: [UInt64] = []
    var orderedSlots: [UInt32] = []
    var scratch: [UInt64] = []
    var counts: [Int] = []

    init(slots: Int, stride: Int) {
        buffers = TouchBuffers(slots: slots, stride: stride)
    }

    @inline(__always)
    func isTouched(_ slot: Int) -> Bool { buffers.isTouched(slot) }

    /// Copies the buffers if another model value shares them. Model values share their tracker's buffers exactly
    /// when they share their storage (both are copied with the value), so ``Model/makeUnique()`` calls this when it
    /// copies the storage, and an update needs no check of its own.
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&buffers) { buffers = buffers.copy() }
    }

    /// The log an update of `rowCount` features (and the bias) writes, with room for all of them; counts the update.
    /// The buffers are this model value's own (``makeUnique()``).
    @inline(__always)
    mutating func log(rowCount: Int) -> TouchLog {
        buffers.reserve(rowCount &+ 1)
        updates &+= 1
        return buffers.log
    }
}

extension Model {
    /// Starts tracking the increments of this replica (nothing is tracked otherwise, at no cost to `learn`).
    public mutating func trackIncrements() {
        if increments == nil { increments = IncrementTracker(slots: context.layout.slots, stride: context.layout.stride) }
    }

    /// Whether ``trackIncrements()`` was called.
    public var tracksIncrements: Bool { increments != nil }

    /// Slots touched since the last ``takeIncrements()`` (the size of the next increments).
    public var touchedSlotCount: Int { increments?.buffers.count.pointee ?? 0 }

    /// Floats per slot in the increments, and the slot count (the bias slot is the last index + 1): what increments
    /// must match. Under FTRL a slot's weight is not exchanged: it is a function of the slot's `z` and `n`, which
    /// every replica recomputes from the merged values (``applyIncrements(_:)``), so an increment carries the slot's
    /// floats after it (``incrementSkippedFloats``): FTRL's records are a third smaller, an MF slot's 34 floats
    /// instead of 35.
    public var incrementLayout: (stride: Int, slots: Int) {
        (context.layout.stride - incrementSkippedFloats, context.layout.slots)
    }

    /// The leading floats of each slot that increments leave out: 1 (the weight) under FTRL, else 0.
    public var incrementSkippedFloats: Int {
        if case .ftrl = configuration.optimizer { return 1 }
        return 0
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
        let stride = incrementLayout.stride
        return takeIncrements { slots, updates, writeDeltas in
            guard !slots.isEmpty else { return ModelIncrements(stride: stride) }
            let deltas = [Float](unsafeUninitializedCapacity: slots.count &* stride) { deltas, count in
                writeDeltas(UnsafeMutableRawPointer(deltas.baseAddress!))
                #if _endian(big)
                for i in 0..<deltas.count { deltas[i] = Float(bitPattern: UInt32(littleEndian: deltas[i].bitPattern)) }
                #endif
                count = slots.count &* stride
            }
            return ModelIncrements(stride: stride, slots: Array(slots), deltas: deltas, updates: updates)
        }
    }

    /// ``takeIncrements()`` without its arrays, for writing them elsewhere (an ``IncrementsRecord``'s bytes): calls
    /// `body` with the touched slots, ascending, the updates applied since the last call, and `writeDeltas`, which
    /// writes each slot's increments (``incrementLayout``'s floats per slot) in that order as little-endian floats
    /// (4 bytes each, no alignment needed) where it is told — call it once, inside `body`. Starts a new interval. With nothing touched, `body`
    /// gets no slots and 0 updates.
    public mutating func takeIncrements<R>(
        _ body: (_ slots: UnsafeBufferPointer<UInt32>, _ updates: UInt64, _ writeDeltas: (UnsafeMutableRawPointer) -> Void) -> R
    ) -> R {
        guard let n = increments?.buffers.count.pointee, n > 0 else {
            return body(UnsafeBufferPointer(start: nil, count: 0), 0) { _ in }
        }
        // Moved out (and back at the end), so that clearing its arrays does not copy them first.
        var tracker = increments.take()!
        defer { increments = tracker }
        makeUnique()
        tracker.makeUnique()
        let buffers = tracker.buffers
        let stride = context.layout.stride, skip = incrementSkippedFloats
        // Ascending slots: (slot, position) packed in one integer, ordered by slot (SlotOrder); the others'
        // increments to touched slots likewise, merged in.
        if tracker.order.count < n { tracker.order = Array(repeating: 0, count: max(n, 2 &* tracker.order.count)) }
        if tracker.orderedSlots.count < n { tracker.orderedSlots = Array(repeating: 0, count: max(n, 2 &* tracker.orderedSlots.count)) }
        tracker.order.withUnsafeMutableBufferPointer { order in
            SlotOrder.order(buffers.slots, count: n, largest: context.layout.slots, into: order.baseAddress!, counts: &tracker.counts)
        }
        var others: [UInt64] = []
        if !tracker.received.isEmpty {
            others = tracker.received.enumerated().map { UInt64($0.element) << 32 | UInt64($0.offset) }
            SlotOrder.sort(&others, scratch: &tracker.scratch, counts: &tracker.counts)
        }
        // Every touched slot is materialized: the update that first touched it did so before recording it (the bias
        // slot is always live).
        let floats = UnsafePointer(storage.floats)
        let bits = buffers.bits, before = UnsafePointer(buffers.before)
        let updates = tracker.updates
        // Moved out (and back, emptied, at the end) so that the closure below does not reach into `tracker`.
        var received: [Float] = []
        swap(&received, &tracker.receivedDeltas)
        let result = tracker.order.withUnsafeBufferPointer { order in
            tracker.orderedSlots.withUnsafeMutableBufferPointer { slots in
                let keys = order.baseAddress!, outSlots = slots.baseAddress!
                // The slots, and their bits cleared for the next interval.
                for k in 0..<n {
                    let slot = Int(truncatingIfNeeded: keys[k] &>> 32)
                    outSlots[k] = UInt32(truncatingIfNeeded: slot)
                    bits[slot &>> 6] = 0
                }
                return body(UnsafeBufferPointer(start: outSlots, count: n), updates) { out in
                    if others.isEmpty {
                        // current − before, its width a constant for the narrow layouts.
                        switch (stride, skip) {
                        case (1, 0): Self.differences(keys, n, floats, before, out, stride: 1, skip: 0)
                        case (2, 0): Self.differences(keys, n, floats, before, out, stride: 2, skip: 0)
                        case (3, 1): Self.differences(keys, n, floats, before, out, stride: 3, skip: 1)
                        default: Self.differences(keys, n, floats, before, out, stride: stride, skip: skip)
                        }
                    } else {
                        received.withUnsafeBufferPointer { received in
                            Self.differences(
                                keys, n, floats, before, out, stride: stride, skip: skip, minus: others, received.baseAddress!)
                        }
                    }
                }
            }
        }
        buffers.count.pointee = 0
        tracker.received.removeAll(keepingCapacity: true)
        received.removeAll(keepingCapacity: true)
        tracker.receivedDeltas = received
        tracker.updates = 0
        return result
    }

    /// Writes to `out`, for each key (`slot << 32 | position`) in turn, the slot's `stride` floats in the table minus
    /// those at `position` in `before`, as little-endian floats — all but the first `skip` of them.
    @inline(__always)
    private static func differences(
        _ keys: UnsafePointer<UInt64>, _ n: Int, _ floats: UnsafePointer<Float>, _ before: UnsafePointer<Float>,
        _ out: UnsafeMutableRawPointer, stride: Int, skip: Int
    ) {
        var out = out
        for k in 0..<n {
            let key = keys[k]
            let current = floats + Int(truncatingIfNeeded: key &>> 32) &* stride
            let was = before + Int(truncatingIfNeeded: key & 0xffff_ffff) &* stride
            var f = skip
            while f < stride {
                out.storeBytes(of: (current[f] - was[f]).bitPattern.littleEndian, toByteOffset: (f &- skip) &<< 2, as: UInt32.self)
                f &+= 1
            }
            out += (stride &- skip) &<< 2
        }
    }

    /// `differences` of a replica that received others' increments to its touched slots meanwhile: from each
    /// slot's difference, the increments received for it (`others`: keys `slot << 32 | position in received`,
    /// ascending) are subtracted in the order they arrived.
    private static func differences(
        _ keys: UnsafePointer<UInt64>, _ n: Int, _ floats: UnsafePointer<Float>, _ before: UnsafePointer<Float>,
        _ out: UnsafeMutableRawPointer, stride: Int, skip: Int, minus others: [UInt64], _ received: UnsafePointer<Float>
    ) {
        let width = stride &- skip  // floats per slot of the increments (and of `received`)
        var o = 0
        for k in 0..<n {
            let key = keys[k]
            let slot = Int(truncatingIfNeeded: key &>> 32)
            let current = floats + slot &* stride
            let was = before + Int(truncatingIfNeeded: key & 0xffff_ffff) &* stride
            var end = o
            while end < others.count, Int(truncatingIfNeeded: others[end] &>> 32) == slot { end &+= 1 }
            let delta = out + (k &* width) &<< 2
            for f in skip..<stride {
                var d = current[f] - was[f]
                for q in o..<end { d -= received[Int(truncatingIfNeeded: others[q] & 0xffff_ffff) &* width &+ (f &- skip)] }
                delta.storeBytes(of: d.bitPattern.littleEndian, toByteOffset: (f &- skip) &<< 2, as: UInt32.self)
            }
            o = end
        }
    }

    /// Adds another replica's increments to this model (see ``ModelIncrements`` for the merge rule). The model's
    /// version moves on by their update count, so margins computed before are not reused.
    public mutating func applyIncrements(_ other: ModelIncrements) {
        guard !other.slots.isEmpty else { return }
        precondition(other.stride == incrementLayout.stride, "increments of another model layout")
        makeUnique()
        let stride = context.layout.stride, skip = incrementSkippedFloats, width = stride - skip
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
            for f in 0..<width { current[skip + f] += other.deltas[i * width + f] }
            if increments?.isTouched(slot) == true {
                // Touched here too: the others' part is not this replica's to hand on.
                increments!.received.append(s)
                increments!.receivedDeltas.append(contentsOf: other.deltas[(i * width)..<((i + 1) * width)])
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
