#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Learning

/// The delayed-feedback join: examples wait here, with the features and prediction of their arrival, until feedback
/// of the same (user, item) labels them positive, or the attribution window passes the watermark (negative).
///
/// Bounded: at most `capacity` pending examples and `arenaCapacity` stored features; when either is full, the oldest
/// pending example is labelled negative early and counted in ``forcedByOverflow`` (never silent).
///
/// ## Per-partition event time
/// Every example belongs to an input partition (a dense index the caller assigns, see `Pipeline.partitionIndex`),
/// and its window is judged against *its own partition's* watermark only: ``popExpired(partition:watermark:)``
/// expires examples of that partition, in their arrival order (an example whose deadline is earlier than an older
/// one's of the same partition waits behind it). A partition that is ahead — a backlog drain, uneven lag — never
/// expires another's examples, so which examples are labelled how depends on each partition's own sequence, not on
/// how the partitions interleave (overflow aside). Each partition keeps a chain of its examples in arrival order
/// (`nextInPartition`), whose head is always pending: every resolution trims the resolved prefix at once, before
/// any insert can reuse those slots.
public struct LabelJoin: Sendable {
    /// Pending examples at most.
    public let capacity: Int
    /// Stored features at most (all pending examples together).
    public let arenaCapacity: Int

    /// Slot ring (metadata of pending examples, indexed by sequence number modulo capacity) and feature arena.
    var storage: JoinStorage
    /// Sequence numbers: slots `head..<tail` are live (pending or already resolved out of order).
    var head: Int = 0
    var tail: Int = 0
    var arenaTail: Int = 0

    /// Newest pending slot (sequence number) per (user, item) key.
    var byKey = UInt64Map()
    /// Per partition: the sequence number of its oldest pending example and of its newest example, or -1 when it has
    /// none pending. The chain between them runs through `nextInPartition`.
    var partitionHead: [Int] = []
    var partitionTail: [Int] = []

    // Views of the storage's buffers (the checkpoint reads and writes them; call `makeUnique()` before writing).
    var keys: UnsafeMutablePointer<UInt64> { storage.keys }
    var deadlines: UnsafeMutablePointer<Int64> { storage.deadlines }
    var probabilities: UnsafeMutablePointer<Double> { storage.probabilities }
    var weights: UnsafeMutablePointer<Float> { storage.weights }
    var items: UnsafeMutablePointer<Int32> { storage.items }
    var featureStarts: UnsafeMutablePointer<Int32> { storage.featureStarts }
    var featureCounts: UnsafeMutablePointer<Int32> { storage.featureCounts }
    var pending: UnsafeMutablePointer<Bool> { storage.pending }
    var stamps: UnsafeMutablePointer<MarginStamp> { storage.stamps }
    var rowStarts: UnsafeMutablePointer<Int32> { storage.rowStarts }
    var partitionOf: UnsafeMutablePointer<UInt16> { storage.partitionOf }
    var nextInPartition: UnsafeMutablePointer<Int> { storage.nextInPartition }

    /// Examples waiting for a label.
    public internal(set) var pendingCount: Int = 0
    /// Examples labelled negative early because the buffer or its feature arena was full.
    public internal(set) var forcedByOverflow: UInt64 = 0

    public init(capacity: Int, featuresPerExample: Int = 48) {
        self.capacity = capacity
        self.arenaCapacity = max(capacity * featuresPerExample, 1024)
        storage = JoinStorage(capacity: capacity, arenaCapacity: arenaCapacity)
        // Starts small and grows with the pending keys actually live (a sparse 2^17-bucket table costs a cache miss
        // per lookup; pending examples are usually few).
        byKey = UInt64Map(minimumCapacity: min(capacity, 1024))
    }

    /// Copies the storage if another join value shares it (copy-on-write); call before writing through the views.
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// A pending example handed back for learning.
    public struct Resolved: Sendable {
        /// Sequence number of the slot; pass to ``withRow(_:into:)`` before the next insert.
        public var slot: Int
        public var probability: Double
        public var weight: Double
        /// Catalog index of the item, or -1.
        public var item: Int
        /// The margin computed at arrival, stamped with the model state it was computed on.
        public var stamp: MarginStamp
    }

    // MARK: Adding

    /// Makes room for an example of `featureCount` features: returns the oldest pending example forced out (label it
    /// negative now, before the insert reuses its storage), or nil when there is room. Call until nil, then ``insert``.
    public mutating func makeRoom(for featureCount: Int) -> Resolved? {
        let pending = self.pending
        while head < tail && !pending[head % capacity] { head += 1 }
        if tail - head < capacity && arenaPlace(min(featureCount, arenaCapacity)) != nil { return nil }
        return popHead(forced: true)
    }

    /// Stores a pending example (after ``makeRoom(for:)`` returned nil).
    public mutating func insert(
        key: UInt64, deadline: Int64, probability: Double, weight: Double, item: Int, row: FeatureRow, partition: Int = 0
    ) {
        row.indices.withUnsafeBufferPointer { i in
            row.values.withUnsafeBufferPointer { v in
                row.fields.withUnsafeBufferPointer { f in
                    let features = FeatureSlice(
                        indices: i.baseAddress!, values: v.baseAddress!, fields: f.baseAddress!, count: row.count)
                    insert(key: key, deadline: deadline, probability: probability, weight: weight, item: item,
                           features: features, stamp: .none, partition: partition)
                }
            }
        }
    }

    /// Stores a pending example (after ``makeRoom(for:)`` returned nil), copying `features`. `stamp` is the margin
    /// the prediction came from (handed back in ``Resolved/stamp``; dropped when the features were truncated).
    public mutating func insert(
        key: UInt64, deadline: Int64, probability: Double, weight: Double, item: Int, features: FeatureSlice,
        stamp: MarginStamp, partition: Int = 0
    ) {
        makeUnique()
        link(tail, partition: partition)
        let n = min(features.count, arenaCapacity)
        let start = arenaAllocate(n)
        let s = tail % capacity
        keys[s] = key
        deadlines[s] = deadline
        probabilities[s] = probability
        weights[s] = Float(weight)
        items[s] = Int32(item)
        featureStarts[s] = Int32(start)
        featureCounts[s] = Int32(n)
        stamps[s] = n == features.count ? stamp : .none
        let row = rowAllocate(n)
        rowStarts[s] = Int32(row)
        pending[s] = true
        // Plain loops: rows are a few dozen features, where a memmove call per array costs more than the copy.
        let i = storage.rowIndices + row, v = storage.rowValues + row, f = storage.rowFields + row
        var j = 0
        while j < n {
            i[j] = features.indices[j]
            v[j] = features.values[j]
            f[j] = features.fields[j]
            j &+= 1
        }
        byKey[key] = tail
        tail += 1
        pendingCount += 1
    }

    /// Appends the example with sequence number `seq` (about to be stored) to its partition's chain.
    @inline(__always)
    mutating func link(_ seq: Int, partition: Int) {
        if partition >= partitionHead.count { growPartitions(to: partition + 1) }
        let s = seq % capacity
        partitionOf[s] = UInt16(truncatingIfNeeded: partition)
        nextInPartition[s] = -1
        let last = partitionTail[partition]
        if partitionHead[partition] < 0 {
            partitionHead[partition] = seq
        } else {
            // The chain's head is pending, so no slot from it to its tail has been reused: the link is safe.
            nextInPartition[last % capacity] = seq
        }
        partitionTail[partition] = seq
    }

    mutating func growPartitions(to count: Int) {
        precondition(count <= Int(UInt16.max) + 1, "LabelJoin: more than 65,536 input partitions")
        partitionHead.append(contentsOf: repeatElement(-1, count: count - partitionHead.count))
        partitionTail.append(contentsOf: repeatElement(-1, count: count - partitionTail.count))
    }

    /// After the example `seq` was resolved: when it headed its partition's chain, moves the head past every
    /// resolved example to the next pending one (or -1), before any insert may reuse their slots.
    @inline(__always)
    mutating func trimPartition(after seq: Int) {
        let p = Int(partitionOf[seq % capacity])
        guard partitionHead[p] == seq else { return }
        var h = seq
        let pending = self.pending
        while h >= 0 && !pending[h % capacity] {
            h = h == partitionTail[p] ? -1 : nextInPartition[h % capacity]
        }
        partitionHead[p] = h
        if h < 0 { partitionTail[p] = -1 }
    }

    /// Visits every pending example of `partition`, oldest first — and with `removing`, takes them out of the join
    /// without labelling them (they move to another member of the group with their partition). `visit` reads each
    /// one, its features valid during the call.
    public mutating func visitPartition(
        _ partition: Int, removing: Bool, _ visit: (Resolved, FeatureSlice, _ deadline: Int64, _ key: UInt64) -> Void
    ) {
        guard partition < partitionHead.count else { return }
        if removing { makeUnique() }
        var seq = partitionHead[partition]
        let last = partitionTail[partition]
        while seq >= 0 {
            let s = seq % capacity
            let next = seq == last ? -1 : nextInPartition[s]
            if pending[s] {
                let resolved = Resolved(
                    slot: seq, probability: probabilities[s], weight: Double(weights[s]), item: Int(items[s]), stamp: .none)
                visit(resolved, features(of: resolved), deadlines[s], keys[s])
                if removing {
                    pending[s] = false
                    pendingCount -= 1
                    if byKey[keys[s]] == seq { byKey[keys[s]] = nil }
                }
            }
            seq = next
        }
        guard removing else { return }
        partitionHead[partition] = -1
        partitionTail[partition] = -1
        let pending = self.pending
        while head < tail && !pending[head % capacity] { head += 1 }
    }

    /// Whether `partition` has a pending example (its chain's head is always pending, or -1).
    public func hasPending(partition: Int) -> Bool {
        partition < partitionHead.count && partitionHead[partition] >= 0
    }

    /// Examples pending in `partition` (a walk of its chain), for diagnostics and tests.
    public func pendingCount(partition: Int) -> Int {
        guard hasPending(partition: partition) else { return 0 }
        var n = 0
        var seq = partitionHead[partition]
        let last = partitionTail[partition]
        while seq >= 0 {
            let s = seq % capacity
            if pending[s] { n += 1 }
            seq = seq == last ? -1 : nextInPartition[s]
        }
        return n
    }

    /// The catalog item (or -1) of every pending example, oldest first: for recounting after a restore.
    func pendingItems() -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(pendingCount)
        for seq in head..<tail where pending[seq % capacity] { result.append(Int(items[seq % capacity])) }
        return result
    }

    // MARK: Resolving

    /// Takes the newest pending example of `key` (feedback arrived): returns it for a positive label.
    public mutating func takePending(key: UInt64) -> Resolved? {
        guard let seq = byKey.removeValue(forKey: key) else { return nil }
        makeUnique()
        let s = seq % capacity
        guard pending[s] else { return nil }
        pending[s] = false
        pendingCount -= 1
        trimPartition(after: seq)
        return Resolved(
                slot: seq, probability: probabilities[s], weight: Double(weights[s]), item: Int(items[s]), stamp: stamps[s])
    }

    /// Takes the newest pending example of `key` when its deadline is not before `time` (a reward of a ranking at
    /// event time `time`); nil — the example, if any, stays pending and expires negative — when there is none or its
    /// window closed by `time` although its partition's watermark has not passed it yet.
    public mutating func takePending(key: UInt64, at time: Int64) -> Resolved? {
        guard let seq = byKey[key], pending[seq % capacity], deadlines[seq % capacity] >= time else { return nil }
        return takePending(key: key)
    }

    /// The oldest pending example of `partition` if its deadline is before `watermark` (that partition's event time
    /// less the allowed lateness): label it negative. nil when there is none.
    public mutating func popExpired(partition: Int, watermark: Int64) -> Resolved? {
        guard partition < partitionHead.count else { return nil }
        let seq = partitionHead[partition]
        guard seq >= 0 else { return nil }
        let s = seq % capacity
        guard deadlines[s] < watermark else { return nil }
        makeUnique()
        pending[s] = false
        pendingCount -= 1
        if byKey[keys[s]] == seq { byKey[keys[s]] = nil }
        trimPartition(after: seq)
        // Advance the ring's head past resolved slots (the arena head follows it).
        let pending = self.pending
        while head < tail && !pending[head % capacity] { head += 1 }
        return Resolved(
            slot: seq, probability: probabilities[s], weight: Double(weights[s]), item: Int(items[s]), stamp: stamps[s])
    }

    /// The oldest pending example regardless of deadline (end of a finite input closes all windows), or nil.
    public mutating func popOldest() -> Resolved? { popHead(forced: false) }

    private mutating func popHead(forced: Bool) -> Resolved? {
        makeUnique()
        while head < tail {
            let seq = head
            let s = seq % capacity
            head += 1
            guard pending[s] else { continue }
            pending[s] = false
            pendingCount -= 1
            if byKey[keys[s]] == seq { byKey[keys[s]] = nil }
            trimPartition(after: seq)
            if forced { forcedByOverflow &+= 1 }
            // The features stay readable until the next insert: the arena head is derived from `head`, which moved
            // past this slot, so nothing reuses them before the next insert.
            return Resolved(
                slot: seq, probability: probabilities[s], weight: Double(weights[s]), item: Int(items[s]), stamp: stamps[s])
        }
        return nil
    }

    /// Copies the stored features of a resolved example into `row` (valid until the next insert).
    public func withRow(_ resolved: Resolved, into row: inout FeatureRow) {
        let f = features(of: resolved)
        row.removeAll()
        for j in 0..<f.count { row.append(index: f.indices[j], value: f.values[j], field: f.fields[j]) }
    }

    /// The stored features of a resolved example, in place: valid until the next mutating call on this join.
    @inline(__always)
    public func features(of resolved: Resolved) -> FeatureSlice {
        let s = resolved.slot % capacity
        let start = Int(rowStarts[s])
        let st = storage
        return FeatureSlice(
            indices: st.rowIndices + start, values: st.rowValues + start, fields: st.rowFields + start,
            count: Int(featureCounts[s]))
    }

    // MARK: Row store

    // The arena above is bookkeeping: its positions (`featureStarts`, `arenaTail`) decide when the buffer is full,
    // exactly as they always have, and are what a checkpoint records. The features themselves live in a separate
    // row store whose layout decides nothing: rows are appended, the store restarts at 0 whenever no example is
    // pending (the common case with short windows, so the rows in use stay in a few pages instead of streaming
    // through the whole arena: half the page faults of a MovieLens x10 replay, 28 MB less resident memory), and live
    // rows are compacted — into a larger store if needed — when it fills. Live rows never exceed the arena's
    // capacity, so neither does the store.

    /// Room for `n` features in the row store (may move the live rows; features of resolved examples are then gone,
    /// which the "valid until the next insert" rule allows).
    mutating func rowAllocate(_ n: Int) -> Int {
        let st = storage
        if pendingCount == 0 { st.rowTail = 0 }
        if st.rowTail + n > st.rowCapacity { compactRows(adding: n) }
        let start = st.rowTail
        st.rowTail += n
        return start
    }

    /// Moves the live rows to the front of a fresh store (at least twice as large as they and `n` more need).
    private mutating func compactRows(adding n: Int) {
        let st = storage
        var live = 0
        for seq in head..<tail where pending[seq % capacity] { live += Int(featureCounts[seq % capacity]) }
        var newCapacity = max(st.rowCapacity, 1024)
        while (live + n) * 2 > newCapacity { newCapacity *= 2 }
        let indices: UnsafeMutablePointer<UInt32> = JoinStorage.zeroed(newCapacity)
        let values: UnsafeMutablePointer<Float> = JoinStorage.zeroed(newCapacity)
        let fields: UnsafeMutablePointer<UInt8> = JoinStorage.zeroed(newCapacity)
        var at = 0
        for seq in head..<tail where pending[seq % capacity] {
            let s = seq % capacity
            let from = Int(rowStarts[s]), count = Int(featureCounts[s])
            (indices + at).update(from: st.rowIndices + from, count: count)
            (values + at).update(from: st.rowValues + from, count: count)
            (fields + at).update(from: st.rowFields + from, count: count)
            rowStarts[s] = Int32(at)
            at += count
        }
        st.replaceRows(indices: indices, values: values, fields: fields, capacity: newCapacity, tail: at)
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

/// The join's buffers (slot metadata allocated once; the row store grows when needed): one uniqueness check per mutating call
/// of ``LabelJoin`` (copy-on-write), none per element. Only the ``LabelJoin`` value holding the sole reference writes.
final class JoinStorage: @unchecked Sendable {
    let capacity: Int
    let arenaCapacity: Int
    let keys: UnsafeMutablePointer<UInt64>
    let deadlines: UnsafeMutablePointer<Int64>
    let probabilities: UnsafeMutablePointer<Double>
    let weights: UnsafeMutablePointer<Float>
    let items: UnsafeMutablePointer<Int32>
    let featureStarts: UnsafeMutablePointer<Int32>
    let featureCounts: UnsafeMutablePointer<Int32>
    let pending: UnsafeMutablePointer<Bool>
    let stamps: UnsafeMutablePointer<MarginStamp>
    /// Position of each slot's features in the row store.
    let rowStarts: UnsafeMutablePointer<Int32>
    /// Each slot's input partition, and the sequence number of the next example of that partition (-1: none yet).
    let partitionOf: UnsafeMutablePointer<UInt16>
    let nextInPartition: UnsafeMutablePointer<Int>
    /// The row store (see ``LabelJoin/rowAllocate(_:)``).
    private(set) var rowIndices: UnsafeMutablePointer<UInt32>
    private(set) var rowValues: UnsafeMutablePointer<Float>
    private(set) var rowFields: UnsafeMutablePointer<UInt8>
    private(set) var rowCapacity: Int
    var rowTail = 0

    init(capacity: Int, arenaCapacity: Int) {
        self.capacity = capacity
        self.arenaCapacity = arenaCapacity
        let c = max(capacity, 1)
        keys = Self.zeroed(c)
        deadlines = Self.zeroed(c)
        probabilities = Self.zeroed(c)
        weights = Self.zeroed(c)
        items = Self.zeroed(c)
        featureStarts = Self.zeroed(c)
        featureCounts = Self.zeroed(c)
        pending = Self.zeroed(c)
        stamps = Self.zeroed(c)  // all-zero bits: no table identity, so never matches (like `.none`)
        rowStarts = Self.zeroed(c)
        partitionOf = Self.zeroed(c)
        nextInPartition = Self.zeroed(c)
        rowCapacity = min(max(arenaCapacity, 1), 1 << 14)
        rowIndices = Self.zeroed(rowCapacity)
        rowValues = Self.zeroed(rowCapacity)
        rowFields = Self.zeroed(rowCapacity)
    }

    /// Installs a new row store (frees the old one).
    func replaceRows(
        indices: UnsafeMutablePointer<UInt32>, values: UnsafeMutablePointer<Float>, fields: UnsafeMutablePointer<UInt8>,
        capacity: Int, tail: Int
    ) {
        free(rowIndices); free(rowValues); free(rowFields)
        rowIndices = indices
        rowValues = values
        rowFields = fields
        rowCapacity = capacity
        rowTail = tail
    }

    /// Zeroed memory from `calloc`: large blocks come as untouched zero pages, so a join sized for 65,536 examples
    /// costs resident memory (and page faults) only for the part a stream uses. All element types here are trivial
    /// and all-zero bits are a valid value of each; slots are written before they are read (`pending` is false).
    static func zeroed<T>(_ count: Int) -> UnsafeMutablePointer<T> {
        guard let raw = calloc(count, MemoryLayout<T>.stride) else { fatalError("LabelJoin: cannot allocate \(count) slots") }
        return raw.bindMemory(to: T.self, capacity: count)
    }

    deinit {
        free(keys); free(deadlines); free(probabilities); free(weights); free(items); free(featureStarts)
        free(featureCounts); free(pending); free(stamps); free(rowStarts); free(rowIndices); free(rowValues); free(rowFields)
        free(partitionOf); free(nextInPartition)
    }

    func copy() -> JoinStorage {
        let c = JoinStorage(capacity: capacity, arenaCapacity: arenaCapacity)
        let n = max(capacity, 1)
        c.keys.update(from: keys, count: n)
        c.deadlines.update(from: deadlines, count: n)
        c.probabilities.update(from: probabilities, count: n)
        c.weights.update(from: weights, count: n)
        c.items.update(from: items, count: n)
        c.featureStarts.update(from: featureStarts, count: n)
        c.featureCounts.update(from: featureCounts, count: n)
        c.pending.update(from: pending, count: n)
        c.stamps.update(from: stamps, count: n)
        c.rowStarts.update(from: rowStarts, count: n)
        c.partitionOf.update(from: partitionOf, count: n)
        c.nextInPartition.update(from: nextInPartition, count: n)
        c.replaceRows(
            indices: Self.zeroed(rowCapacity), values: Self.zeroed(rowCapacity), fields: Self.zeroed(rowCapacity),
            capacity: rowCapacity, tail: rowTail)
        c.rowIndices.update(from: rowIndices, count: rowCapacity)
        c.rowValues.update(from: rowValues, count: rowCapacity)
        c.rowFields.update(from: rowFields, count: rowCapacity)
        return c
    }
}
