// MARK: - BinaryWriter

/// Appends little-endian binary values to a byte array. Arrays, strings and byte runs are length-prefixed with a
/// `UInt64` count, so `BinaryReader` reads back exactly what was written.
///
/// Frames (`beginFrame`/`endFrame`) make a self-checking section: magic, format version, payload length, payload,
/// CRC-32C over all of it. Model snapshots are one frame; a checkpoint can hold several.
public struct BinaryWriter: Sendable {
    /// The bytes written so far.
    public var bytes: [UInt8]

    /// Creates an empty writer.
    public init() { bytes = [] }

    /// Creates an empty writer with room for `capacity` bytes.
    public init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    // MARK: Scalars

    /// Writes one byte.
    public mutating func write(_ v: UInt8) { bytes.append(v) }
    /// Writes a Bool as one byte (0 or 1).
    public mutating func write(_ v: Bool) { bytes.append(v ? 1 : 0) }
    /// Writes 4 bytes, little-endian.
    public mutating func write(_ v: UInt32) { appendRaw(v.littleEndian) }
    /// Writes 8 bytes, little-endian.
    public mutating func write(_ v: UInt64) { appendRaw(v.littleEndian) }
    /// Writes 8 bytes, little-endian two's complement.
    public mutating func write(_ v: Int64) { appendRaw(v.littleEndian) }
    /// Writes the 8-byte IEEE 754 bit pattern, little-endian (exact: NaN payloads and −0 survive).
    public mutating func write(_ v: Double) { appendRaw(v.bitPattern.littleEndian) }
    /// Writes the 4-byte IEEE 754 bit pattern, little-endian (exact).
    public mutating func write(_ v: Float) { appendRaw(v.bitPattern.littleEndian) }

    // MARK: Sequences

    /// Writes a `UInt64` count, then every float's 4-byte bit pattern, little-endian (bulk copy on little-endian hosts).
    public mutating func write(floats: [Float]) {
        write(UInt64(floats.count))
        #if _endian(little)
        floats.withUnsafeBytes { bytes.append(contentsOf: $0) }
        #else
        for f in floats { write(f) }
        #endif
    }

    /// Writes a `UInt64` byte count, then the string's UTF-8 bytes.
    public mutating func write(string: String) {
        var s = string
        s.withUTF8 { utf8 in
            write(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// Writes a `UInt64` count, then the bytes.
    public mutating func write(bytes run: [UInt8]) {
        write(UInt64(run.count))
        bytes.append(contentsOf: run)
    }

    /// Writes a `UInt64` count, then the floats of `run` (no intermediate array), as ``write(floats:)`` does.
    public mutating func write(floatCount count: Int, _ appendFloats: (inout BinaryWriter) -> Void) {
        write(UInt64(count))
        let start = bytes.count
        appendFloats(&self)
        precondition(bytes.count - start == count * 4, "BinaryWriter: \(count) floats announced, \((bytes.count - start) / 4) written")
    }

    /// Appends the floats' 4-byte bit patterns, little-endian, with no count (inside ``write(floatCount:_:)``).
    public mutating func appendFloats(_ run: UnsafeBufferPointer<Float>) {
        #if _endian(little)
        bytes.append(contentsOf: UnsafeRawBufferPointer(run))
        #else
        for f in run { write(f) }
        #endif
    }

    /// Writes a length-prefixed byte run in place, as ``write(bytes:)`` encodes it, without building the run first:
    /// `body` appends the run's bytes, then the `UInt64` count in front of them is patched.
    public mutating func writeLengthPrefixed(_ body: (inout BinaryWriter) -> Void) {
        let countAt = bytes.count
        write(UInt64(0))
        body(&self)
        let count = UInt64(bytes.count - countAt - 8).littleEndian
        withUnsafeBytes(of: count) { raw in
            for i in 0..<8 { bytes[countAt + i] = raw[i] }
        }
    }

    /// Appends bytes with no length prefix (the reader must know the count: `BinaryReader.readRaw(count:)`).
    public mutating func writeRaw(_ run: [UInt8]) {
        bytes.append(contentsOf: run)
    }

    // MARK: Frames

    /// An open frame: where it starts in `bytes`.
    public struct Frame: Sendable {
        let start: Int
    }

    /// Starts a self-checking frame: writes the 4-byte ASCII `magic`, the format `version` and a payload-length
    /// placeholder. Write the payload next, then call `endFrame(_:)`. `magic` must be exactly 4 ASCII bytes (traps).
    public mutating func beginFrame(magic: String, version: UInt32) -> Frame {
        let m = Array(magic.utf8)
        guard m.count == 4 else { fatalError("BinaryWriter: frame magic must be 4 bytes, got \(magic)") }
        let frame = Frame(start: bytes.count)
        bytes.append(contentsOf: m)
        write(version)
        write(UInt64(0))  // payload length, patched by endFrame
        return frame
    }

    /// Closes `frame`: patches its payload length and appends the CRC-32C of the whole frame so far
    /// (magic, version, length, payload).
    public mutating func endFrame(_ frame: Frame) {
        let payloadStart = frame.start + BinaryReader.frameHeaderSize
        let length = UInt64(bytes.count - payloadStart).littleEndian
        withUnsafeBytes(of: length) { raw in
            for i in 0..<8 { bytes[payloadStart - 8 + i] = raw[i] }
        }
        let crc = bytes.withUnsafeBytes { all in
            Checksum.crc32c(UnsafeRawBufferPointer(rebasing: all[frame.start..<all.count]))
        }
        write(crc)
    }

    // MARK: Private

    private mutating func appendRaw<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v) { bytes.append(contentsOf: $0) }
    }
}
