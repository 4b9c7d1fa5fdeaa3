// The candidate pool of the item catalog: which items a score refresh ranks.
//
// **Candidate pool.** With `poolCapacity` N > 0 the catalog keeps, exactly and incrementally, N items with the
// most positive feedback, sorted by count (descending): the retrieval stage of a score refresh, whose cost is
// then proportional to N instead of to the catalog. A count only ever grows by one, so one swap with the first
// item of its old count keeps the order (O(log N) per positive; ties keep their history order, and at the
// pool's edge the incumbent stays). Invariants, tested against a reference: sorted by count, every item
// outside has at most the smallest count inside. Checkpoints store the pool's order.
//
// **Recency** (`halfLifeMs` > 0, `outputs.popularity_half_life`). All-time counts freeze the pool of a stream
// that runs for months: a new item needs more purchases than last season's best sellers ever had. With a
// half-life the pool ranks items by exponentially decayed feedback instead — each purchase counts
// 2^−(age / half-life) — kept by *forward decay* (Cormode et al., ICDE 2009): a purchase at event time t adds
// 2^((t − epoch) / half-life) to the item's `popularity`. Every item's decayed count at any moment is its
// popularity times the same factor 2^−((now − epoch) / half-life), so the order needs no update as time passes,
// only when an item gains feedback; it then moves up (binary search, one rotation). When the exponent grows
// past 256 the epoch moves forward and every popularity is scaled by the same power of two (exact), so the
// numbers stay finite forever. Out-of-order purchases count with their own (older) time.

import Foundation

extension ItemCatalog {
    /// Positive feedback recorded for `item`.
    public func positiveCount(of item: Int) -> Int { Int(positives[item]) }

    /// Records one positive feedback for `item` at event time `timestamp` (ms) and keeps the pool: O(log N) and one
    /// swap with all-time counts; with a half-life, O(log N) plus a rotation of the items it passes.
    public mutating func recordPositive(_ item: Int, at timestamp: Int64 = 0) {
        let old = positives[item]
        positives[item] = old &+ 1
        if halfLifeMs > 0 {
            recordDecayed(item, at: timestamp)
            return
        }
        guard poolCapacity > 0, let place = placeOrEnter(item, rank: Double(old &+ 1)) else { return }
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

    /// The weight of a positive at `timestamp` in the current frame, moving the frame forward first when the
    /// exponent gets large.
    @inline(__always)
    mutating func decayWeight(at timestamp: Int64) -> Double {
        guard let epoch = epochMs else {
            epochMs = timestamp
            return 1
        }
        let exponent = Double(timestamp &- epoch) / Double(halfLifeMs)
        guard exponent > 256 else { return exp2(exponent) }
        // Move the origin forward by whole half-lives: every popularity scales by the same power of two (exact
        // unless it underflows, and order-preserving either way).
        let shift = exponent.rounded(.down)
        let moved = epoch &+ Int64(shift) &* halfLifeMs
        epochMs = moved
        let scale = exp2(-shift)
        for i in popularity.indices { popularity[i] *= scale }
        return exp2(Double(timestamp &- moved) / Double(halfLifeMs))
    }

    /// `recordPositive` with a half-life: the item's popularity grows by the positive's weight and the item moves
    /// up past every pool member it now exceeds (ties keep the incumbent ahead, and the others their order).
    mutating func recordDecayed(_ item: Int, at timestamp: Int64) {
        let weight = decayWeight(at: timestamp)  // first: it may rescale every popularity
        let new = popularity[item] + weight
        popularity[item] = new
        guard poolCapacity > 0, let place = placeOrEnter(item, rank: new) else { return }
        // The first place whose item has less popularity than the new value (the pool is sorted, descending).
        var lo = 0, hi = place
        while lo < hi {
            let mid = (lo &+ hi) >> 1
            if popularity[Int(pool[mid])] >= new { lo = mid &+ 1 } else { hi = mid }
        }
        guard lo < place else { return }
        var i = place
        while i > lo {
            let moved = pool[i &- 1]
            pool[i] = moved
            poolPlace[Int(moved)] = Int32(i)
            i &-= 1
        }
        pool[lo] = Int32(item)
        poolPlace[item] = Int32(lo)
    }

    /// The place in the pool of `item`, whose rank just grew to `rank`: its own, or — for an item outside — the
    /// last one, when it now passes the last item (which leaves); nil when it stays out. Outside the pool every
    /// rank is ≤ the pool's smallest (its last item's), so passing that one is the only way in; a tie stays out.
    @inline(__always)
    mutating func placeOrEnter(_ item: Int, rank: Double) -> Int? {
        let place = Int(poolPlace[item])
        if place >= 0 { return place }
        let last = pool.count - 1
        let leaving = Int(pool[last])
        guard rank > self.rank(of: leaving) else { return nil }
        poolPlace[leaving] = -1
        pool[last] = Int32(item)
        poolPlace[item] = Int32(last)
        return last
    }

    /// What orders the pool: the item's popularity with a half-life, its positive count without.
    @inline(__always) func rank(of item: Int) -> Double {
        halfLifeMs > 0 ? popularity[item] : Double(positives[item])
    }

    /// The item's decayed popularity relative to the latest epoch (its positive count without a half-life).
    public func popularity(of item: Int) -> Double { rank(of: item) }

    /// Sets a restored count (then ``restorePool(_:)`` or ``rebuildPool()``).
    mutating func setPositiveCount(of item: Int, _ n: UInt32) { positives[item] = n }

    /// Sets restored popularities (with a half-life; then ``restorePool(_:)`` or ``rebuildPool()``): `saved` and
    /// its epoch when the checkpoint had them, else every item's count, as if all its feedback had come at the
    /// next positive's time (the epoch is then set by that positive).
    mutating func restorePopularity(_ saved: [Double]?, epochMs savedEpoch: Int64?) {
        guard halfLifeMs > 0 else { return }
        if let saved, saved.count == count {
            popularity = saved
            epochMs = savedEpoch
        } else {
            popularity = positives.map(Double.init)
            epochMs = nil
        }
    }

    /// Rebuilds the pool from the counts (or popularities) alone (ties: the item seen first): for a checkpoint
    /// whose pool does not fit, e.g. written with another `outputs.candidates` or `popularity_half_life`.
    mutating func rebuildPool() {
        pool.removeAll(keepingCapacity: true)
        for i in poolPlace.indices { poolPlace[i] = -1 }
        guard poolCapacity > 0 else { return }
        let order = (0..<count).sorted { rank(of: $0) > rank(of: $1) || (rank(of: $0) == rank(of: $1) && $0 < $1) }
        for (place, item) in order.prefix(poolCapacity).enumerated() {
            pool.append(Int32(item))
            poolPlace[item] = Int32(place)
        }
    }

    /// Restores a checkpointed pool exactly (its order settles ties, so a restored run evolves identically); false
    /// when it does not fit this catalog — wrong size for `poolCapacity`, unknown or repeated items, not sorted by
    /// count (popularity), or an item outside it with more than its last.
    mutating func restorePool(_ saved: [Int32]) -> Bool {
        guard poolCapacity > 0, saved.count == min(poolCapacity, count) else { return false }
        for i in poolPlace.indices { poolPlace[i] = -1 }
        pool.removeAll(keepingCapacity: true)
        for (place, entry) in saved.enumerated() {
            let item = Int(entry)
            guard item >= 0, item < count, poolPlace[item] < 0 else { rebuildPool(); return false }
            if place > 0, rank(of: item) > rank(of: Int(saved[place - 1])) { rebuildPool(); return false }
            poolPlace[item] = Int32(place)
            pool.append(entry)
        }
        if let last = pool.last {
            for item in 0..<count where poolPlace[item] < 0 && rank(of: item) > rank(of: Int(last)) {
                rebuildPool()
                return false
            }
        }
        return true
    }

    /// Whether `item` is a candidate of a score refresh: in the pool, or any item when there is no pool.
    @inline(__always) public func isCandidate(_ item: Int) -> Bool { poolCapacity == 0 || poolPlace[item] >= 0 }

    /// Calls `body` with the candidates of a score refresh: the pool, or every item when there is no pool.
    @inline(__always)
    public func withCandidates<R>(_ body: (_ count: Int, _ pool: UnsafeBufferPointer<Int32>?) throws -> R) rethrows -> R {
        if poolCapacity > 0 {
            return try pool.withUnsafeBufferPointer { try body($0.count, $0) }
        }
        return try body(count, nil)
    }
}
