// MARK: - FeatureHasher

/// The hashing trick (Vowpal Wabbit style): features are hashed with MurmurHash3 x86_32 into a table of `2^bits` slots.
///
/// A feature's full 32-bit hash is computed from its namespace seed and its value (`hash(bytes:seed:)`,
/// `hash(integer:seed:)`); crosses combine two full hashes (`cross(_:_:)`); only the final step, `index(_:)`, masks the
/// hash down to the table size. Keeping full hashes until the end makes crosses independent of `bits`.
///
/// The hash is MurmurHash3 x86_32 (Austin Appleby, public domain), bit-compatible with the reference implementation
/// (and with e.g. Python's `mmh3.hash(…, signed=False)`), so hashed feature spaces can be reproduced elsewhere.
public struct FeatureHasher: Sendable, Equatable {
    /// Number of index bits, `1...30`. The table has `2^bits` slots.
    public let bits: Int
    /// `2^bits - 1`: the mask applied by `index(_:)`.
    public let mask: UInt32

    /// Creates a hasher for a table of `2^bits` slots. `bits` outside `1...30` is a programming error (traps).
    public init(bits: Int) {
        guard (1...30).contains(bits) else { fatalError("FeatureHasher: bits must be in 1...30, got \(bits)") }
        self.bits = bits
        self.mask = UInt32((1 << bits) - 1)
    }

    // MARK: Seeds

    /// The seed of a namespace: MurmurHash3 of the namespace name's UTF-8 bytes with seed 0.
    /// Different namespaces give unrelated hash streams for the same values (`user=5` ≠ `item=5`).
    public static func seed(forNamespace name: String) -> UInt32 {
        var copy = name
        return copy.withUTF8 { MurmurHash3.hash32(UnsafeRawBufferPointer($0), seed: 0) }
    }

    // MARK: Hashing

    /// MurmurHash3 x86_32 of `bytes` with `seed` (full 32 bits, not masked).
    @inlinable
    public func hash(bytes: UnsafeRawBufferPointer, seed: UInt32) -> UInt32 {
        MurmurHash3.hash32(bytes, seed: seed)
    }

    /// MurmurHash3 x86_32 of the 8 little-endian bytes of `integer` with `seed` (full 32 bits, not masked).
    /// Equal to `hash(bytes:seed:)` over those 8 bytes, computed without touching memory.
    @inlinable
    public func hash(integer: UInt64, seed: UInt32) -> UInt32 {
        MurmurHash3.hash32(integer, seed: seed)
    }

    /// MurmurHash3 x86_32 of the UTF-8 bytes of `string` with `seed` (full 32 bits, not masked).
    /// Convenience for non-hot paths; hot paths should hash the decoder's byte ranges with `hash(bytes:seed:)`.
    @inlinable
    public func hash(string: String, seed: UInt32) -> UInt32 {
        var copy = string
        return copy.withUTF8 { MurmurHash3.hash32(UnsafeRawBufferPointer($0), seed: seed) }
    }

    /// Combines two full 32-bit feature hashes into the hash of their cross (interaction) feature.
    ///
    /// Computed as MurmurHash3 of the 8 bytes `a ‖ b` with a fixed seed, so it is well mixed and order-sensitive:
    /// `cross(a, b) != cross(b, a)` in general, and crossing with a value never returns that value unchanged.
    @inlinable
    public func cross(_ a: UInt32, _ b: UInt32) -> UInt32 {
        MurmurHash3.hash32(UInt64(a) | (UInt64(b) << 32), seed: MurmurHash3.crossSeed)
    }

    /// The table slot of a full hash: `h & mask`.
    @inlinable
    public func index(_ h: UInt32) -> UInt32 {
        h & mask
    }
}
