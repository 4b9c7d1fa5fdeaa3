/// Who owns each input partition, as the claims of a group's increments topic say (``PartitionClaim``), and what that
/// makes of each increments record read. Every member keeps one and reads the topic in the same order, so every
/// member drops the same records.
///
/// - A claim makes its member the owner of its partitions from its place in the topic on.
/// - An increments record of member M whose coverage names a partition owned by another member is a former owner's:
///   M published it after the group had given the partition to someone else, who learns its events again. Dropped.
/// - A claim of another member of a partition in ``mine`` (claimed by this run of the loop and not given up since)
///   means the group dropped this member before it knew: ``lostTo``, after which the member stops (its records from
///   the claim on are dropped by all) and starts again from its last checkpoint.
/// - An increments record of member M from a run of M other than the one of M's newest claim is an earlier run's:
///   that run had stopped (a `kill -9`, a fenced loop) with the record in flight, and the record landed after the
///   new run's claim — after the new run read the topic to its end. The new run learns those events again and
///   publishes that sequence number itself; every member drops the earlier run's record
///   (``isEarlierRun(member:incarnation:)``).
public struct ClaimLedger: Sendable {
    /// The newest claim's member per partition (kept in the checkpoint, ``GroupSyncState/owners``).
    public private(set) var owners: [ClaimedPartition: String]
    /// The incarnation of each member's newest claim (kept in the checkpoint, ``GroupSyncState/incarnations``).
    public private(set) var incarnations: [String: UInt64]
    public let member: String
    /// This run's claims are told from earlier ones of the same member id (a restart) by this number.
    public let incarnation: UInt64
    /// The partitions this run has claimed (read back in the topic) and not given up since.
    public private(set) var mine: Set<ClaimedPartition> = []
    /// The first partition of ``mine`` another member claimed since, and that member.
    public private(set) var lostTo: (partition: ClaimedPartition, member: String)?

    public init(member: String, incarnation: UInt64, owners: [ClaimedPartition: String] = [:], incarnations: [String: UInt64] = [:]) {
        self.member = member
        self.incarnation = incarnation
        self.owners = owners
        self.incarnations = incarnations
    }

    /// A claim read in the topic.
    public mutating func read(_ claim: PartitionClaim) {
        incarnations[claim.member] = claim.incarnation
        let ours = claim.member == member && claim.incarnation == incarnation
        for p in claim.partitions.map(ClaimedPartition.init) {
            owners[p] = claim.member
            if ours {
                mine.insert(p)
            } else if mine.remove(p) != nil, lostTo == nil {
                lostTo = (p, claim.member)
            }
        }
    }

    /// Partitions revoked in a rebalance (handed over in order): no longer this member's to lose.
    public mutating func release(_ partitions: some Sequence<ClaimedPartition>) { mine.subtract(partitions) }

    /// The first partition, and its owner, that makes a record of `member` with this coverage a former owner's; nil
    /// when the record counts.
    public func formerOwner(member: String, coverage: [InputPosition]) -> (partition: ClaimedPartition, owner: String)? {
        for p in coverage {
            let key = ClaimedPartition(p)
            if let owner = owners[key], owner != member { return (key, owner) }
        }
        return nil
    }

    /// Whether a record of `member` published by the run `incarnation` is an earlier run's: `member` has claimed
    /// partitions since as another run. False when the record names no run (a record of a build before the runs
    /// were named) or no claim of `member` was read.
    public func isEarlierRun(member: String, incarnation: UInt64?) -> Bool {
        guard let incarnation, let newest = incarnations[member] else { return false }
        return incarnation != newest
    }
}
