import Pipelines
import Testing

/// The claims of a group's increments topic, read in the topic's order: which records count, and when a member
/// learns that the group dropped it. In memory, the same rules every member applies to the real topic.
@Suite struct ClaimLedgerTests {
    static func p(_ partition: Int32, _ offset: Int64 = 0) -> InputPosition { InputPosition(topic: "events", partition: partition, offset: offset) }
    static func claim(_ member: String, _ incarnation: UInt64, _ partitions: Int32...) -> PartitionClaim {
        PartitionClaim(member: member, incarnation: incarnation, partitions: partitions.map { p($0) })
    }

    /// A member's records count while it owns what they cover; once another member claimed one of those partitions,
    /// its records that still cover it are a former owner's and are dropped, while a record covering only what it still
    /// owns counts. Records covering partitions nobody claimed (a topic written before claims) count.
    @Test func recordsOfAFormerOwnerAreDroppedFromTheClaimOn() {
        var ledger = ClaimLedger(member: "b", incarnation: 2)
        #expect(ledger.formerOwner(member: "a", coverage: [Self.p(0, 50), Self.p(1, 70)]) == nil)
        ledger.read(Self.claim("a", 1, 0, 1))
        #expect(ledger.formerOwner(member: "a", coverage: [Self.p(0, 90), Self.p(1, 80)]) == nil)
        ledger.read(Self.claim("b", 2, 1))
        let former = ledger.formerOwner(member: "a", coverage: [Self.p(0, 95), Self.p(1, 85)])
        #expect(former?.partition == ClaimedPartition(topic: "events", partition: 1) && former?.owner == "b")
        #expect(ledger.formerOwner(member: "a", coverage: [Self.p(0, 99)]) == nil)
        #expect(ledger.formerOwner(member: "b", coverage: [Self.p(1, 99)]) == nil)
        #expect(ledger.formerOwner(member: "c", coverage: [Self.p(7, 1)]) == nil)
        // The owners travel in the checkpoint: a restarted member decides alike.
        let restored = ClaimLedger(member: "a", incarnation: 9, owners: ledger.owners)
        #expect(restored.formerOwner(member: "a", coverage: [Self.p(1, 85)])?.owner == "b")
    }

    /// A member learns it was dropped when another member claims a partition this run claimed and still holds —
    /// not from claims read before its own (history), not from its own earlier run's claims (a restart under the
    /// same id), and not after it gave the partition up in a rebalance.
    @Test func aClaimOfThisRunsPartitionByAnotherMemberMeansTheGroupDroppedIt() {
        var ledger = ClaimLedger(member: "a", incarnation: 5)
        ledger.read(Self.claim("b", 1, 0, 1))  // history
        ledger.read(Self.claim("a", 4, 2))  // an earlier run of "a"
        ledger.read(Self.claim("b", 1, 2))
        #expect(ledger.lostTo == nil && ledger.mine.isEmpty)
        ledger.read(Self.claim("a", 5, 0, 1, 2))
        #expect(ledger.mine.count == 3 && ledger.lostTo == nil)
        ledger.release([ClaimedPartition(topic: "events", partition: 2)])
        ledger.read(Self.claim("c", 1, 2))  // handed over in a rebalance: no loss
        #expect(ledger.lostTo == nil)
        ledger.read(Self.claim("b", 1, 1))
        #expect(ledger.lostTo?.partition == ClaimedPartition(topic: "events", partition: 1) && ledger.lostTo?.member == "b")
        ledger.read(Self.claim("c", 1, 0))  // the first loss is the one reported
        #expect(ledger.lostTo?.member == "b" && ledger.mine.isEmpty)
    }

    /// A record in flight when its member's run stopped (`kill -9`) may land after the member's next run claimed its
    /// partitions and read the topic to its end; that run learns those events again and publishes the same sequence
    /// number. Every member drops the earlier run's record from the new run's claim on — and only then: before it,
    /// the earlier run's records count, and a record that names no run (a build before the runs were named) is
    /// judged as before. The incarnations travel in the checkpoint, so a restarted reader decides alike.
    @Test func aRecordOfAnEarlierRunThatLandsAfterTheNextRunsClaimIsDropped() {
        var ledger = ClaimLedger(member: "b", incarnation: 2)
        #expect(!ledger.isEarlierRun(member: "a", incarnation: 1))  // no claim of "a" read: nothing to judge by
        ledger.read(Self.claim("a", 1, 0, 1))
        #expect(!ledger.isEarlierRun(member: "a", incarnation: 1))
        ledger.read(Self.claim("a", 3, 0, 1))  // "a" restarted
        #expect(ledger.isEarlierRun(member: "a", incarnation: 1))
        #expect(!ledger.isEarlierRun(member: "a", incarnation: 3))
        #expect(!ledger.isEarlierRun(member: "a", incarnation: nil))
        #expect(!ledger.isEarlierRun(member: "c", incarnation: 1))
        // The member itself judges its own earlier run's records alike.
        var a = ClaimLedger(member: "a", incarnation: 3)
        a.read(Self.claim("a", 1, 0, 1))
        a.read(Self.claim("a", 3, 0, 1))
        #expect(a.isEarlierRun(member: "a", incarnation: 1) && a.lostTo == nil)
        let restored = ClaimLedger(member: "c", incarnation: 8, owners: ledger.owners, incarnations: ledger.incarnations)
        #expect(restored.isEarlierRun(member: "a", incarnation: 1))
    }
}
