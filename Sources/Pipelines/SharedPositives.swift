import Persistence

/// Positive feedback (item id, event time) in the order it was counted, for the candidate pools of a group's other
/// members (``IncrementsRecord/positives``). Held as a record carries them, one after the other in one array — so
/// that counting one is one append, and handing them over and encoding them allocates per exchange, not per
/// positive.
public struct SharedPositives: Equatable, Sendable, Collection, ExpressibleByArrayLiteral {
    /// Each positive as a record writes it: the `UInt64` length of its id, the id, its `Int64` event time
    /// (little-endian), and the next one after it.
    public private(set) var encoded: [UInt8] = []
    /// Positives in `encoded`.
    public private(set) var count = 0

    public init() {}

    public init(arrayLiteral elements: (id: [UInt8], timestamp: Int64)...) {
        for e in elements { e.id.withUnsafeBytes { append(id: $0, timestamp: e.timestamp) } }
    }

    /// Room for `bytes` bytes of positives (16 each and their ids) before the array grows.
    public mutating func reserveCapacity(bytes: Int) { encoded.reserveCapacity(bytes) }

    /// Bytes the array has room for.
    var byteCapacity: Int { encoded.capacity }

    /// Appends the positive of an id (an event's bytes) at event time `timestamp`: one append of its 16 + n bytes,
    /// put together on the stack for an id of up to 240 bytes. Out of line: the step's code stays as it is without sync.
    @inline(never)
    public mutating func append(id: UnsafeRawBufferPointer, timestamp: Int64) {
        let n = id.count
        if n <= 240 {
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 256) { entry in
                let raw = UnsafeMutableRawPointer(entry.baseAddress!)
                raw.storeBytes(of: UInt64(n).littleEndian, as: UInt64.self)
                if n > 0 { (raw + 8).copyMemory(from: id.baseAddress!, byteCount: n) }
                raw.storeBytes(of: timestamp.littleEndian, toByteOffset: 8 &+ n, as: Int64.self)
                encoded.append(contentsOf: UnsafeBufferPointer(rebasing: entry[0..<(n &+ 16)]))
            }
        } else {
            withUnsafeBytes(of: UInt64(n).littleEndian) { encoded.append(contentsOf: $0) }
            encoded.append(contentsOf: id)
            withUnsafeBytes(of: timestamp.littleEndian) { encoded.append(contentsOf: $0) }
        }
        count &+= 1
    }

    /// Appends a positive whose id `BinaryReader` reads next (length-prefixed) and then its time.
    mutating func append(reading r: inout BinaryReader) throws(SnapshotError) {
        let start = encoded.count
        encoded.append(contentsOf: repeatElement(0, count: 8))
        try r.readBytes(appendingTo: &encoded)
        let n = UInt64(encoded.count &- start &- 8).littleEndian
        withUnsafeBytes(of: n) { for i in 0..<8 { encoded[start &+ i] = $0[i] } }
        let timestamp = try r.readInt64()
        withUnsafeBytes(of: timestamp.littleEndian) { encoded.append(contentsOf: $0) }
        count &+= 1
    }

    // A forward collection over the positives; an index is where a positive starts in `encoded`.
    public var startIndex: Int { 0 }
    public var endIndex: Int { encoded.count }
    public var isEmpty: Bool { count == 0 }

    private func idLength(at i: Int) -> Int {
        Int(UInt64(littleEndian: encoded.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i, as: UInt64.self) }))
    }

    public func index(after i: Int) -> Int { i &+ 16 &+ idLength(at: i) }

    public subscript(i: Int) -> (id: ArraySlice<UInt8>, timestamp: Int64) {
        let n = idLength(at: i)
        let time = encoded.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: i &+ 8 &+ n, as: Int64.self) }
        return (encoded[(i &+ 8)..<(i &+ 8 &+ n)], Int64(littleEndian: time))
    }

    /// Bytes of their encoding in a record: a count, then the positives as `encoded` holds them.
    var encodedByteCount: Int { 8 &+ encoded.count }

    /// Writes what ``encodedByteCount`` counts to `out`: the `UInt64` count, then per positive the `UInt64` length
    /// of its id, the id and the `Int64` time, little-endian (as `BinaryWriter`'s `write(bytes:)` and `write(_:)`
    /// would).
    func write(to out: UnsafeMutableRawPointer) {
        out.storeBytes(of: UInt64(count).littleEndian, as: UInt64.self)
        encoded.withUnsafeBytes { if let e = $0.baseAddress { (out + 8).copyMemory(from: e, byteCount: $0.count) } }
    }
}
