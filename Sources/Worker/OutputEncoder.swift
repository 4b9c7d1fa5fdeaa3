/// Builds the JSON of output messages into a reusable byte buffer (no Foundation, no String per message).
///
/// Output schemas are versioned by the `"schema"` field; see docs/outputs.md.
public struct OutputEncoder: Sendable {
    /// The current output schema version.
    public static let schemaVersion = 1
    /// The encoded message (valid until the next `begin`).
    public private(set) var bytes: [UInt8] = []

    public init() { bytes.reserveCapacity(2048) }

    public mutating func begin() { bytes.removeAll(keepingCapacity: true) }

    public mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends bytes that are already JSON (e.g. a token of a request, copied as sent).
    public mutating func json(_ b: ArraySlice<UInt8>) { bytes.append(contentsOf: b) }

    /// Appends `"…"` with JSON escaping.
    public mutating func string(_ b: UnsafeRawBufferPointer) {
        bytes.append(0x22)
        for c in b {
            switch c {
            case 0x22: bytes.append(0x5C); bytes.append(0x22)
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x00..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, 0x75, 0x30, 0x30, hex[Int(c >> 4)], hex[Int(c & 15)]])
            default: bytes.append(c)
            }
        }
        bytes.append(0x22)
    }

    public mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { string(UnsafeRawBufferPointer($0)) }
    }

    /// Appends `"…"` holding `b` in standard base64 (RFC 4648, padded): any bytes, valid UTF-8 or not.
    public mutating func base64(_ b: UnsafeRawBufferPointer) {
        let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        bytes.append(0x22)
        alphabet.withUTF8Buffer { a in
            var i = 0
            while i + 3 <= b.count {
                let v = UInt32(b[i]) << 16 | UInt32(b[i + 1]) << 8 | UInt32(b[i + 2])
                bytes.append(a[Int(v >> 18 & 63)]); bytes.append(a[Int(v >> 12 & 63)])
                bytes.append(a[Int(v >> 6 & 63)]); bytes.append(a[Int(v & 63)])
                i += 3
            }
            let rest = b.count - i
            if rest > 0 {
                let v = UInt32(b[i]) << 16 | (rest == 2 ? UInt32(b[i + 1]) << 8 : 0)
                bytes.append(a[Int(v >> 18 & 63)]); bytes.append(a[Int(v >> 12 & 63)])
                bytes.append(rest == 2 ? a[Int(v >> 6 & 63)] : 0x3D)
                bytes.append(0x3D)
            }
        }
        bytes.append(0x22)
    }

    public mutating func int(_ v: Int64) {
        var buffer = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) as (CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar, CChar)
        withUnsafeMutableBytes(of: &buffer) { raw in
            var v = v
            var i = raw.count
            let negative = v < 0
            repeat {
                i -= 1
                raw[i] = UInt8(48 + Int(abs(v % 10)))
                v /= 10
            } while v != 0
            if negative { i -= 1; raw[i] = 0x2D }
            bytes.append(contentsOf: raw[i...])
        }
    }

    /// Appends a number as the shortest decimal that reads back to the same `Float` (at most 9 significant
    /// digits; model parameters are Floats); non-finite values become `null`. No allocation: Swift's
    /// shortest-representation printing, into a small (inline) string.
    public mutating func number(_ v: Double) {
        let f = Float(v)
        guard f.isFinite else { raw("null"); return }
        var text = f.description
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }
}
