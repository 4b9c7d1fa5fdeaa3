#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - ParameterStorage

/// The parameter table and its "materialized" bitmap, in zeroed memory from `calloc`.
///
/// Large zeroed allocations come straight from the kernel as untouched zero pages, so creating a model with
/// `2^20` slots costs nothing until slots are used, and resident memory grows with the slots an event stream
/// actually touches. `Model` owns one instance and copies it before writing when it is shared (copy-on-write), so
/// the class is never mutated while another `Model` value can see it; that is what makes `@unchecked Sendable` sound.
@usableFromInline
final class ParameterStorage: @unchecked Sendable {
    /// `floatCount` floats: weights, factors and optimizer state (see `ParameterLayout`).
    @usableFromInline let floats: UnsafeMutablePointer<Float>
    let floatCount: Int
    /// One bit per hashed slot: set once the slot has been written (its factors materialized from the seed).
    @usableFromInline let bits: UnsafeMutablePointer<UInt64>
    let wordCount: Int

    /// Hashed slots (the bias slot, `slots`, follows them); `floatCount` is `(slots + 1) × stride`.
    let slots: Int

    /// Zeroed storage for `floatCount` floats: `slots` hashed slots and the bias slot, and `slots` bitmap bits.
    init(floatCount: Int, slots: Int) {
        precondition(floatCount % (slots + 1) == 0, "ParameterStorage: \(floatCount) floats are not \(slots + 1) slots")
        self.floatCount = floatCount
        self.slots = slots
        self.wordCount = (slots + 63) / 64
        guard let f = calloc(max(floatCount, 1), MemoryLayout<Float>.stride),
            let b = calloc(max(wordCount, 1), MemoryLayout<UInt64>.stride)
        else { fatalError("ParameterStorage: cannot allocate \(floatCount) floats") }
        floats = f.bindMemory(to: Float.self, capacity: max(floatCount, 1))
        bits = b.bindMemory(to: UInt64.self, capacity: max(wordCount, 1))
    }

    deinit {
        free(floats)
        free(bits)
    }

    /// A deep copy (for copy-on-write, and the ranking API's model views): ``copy(into:)`` a new, zeroed table.
    func copy() -> ParameterStorage {
        let c = ParameterStorage(floatCount: floatCount, slots: slots)
        copy(into: c)
        return c
    }

    /// Makes `target` (of the same size; nobody else's) hold this table: afterwards it equals this storage float for
    /// float and bit for bit.
    ///
    /// Only the materialized slots and the bias slot are copied: a slot no update has materialized holds zeros (every
    /// write to a slot marks it first — the invariant snapshots rest on too, which store nothing else). The slots
    /// `target` has materialized and this table has not are zeroed. A table of `2^20` slots of which a stream touched
    /// 46,000 (movielens-ftrl on MovieLens) copies those, not the whole table: the copy costs what the model learned,
    /// not what it reserved. Into a new table, the untouched pages stay uncommitted, like the original's; into a table
    /// used before (the ranking API's retired view, ``Model/detachedCopy(reusing:)``), no page is faulted in or zeroed
    /// by the kernel at all.
    func copy(into target: ParameterStorage) {
        precondition(target.floatCount == floatCount && target.slots == slots, "ParameterStorage: copy into another layout")
        let stride = floatCount / (slots &+ 1), source = floats, to = target.floats
        for w in 0..<wordCount {
            var word = bits[w]
            var stale = target.bits[w] & ~word  // materialized there only: back to zeros
            target.bits[w] = word
            if word == ~0 {  // 64 slots in a row: one copy
                let start = w &* 64 &* stride
                (to + start).update(from: source + start, count: 64 &* stride)
                continue
            }
            while word != 0 {
                let start = (w &* 64 &+ word.trailingZeroBitCount) &* stride
                word &= word &- 1
                (to + start).update(from: source + start, count: stride)
            }
            while stale != 0 {
                let start = (w &* 64 &+ stale.trailingZeroBitCount) &* stride
                stale &= stale &- 1
                (to + start).update(repeating: 0, count: stride)
            }
        }
        let bias = slots &* stride  // the bias slot (never in the bitmap), and nothing after it
        (to + bias).update(from: source + bias, count: floatCount &- bias)
    }

    // MARK: Bitmap

    @inline(__always)
    func isMaterialized(_ slot: Int) -> Bool {
        bits[slot &>> 6] & (1 &<< UInt64(slot & 63)) != 0
    }

    @inline(__always)
    func markMaterialized(_ slot: Int) {
        bits[slot &>> 6] |= 1 &<< UInt64(slot & 63)
    }

    /// Number of materialized slots.
    var materializedCount: Int {
        var n = 0
        for i in 0..<wordCount { n &+= bits[i].nonzeroBitCount }
        return n
    }
}
