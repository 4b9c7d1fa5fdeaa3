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

    /// Zeroed storage for `floatCount` floats and `slots` bitmap bits.
    init(floatCount: Int, slots: Int) {
        self.floatCount = floatCount
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

    /// A deep copy (for copy-on-write).
    func copy() -> ParameterStorage {
        let c = ParameterStorage(floatCount: floatCount, slots: wordCount * 64)
        c.floats.update(from: floats, count: floatCount)
        c.bits.update(from: bits, count: wordCount)
        return c
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
