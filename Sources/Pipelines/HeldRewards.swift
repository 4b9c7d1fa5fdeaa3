import Persistence

/// Rewards read before their ranking's decision (the decision log's partition lags its event partition: a backlog,
/// a restart), held until the decision arrives or can no longer come. Each is keyed like the ranking's example of
/// its item (``Pipeline/rankingKey(_:itemID:itemHash:)``) and belongs to the decision log partition (its index in
/// the label join) co-partitioned with the event partition it came from. A decision's shown item finds its held
/// reward as its example is made; a reward is given up — counted in ``PipelineCounters/rewardsUnknownRanking`` —
/// when that partition's own clock (its decisions' `ts`) passes the reward's time plus the allowed lateness (a
/// ranking precedes its rewards), at the end of a replay, when the partition leaves this member, or to stay within
/// ``capacity`` (the oldest first).
///
/// Part of the checkpoint (format 7), so a restart holds what the uninterrupted run held, and of the partition's
/// state (``Pipeline/exportPartition(_:removing:)``, version 2), so the member that takes a decision log partition
/// over holds what its former owner held for it.
struct HeldRewards: Sendable {
    struct Reward: Sendable, Equatable {
        var partition: Int
        var key: UInt64
        var timestamp: Int64
    }

    /// At most this many are held; past it the oldest is given up.
    static let capacity = 4096

    /// In arrival order; an entry whose key was taken is skipped (and removed at the next release).
    private(set) var rewards: [Reward] = []
    /// Key → time of the held reward (one per key: a second reward of the same item and ranking is not held).
    private var byKey: [UInt64: Int64] = [:]

    var count: Int { byKey.count }

    /// Whether a reward of `partition` is held.
    func holds(partition: Int) -> Bool { rewards.contains { $0.partition == partition && isHeld($0) } }
    /// How many rewards of `partition` are held.
    func count(partition: Int) -> Int { rewards.reduce(0) { $0 + ($1.partition == partition && isHeld($1) ? 1 : 0) } }

    /// Whether `reward`, an entry of ``rewards``, is still held (its key not taken since, nor held again).
    private func isHeld(_ reward: Reward) -> Bool { byKey[reward.key] == reward.timestamp }
    var isEmpty: Bool { byKey.isEmpty }

    /// Holds a reward, unless one of the same key is held already (`held` false: the caller counts it now). Past
    /// ``capacity`` the oldest is given up first (`gaveUp` 1).
    mutating func hold(_ reward: Reward) -> (held: Bool, gaveUp: Int) {
        guard byKey[reward.key] == nil else { return (false, 0) }
        var gaveUp = 0
        if byKey.count >= Self.capacity {
            compact()
            if let oldest = rewards.first {
                byKey[oldest.key] = nil
                rewards.removeFirst()
                gaveUp = 1
            }
        }
        byKey[reward.key] = reward.timestamp
        rewards.append(reward)
        return (true, gaveUp)
    }

    /// The time of the reward held for `key`, which is no longer held; nil when none is.
    mutating func take(_ key: UInt64) -> Int64? { byKey.removeValue(forKey: key) }

    /// Gives up the held rewards for which `isGivenUp` holds; returns how many.
    mutating func release(where isGivenUp: (Reward) -> Bool) -> Int {
        var gaveUp = 0
        rewards.removeAll { r in
            guard byKey[r.key] == r.timestamp else { return true }  // taken (not `isHeld`: `rewards` is being mutated)
            guard isGivenUp(r) else { return false }
            byKey[r.key] = nil
            gaveUp += 1
            return true
        }
        return gaveUp
    }

    /// The held rewards of `partition` (key and time), in arrival order. With `removing` they are held here no more:
    /// handed over with their partition, not given up (nothing to count).
    mutating func export(partition: Int, removing: Bool) -> [(key: UInt64, timestamp: Int64)] {
        let mine = rewards.filter { $0.partition == partition && isHeld($0) }
        if removing {
            for r in mine { byKey[r.key] = nil }
            compact()
        }
        return mine.map { ($0.key, $0.timestamp) }
    }

    private mutating func compact() {
        rewards.removeAll { byKey[$0.key] != $0.timestamp }  // not `isHeld`: `rewards` is being mutated
    }

    func write(to w: inout BinaryWriter) {
        let live = rewards.filter(isHeld)
        w.write(UInt64(live.count))
        for r in live {
            w.write(UInt32(r.partition))
            w.write(r.key)
            w.write(r.timestamp)
        }
    }

    mutating func read(from r: inout BinaryReader, partitions: Int) throws(SnapshotError) {
        let n = try r.readUInt64()
        guard n <= UInt64(Self.capacity) else { throw SnapshotError.invalid("\(n) held rewards") }
        for _ in 0..<n {
            let partition = Int(try r.readUInt32())
            guard partition < partitions else { throw SnapshotError.invalid("held reward of partition \(partition)") }
            let key = try r.readUInt64()
            let timestamp = try r.readInt64()
            guard byKey[key] == nil else { throw SnapshotError.invalid("held reward key repeated") }
            byKey[key] = timestamp
            rewards.append(Reward(partition: partition, key: key, timestamp: timestamp))
        }
    }
}
