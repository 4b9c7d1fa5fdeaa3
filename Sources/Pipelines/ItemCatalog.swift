/// Items seen on the stream: their ids (for score messages), their latest item-side features (for scoring
/// them as candidates) and their positive-feedback counts. Bounded by `capacity`; storage grows with distinct items
/// up to it, never with events.
///
/// **Candidate pool.** With `poolCapacity` N > 0 the catalog keeps, exactly and incrementally, N items with the
/// most positive feedback, sorted by count (descending): the retrieval stage of a score refresh, whose cost is
/// then proportional to N instead of to the catalog. A count only ever grows by one, so one swap with the first
/// item of its old count keeps the order (O(log N) per positive; ties keep their history order, and at the
/// pool's edge the incumbent stays). Invariants, tested against a reference: sorted by count, every item
/// outside has at most the smallest count inside. Checkpoints store the pool's order.
public struct ItemCatalog: Sendable {
    /// Maximum number of items kept; new items past it are counted in ``overflow`` and not added.
    public let capacity: Int
    /// Size of the popularity pool (0: no pool, candidates are the whole catalog).
    public let poolCapacity: Int
    /// Item-side feature slots per item.
    public let featureWidth: Int
    /// Items currently known.
    public var count: Int { idStarts.count }
    /// New items refused because the catalog was full.
    public internal(set) var overflow: UInt64 = 0

    private var index = UInt64Map()
    private var keys: [UInt64] = []
    private var idBytes: [UInt8] = []
    private var idStarts: [Int32] = []
    private var idLengths: [Int32] = []
    var hashes: [UInt32] = []
    var values: [Float] = []
    var namespaces: [UInt8] = []
    /// Item-side namespace groups (the featurizer's item namespaces, at least 1), and each namespace field's group
    /// (-1: not item-side).
    let groups: Int
    let groupOfField: [Int8]
    /// Per item and group: how many of the item's features are in the group (`groups` entries per item; their sum
    /// is the item's feature count). An item's features are stored grouped, in group order, so group `g` starts
    /// after the counts of groups `< g`.
    var groupCounts: [UInt16] = []

    /// How many item-side features `item` holds.
    @inline(__always) func featureCount(of item: Int) -> Int {
        var total = 0
        for g in 0..<groups { total &+= Int(groupCounts[item &* groups &+ g]) }
        return total
    }
    /// Positive feedback per item.
    private(set) var positives: [UInt32] = []
    /// The pool, best first (item indices).
    private(set) var pool: [Int32] = []
    /// Each item's place in `pool`, or -1.
    private var poolPlace: [Int32] = []

    /// `groupOfField`: by namespace field, its position among the item-side namespaces (-1 for the others), for
    /// the per-group feature counts.
    public init(capacity: Int, featureWidth: Int, poolCapacity: Int = 0, groupOfField: [Int] = []) {
        self.capacity = capacity
        self.featureWidth = max(1, featureWidth)
        self.groupOfField = groupOfField.map { Int8(clamping: $0) }
        self.groups = max(1, (groupOfField.max() ?? -1) + 1)
        self.poolCapacity = max(0, poolCapacity)
        index = UInt64Map(minimumCapacity: min(capacity, 1 << 12))
        if poolCapacity > 0 { pool.reserveCapacity(min(poolCapacity, capacity)) }
    }

    @inline(__always) func slotStart(_ item: Int) -> Int { item * featureWidth }

    /// Rewrites the item-side features of `item`: `body` writes them, grouped in group order, into its
    /// `featureWidth` slots (hashes, values, namespaces) and their count per group into its `groups` counts, and
    /// returns how many it wrote. One uniqueness check per array, none per feature.
    @inline(__always)
    mutating func updateFeatures(
        of item: Int,
        _ body: (UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<UInt8>,
                 UnsafeMutablePointer<UInt16>) -> Int
    ) {
        let base = slotStart(item), groupBase = item &* groups
        _ = hashes.withUnsafeMutableBufferPointer { h in
            values.withUnsafeMutableBufferPointer { v in
                namespaces.withUnsafeMutableBufferPointer { n in
                    groupCounts.withUnsafeMutableBufferPointer { g in
                        body(h.baseAddress! + base, v.baseAddress! + base, n.baseAddress! + base, g.baseAddress! + groupBase)
                    }
                }
            }
        }
    }

    /// Counts the `count` features of `item` (restored into its slots) per group, from their namespaces.
    mutating func recountGroups(of item: Int, count: Int) {
        let base = slotStart(item), groupBase = item &* groups
        for g in 0..<groups { groupCounts[groupBase &+ g] = 0 }
        for k in base..<(base &+ count) {
            let field = Int(namespaces[k])
            if field < groupOfField.count, groupOfField[field] >= 0 { groupCounts[groupBase &+ Int(groupOfField[field])] &+= 1 }
        }
    }

    /// The catalog index of the item with `key` (a 64-bit hash of its id), inserting it when new; nil when full.
    public mutating func lookupOrInsert(key: UInt64, id: UnsafeRawBufferPointer) -> Int? {
        if let found = index[key] { return found }
        guard count < capacity else {
            overflow &+= 1
            return nil
        }
        let item = count
        index[key] = item
        keys.append(key)
        idStarts.append(Int32(idBytes.count))
        idLengths.append(Int32(id.count))
        idBytes.append(contentsOf: id)
        hashes.append(contentsOf: repeatElement(0, count: featureWidth))
        values.append(contentsOf: repeatElement(0, count: featureWidth))
        namespaces.append(contentsOf: repeatElement(0, count: featureWidth))
        groupCounts.append(contentsOf: repeatElement(0, count: groups))
        positives.append(0)
        if pool.count < poolCapacity {
            // Count 0 and the highest index: last in the pool's order.
            poolPlace.append(Int32(pool.count))
            pool.append(Int32(item))
        } else {
            poolPlace.append(-1)
        }
        return item
    }

    // MARK: Popularity

    /// Positive feedback recorded for `item`.
    public func positiveCount(of item: Int) -> Int { Int(positives[item]) }

    /// Records one positive feedback for `item` and keeps the pool: O(log N), one swap at most.
    public mutating func recordPositive(_ item: Int) {
        let old = positives[item]
        positives[item] = old &+ 1
        guard poolCapacity > 0 else { return }
        var place = Int(poolPlace[item])
        if place < 0 {
            // Outside the pool every count is ≤ the pool's smallest (its last item's): the item enters only by
            // passing it — it then had that count — and the last one leaves. A tie stays out.
            let last = pool.count - 1
            let leaving = Int(pool[last])
            guard old &+ 1 > positives[leaving] else { return }
            poolPlace[leaving] = -1
            pool[last] = Int32(item)
            poolPlace[item] = Int32(last)
            place = last
        }
        // Swap with the first item of its old count's block (binary search: the pool is sorted by count,
        // descending): the pool stays sorted with one swap.
        var lo = 0, hi = place
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if positives[Int(pool[mid])] > old { lo = mid &+ 1 } else { hi = mid }
        }
        guard lo < place else { return }
        let other = Int(pool[lo])
        pool[lo] = Int32(item)
        poolPlace[item] = Int32(lo)
        pool[place] = Int32(other)
        poolPlace[other] = Int32(place)
    }

    /// Sets a restored count (then ``restorePool(_:)`` or ``rebuildPool()``).
    mutating func setPositiveCount(of item: Int, _ n: UInt32) { positives[item] = n }

    /// Rebuilds the pool from the counts alone (ties: the item seen first): for a checkpoint whose pool does not
    /// fit, e.g. written with another `outputs.candidates`.
    mutating func rebuildPool() {
        pool.removeAll(keepingCapacity: true)
        for i in poolPlace.indices { poolPlace[i] = -1 }
        guard poolCapacity > 0 else { return }
        let order = (0..<count).sorted { positives[$0] > positives[$1] || (positives[$0] == positives[$1] && $0 < $1) }
        for (place, item) in order.prefix(poolCapacity).enumerated() {
            pool.append(Int32(item))
            poolPlace[item] = Int32(place)
        }
    }

    /// Restores a checkpointed pool exactly (its order settles ties, so a restored run evolves identically); false
    /// when it does not fit this catalog — wrong size for `poolCapacity`, unknown or repeated items, not sorted by
    /// count, or an item outside it with more positives than its last.
    mutating func restorePool(_ saved: [Int32]) -> Bool {
        guard poolCapacity > 0, saved.count == min(poolCapacity, count) else { return false }
        for i in poolPlace.indices { poolPlace[i] = -1 }
        pool.removeAll(keepingCapacity: true)
        for (place, entry) in saved.enumerated() {
            let item = Int(entry)
            guard item >= 0, item < count, poolPlace[item] < 0 else { rebuildPool(); return false }
            if place > 0, positives[item] > positives[Int(saved[place - 1])] { rebuildPool(); return false }
            poolPlace[item] = Int32(place)
            pool.append(entry)
        }
        if let last = pool.last {
            for item in 0..<count where poolPlace[item] < 0 && positives[item] > positives[Int(last)] {
                rebuildPool()
                return false
            }
        }
        return true
    }

    /// Calls `body` with the candidates of a score refresh: the pool, or every item when there is no pool.
    @inline(__always)
    public func withCandidates<R>(_ body: (_ count: Int, _ pool: UnsafeBufferPointer<Int32>?) throws -> R) rethrows -> R {
        if poolCapacity > 0 {
            return try pool.withUnsafeBufferPointer { try body($0.count, $0) }
        }
        return try body(count, nil)
    }

    /// The key of catalog entry `item`.
    func keyOf(_ item: Int) -> UInt64 { keys[item] }

    /// The catalog index of `key`, if known.
    public func lookup(key: UInt64) -> Int? { index[key] }

    /// The item's id as a string.
    public func id(of item: Int) -> String {
        let start = Int(idStarts[item])
        return String(decoding: idBytes[start..<start + Int(idLengths[item])], as: UTF8.self)
    }

    /// Calls `body` with the item's id bytes.
    public func withID<R>(of item: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = Int(idStarts[item])
        return try idBytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + Int(idLengths[item])])) }
    }
}
