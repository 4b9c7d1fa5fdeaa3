import Learning

/// The delayed-feedback join: examples wait here, with the features and prediction of their arrival, until feedback
/// of the same (user, item) labels them positive, or the attribution window passes the watermark (negative).
///
/// Bounded: at most `capacity` pending examples and `arenaCapacity` stored features; when either is full, the oldest
/// pending example is labelled negative early and counted in ``forcedByOverflow`` (never silent). Pending examples
/// leave in arrival order, so an example whose deadline is earlier than an older one's waits behind it.
public struct LabelJoin: Sendable {
    /// Pending examples at most.
    public let capacity: Int
    /// Stored features at most (all pending examples together).
    public let arenaCapacity: Int

    // Slot ring (metadata of pending examples), indexed by sequence number modulo capacity.
    var keys: [UInt64]
    var deadlines: [Int64]
    var probabilities: [Double]
    var weights: [Float]
    var items: [Int32]
    var featureStarts: [Int32]
    var featureCounts: [Int32]
    var pending: [Bool]
    /// Sequence numbers: slots `head..<tail` are live (pending or already resolved out of order).
    var head: Int = 0
    var tail: Int = 0

    // Feature arena ring.
    var arenaIndices: [UInt32]
    var arenaValues: [Float]
    var arenaFields: [UInt8]
    var arenaTail: Int = 0

    /// Newest pending slot (sequence number) per (user, item) key.
    var byKey = UInt64Map()

    /// Examples waiting for a label.
    public internal(set) var pendingCount: Int = 0
    /// Examples labelled negative early because the buffer or its feature arena was full.
    public internal(set) var forcedByOverflow: UInt64 = 0

    public init(capacity: Int, featuresPerExample: Int = 48) {
        self.capacity = capacity
        self.arenaCapacity = max(capacity * featuresPerExample, 1024)
        keys = Array(repeating: 0, count: capacity)
        deadlines = Array(repeating: 0, count: capacity)
        probabilities = Array(repeating: 0, count: capacity)
        weights = Array(repeating: 0, count: capacity)
        items = Array(repeating: -1, count: capacity)
        featureStarts = Array(repeating: 0, count: capacity)
        featureCounts = Array(repeating: 0, count: capacity)
        pending = Array(repeating: false, count: capacity)
        arenaIndices = Array(repeating: 0, count: arenaCapacity)
        arenaValues = Array(repeating: 0, count: arenaCapacity)
        arenaFields = Array(repeating: 0, count: arenaCapacity)
        byKey = UInt64Map(minimumCapacity: min(capacity, 1 << 16))
    }

    /// A pending example handed back for learning.
    public struct Resolved: Sendable {
        /// Sequence number of the slot; pass to ``withRow(_:into:)`` before the next insert.
        public var slot: Int
        public var probability: Double
        public var weight: Double
        /// Catalog index of the item, or -1.
        public var item: Int
    }

    // MARK: Adding

    /// Makes room for an example of `featureCount` features: returns the oldest pending example forced out (label it
    /// negative now, before the insert reuses its storage), or nil when there is room. Call until nil, then ``insert``.
    public mutating func makeRoom(for featureCount: Int) -> Resolved? {
        while head < tail && !pending[head % capacity] { head += 1 }
        if tail - head < capacity && arenaPlace(min(featureCount, arenaCapacity)) != nil { return nil }
        return popHead(forced: true)
    }

    /// Stores a pending example (after ``makeRoom(for:)`` returned nil).
    public mutating func insert(key: UInt64, deadline: Int64, probability: Double, weight: Double, item: Int, row: FeatureRow) {
        let n = min(row.count, arenaCapacity)
        let start = arenaAllocate(n)
        let s = tail % capacity
        keys[s] = key
        deadlines[s] = deadline
        probabilities[s] = probability
        weights[s] = Float(weight)
        items[s] = Int32(item)
        featureStarts[s] = Int32(start)
        featureCounts[s] = Int32(n)
        pending[s] = true
        for j in 0..<n {
            arenaIndices[start + j] = row.indices[j]
            arenaValues[start + j] = row.values[j]
            arenaFields[start + j] = row.fields[j]
        }
        byKey[key] = tail
        tail += 1
        pendingCount += 1
    }

    // MARK: Resolving

    /// Takes the newest pending example of `key` (feedback arrived): returns it for a positive label.
    public mutating func takePending(key: UInt64) -> Resolved? {
        guard let seq = byKey.removeValue(forKey: key) else { return nil }
        let s = seq % capacity
        guard pending[s] else { return nil }
        pending[s] = false
        pendingCount -= 1
        return Resolved(slot: seq, probability: probabilities[s], weight: Double(weights[s]), item: Int(items[s]))
    }

    /// The oldest pending example whose deadline is before `watermark` (label negative), or nil.
    public mutating func popExpired(watermark: Int64) -> Resolved? {
        while head < tail {
            let s = head % capacity
            if !pending[s] {
                head += 1
                continue
            }
            guard deadlines[s] < watermark else { return nil }
            return popHead(forced: false)
        }
        return nil
    }

    /// The oldest pending example regardless of deadline (end of a finite input closes all windows), or nil.
    public mutating func popOldest() -> Resolved? { popHead(forced: false) }

    private mutating func popHead(forced: Bool) -> Resolved? {
        while head < tail {
            let seq = head
            let s = seq % capacity
            head += 1
            guard pending[s] else { continue }
            pending[s] = false
            pendingCount -= 1
            if byKey[keys[s]] == seq { byKey[keys[s]] = nil }
            if forced { forcedByOverflow &+= 1 }
            // The features stay readable until the next insert: the arena head is derived from `head`, which moved
            // past this slot, so nothing reuses them before the next insert.
            return Resolved(slot: seq, probability: probabilities[s], weight: Double(weights[s]), item: Int(items[s]))
        }
        return nil
    }

    /// Copies the stored features of a resolved example into `row` (valid until the next insert).
    public func withRow(_ resolved: Resolved, into row: inout FeatureRow) {
        let s = resolved.slot % capacity
        let start = Int(featureStarts[s])
        row.removeAll()
        for j in 0..<Int(featureCounts[s]) {
            row.append(index: arenaIndices[start + j], value: arenaValues[start + j], field: arenaFields[start + j])
        }
    }

    // MARK: Arena

    /// Start of the oldest live features (the arena's head).
    private var arenaHead: Int? {
        var seq = head
        while seq < tail {
            let s = seq % capacity
            if pending[s] { return Int(featureStarts[s]) }
            seq += 1
        }
        return nil
    }

    /// Where `n` features would go, or nil when the arena lacks room.
    private func arenaPlace(_ n: Int) -> Int? {
        guard let h = arenaHead else { return n <= arenaCapacity ? (arenaTail + n <= arenaCapacity ? arenaTail : 0) : nil }
        if arenaTail >= h {
            if arenaTail + n <= arenaCapacity { return arenaTail }
            return n < h ? 0 : nil
        }
        return arenaTail + n < h ? arenaTail : nil
    }

    private mutating func arenaAllocate(_ n: Int) -> Int {
        let start = arenaPlace(n) ?? 0
        arenaTail = start + n
        return start
    }
}
