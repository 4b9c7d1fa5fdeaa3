// MARK: - MurmurHash3

/// MurmurHash3 x86_32 (Austin Appleby, public domain reference `MurmurHash3.cpp`), little-endian block reads.
@usableFromInline
enum MurmurHash3 {
    @usableFromInline static let c1: UInt32 = 0xcc9e_2d51
    @usableFromInline static let c2: UInt32 = 0x1b87_3593
    /// Seed used by `FeatureHasher.cross`; an arbitrary odd constant (the 32-bit golden ratio).
    @usableFromInline static let crossSeed: UInt32 = 0x9e37_79b9

    @inlinable @inline(__always)
    static func rotl(_ x: UInt32, _ r: UInt32) -> UInt32 {
        (x << r) | (x >> (32 &- r))
    }

    /// Mixes one 4-byte block into the running hash.
    @inlinable @inline(__always)
    static func mixBlock(_ h: UInt32, _ block: UInt32) -> UInt32 {
        var k = block &* c1
        k = rotl(k, 15)
        k = k &* c2
        var h = h ^ k
        h = rotl(h, 13)
        return h &* 5 &+ 0xe654_6b64
    }

    /// Final avalanche (fmix32).
    @inlinable @inline(__always)
    static func fmix(_ h: UInt32) -> UInt32 {
        var h = h
        h ^= h >> 16
        h = h &* 0x85eb_ca6b
        h ^= h >> 13
        h = h &* 0xc2b2_ae35
        h ^= h >> 16
        return h
    }

    /// MurmurHash3 x86_32 of a byte buffer.
    @inlinable
    static func hash32(_ bytes: UnsafeRawBufferPointer, seed: UInt32) -> UInt32 {
        let count = bytes.count
        var h = seed
        let blocks = count / 4
        var i = 0
        while i < blocks {
            let block = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i &* 4, as: UInt32.self))
            h = mixBlock(h, block)
            i &+= 1
        }
        let tail = blocks &* 4
        var k: UInt32 = 0
        switch count & 3 {
        case 3:
            k ^= UInt32(bytes[tail &+ 2]) << 16
            fallthrough
        case 2:
            k ^= UInt32(bytes[tail &+ 1]) << 8
            fallthrough
        case 1:
            k ^= UInt32(bytes[tail])
            k = k &* c1
            k = rotl(k, 15)
            k = k &* c2
            h ^= k
        default:
            break
        }
        h ^= UInt32(truncatingIfNeeded: count)
        return fmix(h)
    }

    /// MurmurHash3 x86_32 of the 8 little-endian bytes of `value` (two blocks, no tail).
    @inlinable
    static func hash32(_ value: UInt64, seed: UInt32) -> UInt32 {
        var h = mixBlock(seed, UInt32(truncatingIfNeeded: value))
        h = mixBlock(h, UInt32(truncatingIfNeeded: value >> 32))
        h ^= 8
        return fmix(h)
    }
}
