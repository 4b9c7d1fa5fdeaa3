import CCRC32C

// MARK: - Checksum

/// Checksums for snapshots and checkpoints.
///
/// CRC-32C (Castagnoli polynomial 0x1EDC6F41, reflected 0x82F63B78, init and final XOR 0xFFFFFFFF), the checksum of
/// iSCSI, ext4 and Kafka record batches; check value `crc32c("123456789") == 0xE3069283`. With the processor's CRC-32C
/// instruction where it has one (x86-64 SSE4.2, ARMv8 CRC32; CCRC32C), else software slicing-by-8 (eight 256-entry
/// tables, 8 bytes per step).
public enum Checksum {
    /// CRC-32C of `bytes`.
    public static func crc32c(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        ~crc32cUpdate(0xFFFF_FFFF, bytes)
    }

    /// CRC-32C of `bytes`.
    public static func crc32c(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { crc32c($0) }
    }

    /// Continues a raw (pre-inversion) CRC-32C register over `bytes`.
    static func crc32cUpdate(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard bytes.count > 0 else { return register }
        if hardware { return feedloop_crc32c_update(register, bytes.baseAddress!, bytes.count) }
        return softwareUpdate(register, bytes)
    }

    /// Whether the processor's CRC-32C instruction is used.
    static let hardware = feedloop_crc32c_hardware() == 1

    /// ``crc32cUpdate(_:_:)`` by table lookups (slicing-by-8).
    static func softwareUpdate(_ register: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = register
        let count = bytes.count
        guard count > 0 else { return crc }
        return table.withUnsafeBufferPointer { tb in
            let t = tb.baseAddress!
            var i = 0
            while i &+ 8 <= count {
                let lo = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ crc
                let hi = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i &+ 4, as: UInt32.self))
                crc = t[7 &* 256 &+ Int(lo & 0xff)]
                    ^ t[6 &* 256 &+ Int((lo >> 8) & 0xff)]
                    ^ t[5 &* 256 &+ Int((lo >> 16) & 0xff)]
                    ^ t[4 &* 256 &+ Int(lo >> 24)]
                    ^ t[3 &* 256 &+ Int(hi & 0xff)]
                    ^ t[2 &* 256 &+ Int((hi >> 8) & 0xff)]
                    ^ t[1 &* 256 &+ Int((hi >> 16) & 0xff)]
                    ^ t[Int(hi >> 24)]
                i &+= 8
            }
            while i < count {
                crc = t[Int((crc ^ UInt32(bytes[i])) & 0xff)] ^ (crc >> 8)
                i &+= 1
            }
            return crc
        }
    }

    /// Slicing-by-8 tables: `table[0..<256]` is the classic byte table, `table[s·256 + b]` advances byte `b` by `s`
    /// further zero bytes.
    static let table: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for b in 0..<256 {
            var c = UInt32(b)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[b] = c
        }
        for s in 1..<8 {
            for b in 0..<256 {
                let prev = t[(s - 1) * 256 + b]
                t[s * 256 + b] = (prev >> 8) ^ t[Int(prev & 0xff)]
            }
        }
        return t
    }()
}
