/// One JSON string escape (RFC 8259 §7) decoded to UTF-8: the unescaping the ranking request parser and the
/// decision scanner share (the event parser unescapes in its own scratch buffer, fused with its UTF-8 check).
///
/// Invariant: any bytes get either the escape's UTF-8 bytes and the offset after it, or a ``Failure`` with the
/// offset of what is wrong; a surrogate pair (`\uD83D\uDE00`) is one scalar, a lone surrogate is a failure.
public enum JSONEscape {
    public enum Failure: Error, Equatable, Sendable {
        /// The byte at `offset` (after the backslash) starts no escape; `offset == count` when the input ends there.
        case invalidEscape(offset: Int)
        /// `\u` without 4 hex digits: `offset` is the first byte that is not one (`count` at the end of the input).
        case badHex(offset: Int)
        /// An unpaired surrogate `scalar`; `offset` is after the escape(s) read.
        case loneSurrogate(scalar: UInt32, offset: Int)
    }

    /// Decodes the escape whose backslash is at `bytes[at]`: appends its UTF-8 bytes to `out` and returns the
    /// offset after it.
    public static func decode(_ bytes: UnsafeRawBufferPointer, at: Int, into out: inout [UInt8]) throws(Failure) -> Int {
        var i = at + 1
        guard i < bytes.count else { throw .invalidEscape(offset: i) }
        let e = bytes[i]
        i += 1
        switch e {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4(bytes, &i)
            if (0xD800..<0xDC00).contains(scalar) {
                guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                    throw .loneSurrogate(scalar: scalar, offset: i)
                }
                i += 2
                let low = try hex4(bytes, &i)
                guard (0xDC00..<0xE000).contains(low) else { throw .loneSurrogate(scalar: scalar, offset: i) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(scalar) {
                throw .loneSurrogate(scalar: scalar, offset: i)
            }
            appendUTF8(scalar, to: &out)
        default:
            throw .invalidEscape(offset: i - 1)
        }
        return i
    }

    static func hex4(_ bytes: UnsafeRawBufferPointer, _ i: inout Int) throws(Failure) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard i < bytes.count else { throw .badHex(offset: i) }
            let c = bytes[i]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: throw .badHex(offset: i)
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    /// The UTF-8 bytes of scalar value `s` (not a surrogate).
    static func appendUTF8(_ s: UInt32, to out: inout [UInt8]) {
        switch s {
        case ..<0x80: out.append(UInt8(s))
        case ..<0x800:
            out.append(UInt8(0xC0 | s >> 6)); out.append(UInt8(0x80 | s & 0x3F))
        case ..<0x10000:
            out.append(UInt8(0xE0 | s >> 12)); out.append(UInt8(0x80 | s >> 6 & 0x3F)); out.append(UInt8(0x80 | s & 0x3F))
        default:
            out.append(UInt8(0xF0 | s >> 18)); out.append(UInt8(0x80 | s >> 12 & 0x3F))
            out.append(UInt8(0x80 | s >> 6 & 0x3F)); out.append(UInt8(0x80 | s & 0x3F))
        }
    }
}
