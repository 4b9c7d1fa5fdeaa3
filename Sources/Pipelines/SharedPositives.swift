import Persistence

/// Positive feedback (item id, event time) in the order it was counted, for the candidate pools of a group's other
/// members (``IncrementsRecord/positives``). Held end to end — every id's bytes in one array, where each id ends, and
/// the times — so that counting one, handing them over and encoding them allocates per exchange, not per positive.
public struct SharedPositives: Equatable, Sendable, RandomAccessCollection, ExpressibleByArrayLiteral {
    /// Every id's bytes, one after the other.
    public private(set) var idBytes: [UInt8] = []
    /// Where each id ends in `idBytes` (the next one starts there).
    public private(set) var ends: [Int] = []
    /// Each positive's event time.
    public private(set) var timestamps: [Int64] = []

    public init() {}

    public init(arrayLiteral elements: (id: [UInt8], timestamp: Int64)...) {
        for e in elements { append(id: e.id, timestamp: e.timestamp) }
    }

    /// Room for `count` positives with `bytes` bytes of ids before any array grows.
    public mutating func reserveCapacity(_ count: Int, idBytes bytes: Int) {
        idBytes.reserveCapacity(bytes)
        ends.reserveCapacity(count)
        timestamps.reserveCapacity(count)
    }

    /// Positives and id bytes the arrays have room for.
    var capacity: Int { Swift.min(ends.capacity, timestamps.capacity) }
    var idByteCapacity: Int { idBytes.capacity }

    public mutating func append(id: some Collection<UInt8>, timestamp: Int64) {
        idBytes.append(contentsOf: id)
        ends.append(idBytes.count)
        timestamps.append(timestamp)
    }

    /// ``append(id:timestamp:)`` of an id in an event's bytes (the pipeline's step): one copy, as typed bytes.
    @inline(__always)
    public mutating func append(id: UnsafeRawBufferPointer, timestamp: Int64) {
        if let base = id.baseAddress {
            idBytes.append(contentsOf: UnsafeBufferPointer(start: base.assumingMemoryBound(to: UInt8.self), count: id.count))
        }
        ends.append(idBytes.count)
        timestamps.append(timestamp)
    }

    /// Appends a positive whose id `BinaryReader` reads next (length-prefixed) and then its time.
    mutating func append(reading r: inout BinaryReader) throws(SnapshotError) {
        try r.readBytes(appendingTo: &idBytes)
        ends.append(idBytes.count)
        timestamps.append(try r.readInt64())
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { ends.count }

    public subscript(i: Int) -> (id: ArraySlice<UInt8>, timestamp: Int64) {
        (idBytes[(i == 0 ? 0 : ends[i &- 1])..<ends[i]], timestamps[i])
    }

    /// Bytes of their encoding in a record: a count, then a length-prefixed id and a time each.
    var encodedByteCount: Int { 8 &+ 16 &* ends.count &+ idBytes.count }

    /// Writes what ``encodedByteCount`` counts to `out`: the `UInt64` count, then per positive the `UInt64` length of
    /// its id, the id and the `Int64` time, little-endian (as `BinaryWriter`'s `write(bytes:)` and `write(_:)` would).
    func write(to out: UnsafeMutableRawPointer) {
        idBytes.withUnsafeBytes { ids in
            var out = out
            out.storeBytes(of: UInt64(ends.count).littleEndian, as: UInt64.self)
            out += 8
            var from = 0
            for i in 0..<ends.count {
                let end = ends[i]
                out.storeBytes(of: UInt64(end &- from).littleEndian, as: UInt64.self)
                out += 8
                if end > from { out.copyMemory(from: ids.baseAddress! + from, byteCount: end &- from) }
                out += end &- from
                out.storeBytes(of: timestamps[i].littleEndian, as: Int64.self)
                out += 8
                from = end
            }
        }
    }
}
