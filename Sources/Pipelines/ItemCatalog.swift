import Foundation

/// Items seen on the stream: their ids (for score messages), their latest item-side features (for scoring
/// them as candidates) and their positive-feedback counts. Bounded by `capacity`; storage grows with distinct items
/// up to it, never with events.
///
/// **Candidate pool** (`poolCapacity`, `halfLifeMs`): the items a score refresh ranks, kept exactly and
/// incrementally by `ItemCatalog+Pool.swift`, whose top states its invariants.
///
/// **Eviction.** When the catalog is full, a new item takes the slot of a cold one — an item that is not in the
/// pool, has no example pending in the label join, and was not seen (clicked, bought, labelled) during the last
/// ``evictionGuardEvents`` events — chosen by a clock sweep (an item seen since the hand last passed it is skipped
/// and unmarked: roughly the least recently seen goes first), so a stream whose assortment turns over keeps
/// recommending what is on sale. The guard makes
/// reuse safe: every catalog index held outside the catalog (pending examples, the worker's per-batch bias shifts
/// and refresh exclusions, at most one poll batch old) refers to an item seen within it. Decisions depend only on
/// the event sequence, so a restored checkpoint evicts exactly as the run that wrote it. When no item qualifies the
/// new item is refused and counted in ``overflow``, and the sweep rests for a quarter of the guard.
public struct ItemCatalog: Sendable {
    /// Events an item must go unseen (and without pending examples) before its slot can be reused: far more than a
    /// worker poll batch (4,096 messages).
    public static let evictionGuardEvents: UInt64 = 65_536
    /// Maximum number of items kept; past it new items replace cold ones (see above) or, when none qualifies, are
    /// counted in ``overflow`` and not added.
    public let capacity: Int
    /// Size of the popularity pool (0: no pool, candidates are the whole catalog).
    public let poolCapacity: Int
    /// Item-side feature slots per item.
    public let featureWidth: Int
    /// Items currently known.
    public var count: Int { idStarts.count }
    /// New items refused because the catalog was full and no item could be evicted.
    public internal(set) var overflow: UInt64 = 0
    /// Items evicted to make room for new ones.
    public internal(set) var evicted: UInt64 = 0
    /// Per item, its eviction state: one array, so that the per-event updates pay one uniqueness check.
    struct Recency {
        /// The event sequence number (the caller's clock) when it was last seen.
        var lastSeen: UInt64
        /// Its examples pending in the label join (kept by the pipeline; recounted on restore).
        var pending: UInt32
        /// Seen since the clock hand last passed it (0 or 1).
        var referenced: UInt8
    }
    private(set) var recency: [Recency] = []
    var lastSeen: [UInt64] { recency.map(\.lastSeen) }
    var pendingExamples: [UInt32] { recency.map(\.pending) }
    var referenced: [UInt8] { recency.map(\.referenced) }
    /// The clock hand (next item the sweep looks at) and, after a sweep that found nothing, the first event
    /// sequence number at which the next may run.
    private(set) var hand = 0
    private(set) var sweepAfter: UInt64 = 0
    /// Bytes of `idBytes` no longer referenced (ids of evicted items).
    private var idGarbage = 0

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
    // The candidate pool's state (maintained by `ItemCatalog+Pool.swift`).
    /// Positive feedback per item.
    var positives: [UInt32] = []
    /// Half-life of the pool's popularity in ms of event time; 0: all-time counts order the pool.
    public let halfLifeMs: Int64
    /// With a half-life: each item's forward-decayed feedback, Σ 2^((t − epochMs) / halfLifeMs) over its positives.
    var popularity: [Double] = []
    /// The time origin of `popularity`; nil until the first positive (with a half-life).
    var epochMs: Int64?
    /// The pool, best first (item indices).
    var pool: [Int32] = []
    /// Each item's place in `pool`, or -1.
    var poolPlace: [Int32] = []

    /// `groupOfField`: by namespace field, its position among the item-side namespaces (-1 for the others), for
    /// the per-group feature counts.
    public init(capacity: Int, featureWidth: Int, poolCapacity: Int = 0, groupOfField: [Int] = [], halfLifeMs: Int64 = 0) {
        self.capacity = capacity
        self.halfLifeMs = max(0, halfLifeMs)
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

    /// The catalog index of the item with `key` (a 64-bit hash of its id), seen at event `now` (a sequence number
    /// that never goes back); inserted when new, into a new slot or an evicted item's; nil when full and nothing
    /// can be evicted.
    public mutating func lookupOrInsert(key: UInt64, id: UnsafeRawBufferPointer, now: UInt64 = 0) -> Int? {
        if let found = index[key] {
            touch(found, now: now)
            return found
        }
        guard count < capacity else {
            guard let victim = evictionVictim(now: now) else {
                overflow &+= 1
                return nil
            }
            reuse(victim, key: key, id: id, now: now)
            return victim
        }
        let item = count
        recency.append(Recency(lastSeen: now, pending: 0, referenced: 1))
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
        if halfLifeMs > 0 { popularity.append(0) }
        if pool.count < poolCapacity {
            // Count 0 and the highest index: last in the pool's order.
            poolPlace.append(Int32(pool.count))
            pool.append(Int32(item))
        } else {
            poolPlace.append(-1)
        }
        return item
    }

    // MARK: Eviction

    /// Marks `item` seen at event `now`.
    @inline(__always) mutating func touch(_ item: Int, now: UInt64) {
        recency.withUnsafeMutableBufferPointer { r in
            r[item].lastSeen = now
            r[item].referenced = 1
        }
    }

    /// An example of `item` entered the label join.
    @inline(__always) mutating func examplePending(_ item: Int) {
        recency.withUnsafeMutableBufferPointer { $0[item].pending &+= 1 }
    }

    /// An example of `item` left the label join (labelled) at event `now`: the item counts as seen then, so it
    /// stays for the guard after its last label (the worker's bias shifts of the batch refer to it).
    @inline(__always) mutating func exampleResolved(_ item: Int, now: UInt64) {
        recency.withUnsafeMutableBufferPointer { r in
            r[item].pending &-= 1
            r[item].lastSeen = now
            r[item].referenced = 1
        }
    }

    /// Whether `item` may give its slot to a new item at event `now`.
    @inline(__always) func isEvictable(_ item: Int, now: UInt64) -> Bool {
        let r = recency[item]
        return poolPlace[item] < 0 && r.pending == 0 && now > r.lastSeen &+ Self.evictionGuardEvents
    }

    /// The clock sweep (an approximation of least-recently-seen): from the hand on, an item seen since the hand
    /// last passed it loses its mark and is passed over; the first unmarked item that is evictable is the victim.
    /// Nil after two turns without one (the sweep then rests for a quarter of the guard).
    mutating func evictionVictim(now: UInt64) -> Int? {
        guard now >= sweepAfter, count > 0 else { return nil }
        for _ in 0..<(2 &* count) {
            let i = hand
            hand = i &+ 1 == count ? 0 : i &+ 1
            if recency[i].referenced != 0 {
                recency[i].referenced = 0
                continue
            }
            if isEvictable(i, now: now) { return i }
        }
        sweepAfter = now &+ Self.evictionGuardEvents / 4
        return nil
    }

    /// Gives `victim`'s slot to the new item `key` / `id`: its id, no feedback, no features yet (the caller stores
    /// them), outside the pool (the victim was).
    mutating func reuse(_ victim: Int, key: UInt64, id: UnsafeRawBufferPointer, now: UInt64) {
        index.removeValue(forKey: keys[victim])
        index[key] = victim
        keys[victim] = key
        idGarbage &+= Int(idLengths[victim])
        idStarts[victim] = Int32(idBytes.count)
        idLengths[victim] = Int32(id.count)
        idBytes.append(contentsOf: id)
        if idGarbage > idBytes.count / 2 { compactIDs() }
        positives[victim] = 0
        if halfLifeMs > 0 { popularity[victim] = 0 }
        for g in 0..<groups { groupCounts[victim &* groups &+ g] = 0 }
        recency[victim] = Recency(lastSeen: now, pending: 0, referenced: 1)
        evicted &+= 1
    }

    /// Rewrites `idBytes` with only the live items' ids (in item order).
    mutating func compactIDs() {
        var packed: [UInt8] = []
        packed.reserveCapacity(idBytes.count - idGarbage)
        for item in 0..<count {
            let start = Int(idStarts[item]), length = Int(idLengths[item])
            idStarts[item] = Int32(packed.count)
            packed.append(contentsOf: idBytes[start..<(start + length)])
        }
        idBytes = packed
        idGarbage = 0
    }

    /// Restores the eviction state: each item's last sighting and the clock (format 3; format 2 had none, and its
    /// items count as seen at `now`), and the pending examples per item, recounted from the label join.
    mutating func restoreEviction(
        lastSeen saved: [UInt64]?, referenced savedBits: [UInt8]?, hand: Int, sweepAfter: UInt64, evicted: UInt64,
        now: UInt64, pendingItems: [Int]
    ) {
        recency = (0..<count).map { Recency(lastSeen: saved?[$0] ?? now, pending: 0, referenced: savedBits?[$0] ?? 1) }
        self.hand = hand < count ? hand : 0
        self.sweepAfter = sweepAfter
        self.evicted = evicted
        for item in pendingItems where item >= 0 && item < count { recency[item].pending &+= 1 }
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
