import Persistence

/// A record of a group's increments topic by which a member takes input partitions over: written by every member
/// with `sync:` at each assignment, before it reads the topic to its end and learns. From its place in the topic on,
/// the claimant owns those partitions for every reader alike, and an increments record of another member that covers
/// one of them (its coverage names the partition) is dropped by every member — it is the learning of a member the
/// group no longer counts as the partition's owner (its session expired before it knew), whose events the claimant
/// learns again from the last commit. The topic's one partition puts claims and records in one order, so every
/// reader drops the same records (docs/scaling-out.md, "Claims").
///
/// Layout (little-endian, in a checksummed `FLCL` frame, version 1): member id, the claimant's incarnation (a
/// random number per run of its loop: a member restarted under the same id reads its earlier claims as history, not
/// as its own, and every reader drops a record of that member's earlier runs read after the claim), then the
/// partitions as input positions (topic, partition, the offset the claimant starts from; the offsets are
/// informative).
public struct PartitionClaim: Equatable, Sendable {
    public var member: String
    public var incarnation: UInt64
    public var partitions: [InputPosition]

    public init(member: String, incarnation: UInt64, partitions: [InputPosition]) {
        self.member = member
        self.incarnation = incarnation
        self.partitions = partitions
    }

    static let magic = "FLCL"
    static let version: UInt32 = 1

    public func encode() -> [UInt8] {
        var w = BinaryWriter(capacity: 64 + 32 * partitions.count)
        let frame = w.beginFrame(magic: Self.magic, version: Self.version)
        w.write(string: member)
        w.write(incarnation)
        w.write(positions: partitions)
        w.endFrame(frame)
        return w.bytes
    }

    /// Whether `bytes` start as a claim does (its magic); a record of the topic is either a claim or increments.
    public static func isClaim(_ bytes: [UInt8]) -> Bool { bytes.starts(with: magic.utf8) }

    public static func decode(_ bytes: [UInt8]) throws(SnapshotError) -> PartitionClaim {
        var r = BinaryReader(bytes)
        let frame = try r.openFrame(magic: magic, versions: 1...version)
        let member = try r.readString()
        let incarnation = try r.readUInt64()
        let partitions = try r.readPositions()
        try r.closeFrame(frame)
        return PartitionClaim(member: member, incarnation: incarnation, partitions: partitions)
    }
}

/// An input partition as claims and owners name it.
public struct ClaimedPartition: Hashable, Sendable, Comparable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public init(_ p: InputPosition) { self.init(topic: p.topic, partition: p.partition) }

    public static func < (a: ClaimedPartition, b: ClaimedPartition) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
}
