// MARK: - BinaryReader

/// Reads what `BinaryWriter` wrote. Every read checks the remaining length first and throws
/// `SnapshotError.truncated` instead of reading past the end; length prefixes are checked against the remaining bytes
/// before anything is allocated.
public struct BinaryReader: Sendable {
    /// All bytes being read.
    public let bytes: [UInt8]
    /// Position of the next read.
    public private(set) var offset: Int

    /// Bytes of a frame header: magic (4) + version (4) + payload length (8).
    public static let frameHeaderSize = 16

    /// Creates a reader positioned at the first byte.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    /// Bytes not read yet.
    public var remaining: Int { bytes.count - offset }
    /// True when every byte has been read.
    public var isAtEnd: Bool { offset == bytes.count }

    // MARK: Scalars

    /// Reads one byte.
    public mutating func readUInt8() throws(SnapshotError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a Bool written as one byte; any value other than 0 or 1 is `invalid`.
    public mutating func readBool() throws(SnapshotError) -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let b: throw .invalid("boolean byte \(b)")
        }
    }

    /// Reads a little-endian UInt32.
    public mutating func readUInt32() throws(SnapshotError) -> UInt32 { UInt32(littleEndian: try readRaw()) }
    /// Reads a little-endian UInt64.
    public mutating func readUInt64() throws(SnapshotError) -> UInt64 { UInt64(littleEndian: try readRaw()) }
    /// Reads a little-endian Int64.
    public mutating func readInt64() throws(SnapshotError) -> Int64 { Int64(littleEndian: try readRaw()) }
    /// Reads a Double's bit pattern.
    public mutating func readDouble() throws(SnapshotError) -> Double { Double(bitPattern: try readUInt64()) }
    /// Reads a Float's bit pattern.
    public mutating func readFloat() throws(SnapshotError) -> Float { Float(bitPattern: try readUInt32()) }

    // MARK: Sequences

    /// Reads a `UInt64` count and that many floats (as written by `write(floats:)`).
    public mutating func readFloats() throws(SnapshotError) -> [Float] {
        let count = try readCount(elementSize: 4)
        let start = offset
        offset += count * 4
        #if _endian(little)
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            bytes.withUnsafeBytes { raw in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(
                    from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + count * 4)]))
            }
            initialized = count
        }
        #else
        var result = [Float]()
        result.reserveCapacity(count)
        var o = start
        for _ in 0..<count {
            var bits: UInt32 = 0
            for b in 0..<4 { bits |= UInt32(bytes[o + b]) << (8 * b) }
            result.append(Float(bitPattern: bits))
            o += 4
        }
        return result
        #endif
    }

    /// Reads a `UInt64` byte count and that many bytes of UTF-8; invalid UTF-8 is `invalid`.
    public mutating func readString() throws(SnapshotError) -> String {
        let count = try readCount(elementSize: 1)
        let slice = bytes[offset..<(offset + count)]
        offset += count
        let s = String(decoding: slice, as: UTF8.self)
        guard s.utf8.elementsEqual(slice) else { throw .invalid("string is not valid UTF-8") }  // decoding repaired it
        return s
    }

    /// Reads a `UInt64` count and that many bytes (as written by `write(bytes:)`).
    public mutating func readBytes() throws(SnapshotError) -> [UInt8] {
        let count = try readCount(elementSize: 1)
        return try readRaw(count: count)
    }

    /// Reads a length-prefixed byte run as ``readBytes()`` does, appending it to `run` (no array of its own).
    public mutating func readBytes(appendingTo run: inout [UInt8]) throws(SnapshotError) {
        let count = try readCount(elementSize: 1)
        run.append(contentsOf: bytes[offset..<(offset + count)])
        offset += count
    }

    /// Reads `count` bytes with no length prefix.
    public mutating func readRaw(count: Int) throws(SnapshotError) -> [UInt8] {
        guard count >= 0, remaining >= count else { throw .truncated }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    // MARK: Frames

    /// An opened, checksum-verified frame.
    public struct Frame: Sendable {
        /// The frame's format version.
        public let version: UInt32
        /// Offset one past the payload (where the CRC starts).
        public let payloadEnd: Int
    }

    /// Opens a frame written by `BinaryWriter.beginFrame/endFrame`: checks the magic (`badMagic`), the version
    /// (`unsupportedVersion` unless in `versions`), the length (`truncated`) and the CRC-32C (`checksumMismatch`)
    /// before any payload byte is interpreted, then leaves the reader at the payload's first byte.
    public mutating func openFrame(magic: String, versions: ClosedRange<UInt32>) throws(SnapshotError) -> Frame {
        let start = offset
        let expected = Array(magic.utf8)
        guard remaining >= 4 else { throw .truncated }
        guard Array(bytes[offset..<(offset + 4)]) == expected else { throw .badMagic }
        offset += 4
        let version = try readUInt32()
        guard versions.contains(version) else { throw .unsupportedVersion(version) }
        let length = try readUInt64()
        guard length <= UInt64(remaining), remaining - Int(length) >= 4 else { throw .truncated }
        let payloadEnd = offset + Int(length)
        let computed = bytes.withUnsafeBytes { all in
            Checksum.crc32c(UnsafeRawBufferPointer(rebasing: all[start..<payloadEnd]))
        }
        var crcReader = BinaryReader(bytes)
        crcReader.offset = payloadEnd
        let stored = try crcReader.readUInt32()
        guard stored == computed else { throw .checksumMismatch }
        return Frame(version: version, payloadEnd: payloadEnd)
    }

    /// Closes `frame`: the payload must have been read exactly (else `invalid`); skips the CRC.
    public mutating func closeFrame(_ frame: Frame) throws(SnapshotError) {
        guard offset == frame.payloadEnd else {
            throw .invalid("frame payload has \(frame.payloadEnd - offset) unread bytes")
        }
        offset += 4
    }

    // MARK: Private

    private mutating func readRaw<T: FixedWidthInteger>() throws(SnapshotError) -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw .truncated }
        let start = offset
        offset += size
        return bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: start, as: T.self) }
    }

    /// Reads a `UInt64` element count and checks that `count · elementSize` bytes remain.
    private mutating func readCount(elementSize: Int) throws(SnapshotError) -> Int {
        let count = try readUInt64()
        guard count <= UInt64(remaining / elementSize) else { throw .truncated }
        return Int(count)
    }
}
