/// An open-addressing hash map from non-random 64-bit keys to non-negative `Int` values (linear probing,
/// backward-shift deletion, power-of-two capacity, load ≤ 1/2). Used on the per-event path instead of `Dictionary`,
/// whose SipHash and resilience checks cost more than the rest of a lookup. Keys are mixed with a fixed 64-bit
/// finalizer, so iteration order and behaviour are deterministic across runs.
///
/// Key and value of a bucket sit side by side (one cache line per probe) in class-owned memory: one uniqueness
/// check per mutating call (copy-on-write), none per bucket access. A bucket is empty when its value is `-1`.
struct UInt64Map: Sendable {
    private var storage: Storage
    private(set) var count = 0

    init(minimumCapacity: Int = 16) {
        var capacity = 16
        while capacity < minimumCapacity * 2 { capacity <<= 1 }
        storage = Storage(capacity: capacity)
    }

    /// One bucket.
    struct Bucket {
        var key: UInt64
        /// `-1` when empty.
        var value: Int
    }

    /// The buckets, owned by one map value at a time (copied before writing when shared).
    final class Storage: @unchecked Sendable {
        let buckets: UnsafeMutablePointer<Bucket>
        let capacity: Int
        var mask: Int { capacity &- 1 }

        init(capacity: Int) {
            self.capacity = capacity
            buckets = .allocate(capacity: capacity)
            buckets.initialize(repeating: Bucket(key: 0, value: -1), count: capacity)
        }

        deinit { buckets.deallocate() }

        func copy() -> Storage {
            let c = Storage(capacity: capacity)
            c.buckets.update(from: buckets, count: capacity)
            return c
        }
    }

    @inline(__always) private static func mix(_ k: UInt64) -> UInt64 {
        var z = k
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }

    @inline(__always) private static func slot(for key: UInt64, in b: UnsafeMutablePointer<Bucket>, mask: Int) -> (index: Int, found: Bool) {
        var i = Int(truncatingIfNeeded: mix(key)) & mask
        while b[i].value >= 0 {
            if b[i].key == key { return (i, true) }
            i = (i &+ 1) & mask
        }
        return (i, false)
    }

    @inline(__always) private mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    subscript(key: UInt64) -> Int? {
        @inline(__always) get {
            let s = Self.slot(for: key, in: storage.buckets, mask: storage.mask)
            return s.found ? storage.buckets[s.index].value : nil
        }
        set {
            if let newValue {
                precondition(newValue >= 0, "UInt64Map holds non-negative values")
                makeUnique()
                let b = storage.buckets
                let s = Self.slot(for: key, in: b, mask: storage.mask)
                if s.found {
                    b[s.index].value = newValue
                    return
                }
                b[s.index] = Bucket(key: key, value: newValue)
                count += 1
                if count * 2 > storage.capacity { grow() }
            } else {
                _ = removeValue(forKey: key)
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey key: UInt64) -> Int? {
        let mask = storage.mask
        let found = Self.slot(for: key, in: storage.buckets, mask: mask)
        guard found.found else { return nil }
        makeUnique()
        let b = storage.buckets
        let value = b[found.index].value
        // Backward-shift deletion keeps probe sequences intact without tombstones.
        var hole = found.index
        var i = (hole &+ 1) & mask
        while b[i].value >= 0 {
            let home = Int(truncatingIfNeeded: Self.mix(b[i].key)) & mask
            // Move entry i into the hole if its home is not in (hole, i] cyclically.
            let distanceToI = (i &- home) & mask
            let distanceToHole = (hole &- home) & mask
            if distanceToHole < distanceToI {
                b[hole] = b[i]
                hole = i
            }
            i = (i &+ 1) & mask
        }
        b[hole].value = -1
        count -= 1
        return value
    }

    mutating func removeAll() {
        makeUnique()
        storage.buckets.update(repeating: Bucket(key: 0, value: -1), count: storage.capacity)
        count = 0
    }

    private mutating func grow() {
        let old = storage
        storage = Storage(capacity: old.capacity * 2)
        count = 0
        for i in 0..<old.capacity where old.buckets[i].value >= 0 { self[old.buckets[i].key] = old.buckets[i].value }
    }
}
