import Learning
import Persistence

/// One record of a group's increments topic: what one member's replica learned since its previous record.
///
/// Layout (little-endian, in a checksummed `FLIN` frame, version 1): member id, sequence number (1, 2, … per
/// member), the pipeline's state fingerprint (increments of another definition are refused), the coverage — the
/// next offset of every input partition the member owned, all of whose events' learning the member's records up to
/// this one hold — the model layout (floats per slot, slot count), the update count, the touched slots (ascending,
/// delta-coded as LEB128 varints), `stride` floats per slot, and the positive feedback counted (item id, event
/// time) for the other members' candidate pools.
public struct IncrementsRecord: Equatable, Sendable {
    public var member: String
    public var sequence: UInt64
    public var fingerprint: UInt32
    public var coverage: [InputPosition]
    public var increments: ModelIncrements
    public var positives: SharedPositives = []

    public init(
        member: String, sequence: UInt64, fingerprint: UInt32, coverage: [InputPosition], increments: ModelIncrements,
        positives: SharedPositives = []
    ) {
        self.member = member
        self.sequence = sequence
        self.fingerprint = fingerprint
        self.coverage = coverage
        self.increments = increments
        self.positives = positives
    }

    public static func == (a: IncrementsRecord, b: IncrementsRecord) -> Bool {
        a.member == b.member && a.sequence == b.sequence && a.fingerprint == b.fingerprint && a.coverage == b.coverage
            && a.increments == b.increments && a.positives == b.positives
    }

    static let magic = "FLIN"
    static let version: UInt32 = 1

    public func encode() -> [UInt8] {
        increments.slots.withUnsafeBufferPointer { slots in
            Self.encode(
                member: member, sequence: sequence, fingerprint: fingerprint, coverage: coverage, stride: increments.stride,
                updates: increments.updates, slots: slots, positives: positives
            ) { out in
                #if _endian(little)
                increments.deltas.withUnsafeBytes { if let d = $0.baseAddress { out.copyMemory(from: d, byteCount: $0.count) } }
                #else
                for (i, d) in increments.deltas.enumerated() { out.storeBytes(of: d.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                #endif
            }
        }
    }

    /// The bytes of `IncrementsRecord(…, increments: pipeline.takeModelIncrements(), positives: positives).encode()`,
    /// taking the increments: the model's differences are written straight into the record, with no array of their
    /// own nor a copy of it.
    public static func encode(
        member: String, sequence: UInt64, fingerprint: UInt32, coverage: [InputPosition], positives: SharedPositives,
        takingIncrementsOf pipeline: inout Pipeline
    ) -> [UInt8] {
        let stride = pipeline.model.incrementLayout.stride
        return pipeline.model.takeIncrements { slots, updates, writeDeltas in
            encode(
                member: member, sequence: sequence, fingerprint: fingerprint, coverage: coverage, stride: stride,
                updates: updates, slots: slots, positives: positives, deltas: writeDeltas)
        }
    }

    /// Both encodings' one writer: the frame's header and the fields before the slots through a `BinaryWriter`, the
    /// rest (at most 5 bytes a slot, `stride` floats each, the positives, the checksum) into one array made to measure
    /// and written in place — `deltas` writes the floats where it is told.
    static func encode(
        member: String, sequence: UInt64, fingerprint: UInt32, coverage: [InputPosition], stride: Int, updates: UInt64,
        slots: UnsafeBufferPointer<UInt32>, positives: SharedPositives, deltas writeDeltas: (UnsafeMutableRawPointer) -> Void
    ) -> [UInt8] {
        var head = BinaryWriter(capacity: 128)
        _ = head.beginFrame(magic: Self.magic, version: Self.version)
        head.write(string: member)
        head.write(sequence)
        head.write(fingerprint)
        head.write(positions: coverage)
        head.write(UInt64(stride))
        head.write(updates)
        head.write(UInt64(slots.count))
        let n = slots.count
        let capacity = head.bytes.count + 5 * n + 4 * stride * n + positives.encodedByteCount + 4
        return [UInt8](unsafeUninitializedCapacity: capacity) { buffer, count in
            let out = buffer.baseAddress!, raw = UnsafeMutableRawPointer(out)
            head.bytes.withUnsafeBytes { raw.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            var end = head.bytes.count
            // The slots, ascending, delta-coded as LEB128 varints.
            var previous: UInt32 = 0
            for slot in slots {
                var gap = slot &- previous
                previous = slot
                while gap >= 0x80 {
                    out[end] = UInt8(truncatingIfNeeded: gap & 0x7f | 0x80)
                    end &+= 1
                    gap >>= 7
                }
                out[end] = UInt8(truncatingIfNeeded: gap)
                end &+= 1
            }
            writeDeltas(raw + end)
            end &+= 4 &* stride &* n
            positives.write(to: raw + end)
            end &+= positives.encodedByteCount
            // The frame (it starts at 0): the payload's length after its header, then the CRC-32C of all of it, as
            // `BinaryWriter.endFrame` writes them.
            let payloadStart = BinaryReader.frameHeaderSize
            (raw + payloadStart - 8).storeBytes(of: UInt64(end - payloadStart).littleEndian, as: UInt64.self)
            let crc = Checksum.crc32c(UnsafeRawBufferPointer(start: raw, count: end))
            (raw + end).storeBytes(of: crc.littleEndian, as: UInt32.self)
            count = end + 4
        }
    }

    /// The member and sequence number of an encoded record, read from its header without checking the frame's
    /// checksum or decoding the rest: a member reading the topic skips its own records (those its replica already
    /// holds) by this, at the cost of a few bytes instead of a full decode. Nil when the header is not a record's.
    public static func header(_ bytes: [UInt8]) -> (member: String, sequence: UInt64)? {
        guard bytes.count > BinaryReader.frameHeaderSize, bytes.starts(with: magic.utf8) else { return nil }
        var r = BinaryReader(bytes)
        guard (try? r.readRaw(count: BinaryReader.frameHeaderSize)) != nil,
              let member = try? r.readString(), let sequence = try? r.readUInt64() else { return nil }
        return (member, sequence)
    }

    /// ``header(_:)`` of a record read in place, from a copy of its first bytes only (nil also when the member id is
    /// too long for them, and the caller then reads the whole record).
    public static func header(prefixOf raw: UnsafeRawBufferPointer) -> (member: String, sequence: UInt64)? {
        header(Array(UnsafeRawBufferPointer(rebasing: raw.prefix(headerPrefixBytes))))
    }

    /// Enough bytes for the header of a record whose member id has up to 200 bytes.
    public static let headerPrefixBytes = BinaryReader.frameHeaderSize + 8 + 200 + 8

    /// Decodes a record and checks it against this model: `stride` floats per slot, slots below `slots` + 1 (the
    /// bias slot), ascending.
    /// Decodes a record of increments of `stride` floats per slot (``Model/incrementLayout``). A record of an earlier
    /// build, whose slots also carry the `skipped` leading floats this build leaves out (``Model/incrementSkippedFloats``:
    /// FTRL's weight), is read too, without them: a replica restarted on this build adds the records published
    /// before.
    public static func decode(_ bytes: [UInt8], stride: Int, slots: Int, skipped: Int = 0) throws(SnapshotError) -> IncrementsRecord {
        var r = BinaryReader(bytes)
        let frame = try r.openFrame(magic: magic, versions: 1...version)
        let member = try r.readString()
        let sequence = try r.readUInt64()
        let fingerprint = try r.readUInt32()
        let coverage = try r.readPositions()
        let recordStride = try r.readUInt64()
        guard recordStride == UInt64(stride) || (skipped > 0 && recordStride == UInt64(stride + skipped)) else {
            throw .invalid("increments of \(recordStride) floats per slot, the model has \(stride)")
        }
        let leading = Int(recordStride) - stride  // floats of each slot read and left out
        let updates = try r.readUInt64()
        let count = try r.readUInt64()
        guard count <= UInt64(slots + 1), count <= UInt64(r.remaining) else { throw .invalid("\(count) slots") }
        var indices: [UInt32] = []
        indices.reserveCapacity(Int(count))
        var slot: UInt64 = 0
        for i in 0..<Int(count) {
            var gap: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                let b = try r.readUInt8()
                gap |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { break }
                shift += 7
                guard shift < 35 else { throw .invalid("slot gap too long") }
            }
            guard i == 0 || gap > 0 else { throw .invalid("slots not ascending") }
            slot += gap
            guard slot <= UInt64(slots) else { throw .invalid("slot \(slot) outside the model (\(slots) slots)") }
            indices.append(UInt32(slot))
        }
        let floats = Int(count) * stride, recordFloats = Int(count) * Int(recordStride)
        guard r.remaining >= recordFloats * 4 else { throw .invalid("truncated increments") }
        let raw = try r.readRaw(count: recordFloats * 4)
        let deltas = [Float](unsafeUninitializedCapacity: floats) { out, count in
            raw.withUnsafeBytes { b in
                for i in 0..<floats {
                    let at = leading == 0 ? i : (i / stride) * (stride + leading) + leading + i % stride
                    out[i] = Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: at * 4, as: UInt32.self)))
                }
            }
            count = floats
        }
        guard deltas.allSatisfy(\.isFinite) else { throw .invalid("a non-finite increment") }
        let positiveCount = try r.readUInt64()
        guard positiveCount <= UInt64(r.remaining) else { throw .invalid("\(positiveCount) positives") }
        var positives = SharedPositives()
        for _ in 0..<positiveCount { try positives.append(reading: &r) }
        try r.closeFrame(frame)
        return IncrementsRecord(
            member: member, sequence: sequence, fingerprint: fingerprint, coverage: coverage,
            increments: ModelIncrements(stride: stride, slots: indices, deltas: deltas, updates: updates), positives: positives)
    }
}

/// What a member of a group keeps of the exchange with its checkpoint (``Pipeline/groupState``), so that a restart
/// neither applies an increment twice nor publishes one twice.
public struct GroupSyncState: Equatable, Sendable {
    /// The sequence number of this member's newest record included in the checkpoint's model.
    public var ownSequence: UInt64 = 0
    /// The next offset to read of the increments topic: every record before it is in the model (or was refused).
    public var nextOffset: Int64 = 0
    /// Per other member, the sequence number of its newest record applied.
    public var applied: [String: UInt64] = [:]
    /// Per input partition, the greatest coverage any member's record announced: events before it are learned.
    public var coverage: [InputPosition] = []
    /// Per input partition, the member of the newest claim read (``PartitionClaim``): another member's record that
    /// covers the partition is dropped.
    public var owners: [ClaimedPartition: String] = [:]
    /// Per member, the incarnation of its newest claim read: a record of that member from another run is dropped
    /// (``ClaimLedger/isEarlierRun(member:incarnation:)``).
    public var incarnations: [String: UInt64] = [:]

    public init() {}

    static let magic = "FLGS"
    /// 3: with the members' incarnations (2: with the owners; 1: without either, read as none).
    static let version: UInt32 = 3

    public func encode() -> [UInt8] {
        var w = BinaryWriter(capacity: 256)
        let frame = w.beginFrame(magic: Self.magic, version: Self.version)
        w.write(ownSequence)
        w.write(nextOffset)
        w.write(UInt64(applied.count))
        for (member, sequence) in applied.sorted(by: { $0.key < $1.key }) {
            w.write(string: member)
            w.write(sequence)
        }
        w.write(positions: coverage)
        w.write(UInt64(owners.count))
        for (partition, member) in owners.sorted(by: { $0.key < $1.key }) {
            w.write(string: partition.topic)
            w.write(UInt32(bitPattern: partition.partition))
            w.write(string: member)
        }
        w.write(UInt64(incarnations.count))
        for (member, incarnation) in incarnations.sorted(by: { $0.key < $1.key }) {
            w.write(string: member)
            w.write(incarnation)
        }
        w.endFrame(frame)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(SnapshotError) -> GroupSyncState {
        var r = BinaryReader(bytes)
        let frame = try r.openFrame(magic: magic, versions: 1...version)
        var s = GroupSyncState()
        s.ownSequence = try r.readUInt64()
        s.nextOffset = try r.readInt64()
        let members = try r.readUInt64()
        guard members <= 1 << 20 else { throw .invalid("\(members) members") }
        for _ in 0..<members { s.applied[try r.readString()] = try r.readUInt64() }
        s.coverage = try r.readPositions()
        if frame.version >= 2 {
            let owners = try r.readUInt64()
            guard owners <= 1 << 16 else { throw .invalid("\(owners) owners") }
            for _ in 0..<owners {
                let topic = try r.readString()
                let partition = Int32(bitPattern: try r.readUInt32())
                s.owners[ClaimedPartition(topic: topic, partition: partition)] = try r.readString()
            }
        }
        if frame.version >= 3 {
            let members = try r.readUInt64()
            guard members <= 1 << 20 else { throw .invalid("\(members) incarnations") }
            for _ in 0..<members { s.incarnations[try r.readString()] = try r.readUInt64() }
        }
        try r.closeFrame(frame)
        return s
    }
}

/// Input positions (a coverage) as both encodings write them: a count, then topic, partition and offset each, sorted.
extension BinaryWriter {
    mutating func write(positions: [InputPosition]) {
        write(UInt64(positions.count))
        for p in positions.sorted() {
            write(string: p.topic)
            write(UInt32(bitPattern: p.partition))
            write(p.offset)
        }
    }
}

extension BinaryReader {
    mutating func readPositions() throws(SnapshotError) -> [InputPosition] {
        let n = try readUInt64()
        guard n <= 1 << 16 else { throw .invalid("\(n) input positions") }
        var positions: [InputPosition] = []
        for _ in 0..<n {
            positions.append(InputPosition(topic: try readString(), partition: Int32(bitPattern: try readUInt32()), offset: try readInt64()))
        }
        return positions
    }
}
