import Learning
import Persistence
import Pipelines
import Testing
import Worker

/// The records of a group's increments topic and the exchange state a checkpoint keeps: they round-trip, and a
/// record that does not fit this model is refused rather than applied.
@Suite struct IncrementsRecordTests {
    static func record(stride: Int = 3, slots: [UInt32] = [0, 1, 200, 70_000, 1 << 20], updates: UInt64 = 17) -> IncrementsRecord {
        var deltas: [Float] = []
        for (i, _) in slots.enumerated() { for f in 0..<stride { deltas.append(Float(i) * 0.25 - Float(f) * 1e-7) } }
        return IncrementsRecord(
            member: "m-1", sequence: 42, fingerprint: 0xDEAD_BEEF,
            coverage: [InputPosition(topic: "events", partition: 3, offset: 9_001), InputPosition(topic: "events", partition: 0, offset: 12)],
            increments: ModelIncrements(stride: stride, slots: slots, deltas: deltas, updates: updates),
            positives: [(Array("item-7".utf8), 1_700_000_000_123), ([], -5)])
    }

    @Test func aRecordRoundTripsBitForBit() throws {
        let r = Self.record()
        let decoded = try IncrementsRecord.decode(r.encode(), stride: 3, slots: 1 << 20)
        #expect(decoded.member == r.member && decoded.sequence == r.sequence && decoded.fingerprint == r.fingerprint)
        #expect(decoded.coverage == r.coverage.sorted())
        #expect(decoded.increments == r.increments)
        #expect(decoded == r.with(coverage: r.coverage.sorted()))
        // Ascending slots are delta-coded: a slot next to the previous one costs 1 byte besides its floats.
        let one = Self.record(slots: [5]).encode().count, two = Self.record(slots: [5, 6]).encode().count
        #expect(two - one == 1 + 12)
        #expect(Self.record(slots: [5, 6 + 200_000]).encode().count - one == 3 + 12)
    }

    /// A member skips its own records read back by their header alone: the header gives the member and sequence of
    /// every record, and nothing for bytes that are not one.
    @Test func theHeaderNamesTheMemberAndSequenceWithoutADecode() {
        let bytes = Self.record().encode()
        let header = IncrementsRecord.header(bytes)
        #expect(header?.member == "m-1" && header?.sequence == 42)
        #expect(IncrementsRecord.header(Array(bytes.prefix(16))) == nil)
        #expect(IncrementsRecord.header(Array("FLGS".utf8) + Array(bytes.dropFirst(4))) == nil)
        #expect(IncrementsRecord.header([]) == nil)
    }

    /// The reader looks at a record where it lies and copies only its first bytes for the header: the same header as
    /// from the whole record, and nil — the caller then copies the whole record — when the member id does not fit.
    @Test func theHeaderOfARecordInPlaceComesFromItsFirstBytes() {
        var many = Self.record(slots: Array(0..<2_000).map { UInt32($0 * 3) })
        let bytes = many.encode()
        #expect(bytes.count > 20 * IncrementsRecord.headerPrefixBytes)
        let inPlace = bytes.withUnsafeBytes { IncrementsRecord.header(prefixOf: $0) }
        #expect(inPlace?.member == "m-1" && inPlace?.sequence == 42)
        many.member = String(repeating: "m", count: 201)
        let long = many.encode()
        #expect(IncrementsRecord.header(long)?.member == many.member)
        #expect(long.withUnsafeBytes { IncrementsRecord.header(prefixOf: $0) } == nil)
        many.member = String(repeating: "m", count: 200)
        #expect(many.encode().withUnsafeBytes { IncrementsRecord.header(prefixOf: $0) }?.member == many.member)
        #expect(bytes.prefix(10).withUnsafeBytes { IncrementsRecord.header(prefixOf: $0) } == nil)
    }

    /// The positives close the payload as length-prefixed ids and times, written as `BinaryWriter` writes each.
    @Test func thePositivesAreWrittenAsTheFormatSays() {
        let bytes = Self.record().encode()
        var w = BinaryWriter()
        w.write(UInt64(2))
        w.write(bytes: Array("item-7".utf8))
        w.write(Int64(1_700_000_000_123))
        w.write(bytes: [])
        w.write(Int64(-5))
        #expect(Array(bytes.dropLast(4).suffix(w.bytes.count)) == w.bytes)
    }

    /// An earlier build's FTRL records carry each slot's weight too (3 floats a slot for a logistic model, where this
    /// build's carry `z` and `n`): read as this build's, without it; and a width that is neither is refused.
    @Test func aRecordOfAnEarlierBuildThatCarriesTheWeightIsReadWithoutIt() throws {
        let old = Self.record(stride: 3)
        let decoded = try IncrementsRecord.decode(old.encode(), stride: 2, slots: 1 << 20, skipped: 1)
        #expect(decoded.increments.stride == 2 && decoded.increments.slots == old.increments.slots)
        let expected = old.increments.deltas.enumerated().filter { $0.offset % 3 != 0 }.map(\.element)
        #expect(decoded.increments.deltas == expected)
        #expect(decoded.positives.count == old.positives.count && decoded.member == old.member)
        // This build's own records: 2 floats a slot.
        #expect(try IncrementsRecord.decode(Self.record(stride: 2).encode(), stride: 2, slots: 1 << 20, skipped: 1).increments
            == Self.record(stride: 2).increments)
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(old.encode(), stride: 2, slots: 1 << 20) }
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(Self.record(stride: 4).encode(), stride: 2, slots: 1 << 20, skipped: 1) }
    }

    @Test func anEmptyRecordRoundTrips() throws {
        var r = Self.record(slots: [])
        r.positives = []
        let decoded = try IncrementsRecord.decode(r.encode(), stride: 3, slots: 16)
        #expect(decoded.increments.slots.isEmpty && decoded.positives.isEmpty)
    }

    @Test func recordsThatDoNotFitThisModelAreRefused() throws {
        let r = Self.record()
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(r.encode(), stride: 2, slots: 1 << 20) }
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(r.encode(), stride: 3, slots: 1 << 19) }
        var bad = r.increments.deltas
        bad[4] = .nan
        let nonFinite = IncrementsRecord(
            member: r.member, sequence: 1, fingerprint: 0, coverage: [],
            increments: ModelIncrements(stride: 3, slots: r.increments.slots, deltas: bad, updates: 1))
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(nonFinite.encode(), stride: 3, slots: 1 << 20) }
        var truncated = r.encode()
        truncated.removeLast(9)
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(truncated, stride: 3, slots: 1 << 20) }
        var flipped = r.encode()
        flipped[flipped.count / 2] ^= 0x40
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(flipped, stride: 3, slots: 1 << 20) }
        #expect(throws: SnapshotError.self) { try IncrementsRecord.decode(Array("not a record".utf8), stride: 3, slots: 16) }
    }

    @Test func randomBytesNeverCrashTheDecoder() {
        var rng = SplitMix64(seed: 11)
        let valid = Self.record().encode()
        for _ in 0..<2_000 {
            var bytes = valid
            for _ in 0..<(1 + Int(rng.next() % 4)) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            if rng.next() % 3 == 0 { bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count)))) }
            _ = try? IncrementsRecord.decode(bytes, stride: 3, slots: 1 << 20)
        }
    }

    @Test func theExchangeStateRoundTrips() throws {
        var s = GroupSyncState()
        s.ownSequence = 7
        s.nextOffset = 1_234
        s.applied = ["m-a": 3, "m-b": 99]
        s.coverage = [InputPosition(topic: "events", partition: 1, offset: 50)]
        s.owners = [ClaimedPartition(topic: "events", partition: 1): "m-a", ClaimedPartition(topic: "events", partition: 0): "m-b"]
        s.incarnations = ["m-a": 0xFEED_0000_0000_0001, "m-b": 2]
        #expect(try GroupSyncState.decode(s.encode()) == s)
        #expect(try GroupSyncState.decode(GroupSyncState().encode()) == GroupSyncState())
        #expect(throws: SnapshotError.self) { try GroupSyncState.decode(Array(s.encode().dropLast(3))) }
        // A checkpoint of the first version (no owners) restores with none.
        var w = BinaryWriter(capacity: 256)
        let frame = w.beginFrame(magic: "FLGS", version: 1)
        w.write(UInt64(7))
        w.write(Int64(1_234))
        w.write(UInt64(1))
        w.write(string: "m-a")
        w.write(UInt64(3))
        w.write(UInt64(0))
        w.endFrame(frame)
        let old = try GroupSyncState.decode(w.bytes)
        #expect(old.ownSequence == 7 && old.nextOffset == 1_234 && old.applied == ["m-a": 3] && old.owners.isEmpty)
        // One of the second version (owners, no incarnations) restores its owners and no incarnations.
        var w2 = BinaryWriter(capacity: 256)
        let frame2 = w2.beginFrame(magic: "FLGS", version: 2)
        w2.write(UInt64(7))
        w2.write(Int64(1_234))
        w2.write(UInt64(0))
        w2.write(UInt64(0))
        w2.write(UInt64(1))
        w2.write(string: "events")
        w2.write(UInt32(1))
        w2.write(string: "m-a")
        w2.endFrame(frame2)
        let second = try GroupSyncState.decode(w2.bytes)
        #expect(second.owners == [ClaimedPartition(topic: "events", partition: 1): "m-a"] && second.incarnations.isEmpty)
    }

    @Test func aClaimRoundTripsAndIsToldFromIncrements() throws {
        let claim = PartitionClaim(
            member: "m-1", incarnation: 0xFEED_F00D_0000_0001,
            partitions: [InputPosition(topic: "events", partition: 2, offset: 10), InputPosition(topic: "events", partition: 0, offset: -1)])
        let bytes = claim.encode()
        #expect(PartitionClaim.isClaim(bytes) && !PartitionClaim.isClaim(Self.record().encode()))
        let decoded = try PartitionClaim.decode(bytes)
        #expect(decoded.member == "m-1" && decoded.incarnation == claim.incarnation)
        #expect(decoded.partitions == claim.partitions.sorted())
        #expect(IncrementsRecord.header(bytes) == nil)  // never taken for an own increments record
        #expect(throws: SnapshotError.self) { try PartitionClaim.decode(Array(bytes.dropLast(1))) }
    }
}

extension IncrementsRecord {
    func with(coverage: [InputPosition]) -> IncrementsRecord {
        var copy = self
        copy.coverage = coverage
        return copy
    }
}
