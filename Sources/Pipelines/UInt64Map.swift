/// An open-addressing hash map from non-random 64-bit keys to `Int` values (linear probing, backward-shift
/// deletion, power-of-two capacity, load ≤ 1/2). Used on the per-event path instead of `Dictionary`, whose
/// SipHash and resilience checks cost more than the rest of a lookup. Keys are mixed with a fixed 64-bit
/// finalizer, so iteration order and behaviour are deterministic across runs.
struct UInt64Map: Sendable {
    private var keys: [UInt64]
    private var values: [Int]
    private var used: [Bool]
    private var mask: Int
    private(set) var count = 0

    init(minimumCapacity: Int = 16) {
        var capacity = 16
        while capacity < minimumCapacity * 2 { capacity <<= 1 }
        keys = Array(repeating: 0, count: capacity)
        values = Array(repeating: 0, count: capacity)
        used = Array(repeating: false, count: capacity)
        mask = capacity - 1
    }

    @inline(__always) private static func mix(_ k: UInt64) -> UInt64 {
        var z = k
        z = (z ^ (z >> 33)) &* 0xFF51_AFD7_ED55_8CCD
        z = (z ^ (z >> 33)) &* 0xC4CE_B9FE_1A85_EC53
        return z ^ (z >> 33)
    }

    @inline(__always) private func slot(for key: UInt64) -> (index: Int, found: Bool) {
        var i = Int(truncatingIfNeeded: Self.mix(key)) & mask
        while used[i] {
            if keys[i] == key { return (i, true) }
            i = (i + 1) & mask
        }
        return (i, false)
    }

    subscript(key: UInt64) -> Int? {
        get {
            let s = slot(for: key)
            return s.found ? values[s.index] : nil
        }
        set {
            if let newValue {
                let s = slot(for: key)
                if s.found {
                    values[s.index] = newValue
                    return
                }
                keys[s.index] = key
                values[s.index] = newValue
                used[s.index] = true
                count += 1
                if count * 2 > keys.count { grow() }
            } else {
                _ = removeValue(forKey: key)
            }
        }
    }

    @discardableResult
    mutating func removeValue(forKey key: UInt64) -> Int? {
        let s = slot(for: key)
        guard s.found else { return nil }
        let value = values[s.index]
        // Backward-shift deletion keeps probe sequences intact without tombstones.
        var hole = s.index
        var i = (hole + 1) & mask
        while used[i] {
            let home = Int(truncatingIfNeeded: Self.mix(keys[i])) & mask
            // Move entry i into the hole if its home is not in (hole, i] cyclically.
            let distanceToI = (i - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToI {
                keys[hole] = keys[i]
                values[hole] = values[i]
                hole = i
            }
            i = (i + 1) & mask
        }
        used[hole] = false
        count -= 1
        return value
    }

    mutating func removeAll() {
        for i in used.indices { used[i] = false }
        count = 0
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values, oldUsed = used
        let capacity = keys.count * 2
        keys = Array(repeating: 0, count: capacity)
        values = Array(repeating: 0, count: capacity)
        used = Array(repeating: false, count: capacity)
        mask = capacity - 1
        count = 0
        for i in oldKeys.indices where oldUsed[i] { self[oldKeys[i]] = oldValues[i] }
    }
}
