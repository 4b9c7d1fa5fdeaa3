// MARK: - Strings

extension EventParser {
    /// Parses a string (the cursor is at its opening quote) and returns its UTF-8 content.
    ///
    /// Strings without escapes are returned in place; the scan tests 8 bytes per step for `"`, `\`, control
    /// characters and non-ASCII bytes (SWAR). Non-ASCII runs are validated as UTF-8. A string with escapes is
    /// unescaped into scratch; `keep: false` lets the next string reuse that scratch space.
    @inline(__always)
    mutating func parseString(keep: Bool) throws(SyntaxError) -> UnsafeRawBufferPointer {
        p += 1
        let contentStart = p
        while true {
            while end - p >= 8 {
                let word = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
                let special = Self.specialBytes(word)
                if special != 0 {
                    p += special.trailingZeroBitCount &>> 3
                    break
                }
                p += 8
            }
            guard p < end else { throw SyntaxError(.unterminatedString, offset: contentStart - 1 - start) }
            let c = p.pointee
            if c == Byte.quote {
                let content = UnsafeRawBufferPointer(start: contentStart, count: p - contentStart)
                p += 1
                return content
            }
            if c == Byte.backslash { return try parseEscapedString(contentStart: contentStart, keep: keep) }
            if c < 0x20 { throw fail(.controlCharacter) }
            if c >= 0x80 { try skipUTF8Sequence() } else { p += 1 }
        }
    }

    /// High bit set in each byte of `word` (little-endian order) that is `"`, `\`, < 0x20 or ≥ 0x80. Bytes above the
    /// first flagged one may be flagged spuriously (borrows start only at flagged bytes); the lowest flag is exact.
    /// For an ASCII byte x, `x - c` has its high bit set only when x < c, i.e. x = 0 after the XOR, or x < 0x20.
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* UInt64(Byte.quote))
        let backslash = word ^ (ones &* UInt64(Byte.backslash))
        return ((quote &- ones) | (backslash &- ones) | (word &- ones &* 0x20) | word) & 0x8080_8080_8080_8080
    }

    /// Validates the multi-byte UTF-8 sequence at the cursor (first byte ≥ 0x80) and steps over it.
    /// Rejects overlong forms, surrogates (U+D800–DFFF) and code points above U+10FFFF.
    mutating func skipUTF8Sequence() throws(SyntaxError) {
        let available = end - p
        let lead = p.pointee
        @inline(__always) func continuation(_ i: Int) -> Bool { i < available && p[i] & 0xC0 == 0x80 }
        @inline(__always) func second(in range: ClosedRange<UInt8>) -> Bool { 1 < available && range.contains(p[1]) }
        switch lead {
        case 0xC2...0xDF:
            guard continuation(1) else { throw fail(.invalidUTF8) }
            p += 2
        case 0xE0:
            guard second(in: 0xA0...0xBF), continuation(2) else { throw fail(.invalidUTF8) }
            p += 3
        case 0xE1...0xEC, 0xEE...0xEF:
            guard continuation(1), continuation(2) else { throw fail(.invalidUTF8) }
            p += 3
        case 0xED:
            guard second(in: 0x80...0x9F), continuation(2) else { throw fail(.invalidUTF8) }
            p += 3
        case 0xF0:
            guard second(in: 0x90...0xBF), continuation(2), continuation(3) else { throw fail(.invalidUTF8) }
            p += 4
        case 0xF1...0xF3:
            guard continuation(1), continuation(2), continuation(3) else { throw fail(.invalidUTF8) }
            p += 4
        case 0xF4:
            guard second(in: 0x80...0x8F), continuation(2), continuation(3) else { throw fail(.invalidUTF8) }
            p += 4
        default:
            throw fail(.invalidUTF8)
        }
    }

    /// The slow path of ``parseString(keep:)``: the cursor is at the first `\` of the string whose content starts at
    /// `contentStart`. Copies and unescapes into scratch (output never exceeds input, so scratch cannot overflow).
    mutating func parseEscapedString(contentStart: UnsafePointer<UInt8>, keep: Bool) throws(SyntaxError)
        -> UnsafeRawBufferPointer
    {
        let out = scratch + scratchUsed
        var o = out
        let prefix = p - contentStart
        o.update(from: contentStart, count: prefix)
        o += prefix
        while true {
            guard p < end else { throw SyntaxError(.unterminatedString, offset: contentStart - 1 - start) }
            let c = p.pointee
            if c == Byte.quote {
                p += 1
                break
            } else if c == Byte.backslash {
                guard end - p >= 2 else { throw fail(.badEscape) }
                let e = p[1]
                switch e {
                case Byte.quote, Byte.backslash, Byte.slash: o.pointee = e
                case UInt8(ascii: "b"): o.pointee = 0x08
                case UInt8(ascii: "f"): o.pointee = 0x0C
                case UInt8(ascii: "n"): o.pointee = 0x0A
                case UInt8(ascii: "r"): o.pointee = 0x0D
                case UInt8(ascii: "t"): o.pointee = 0x09
                case UInt8(ascii: "u"):
                    o = try unescapeUnicode(into: o)
                    continue
                default:
                    throw fail(.badEscape)
                }
                o += 1
                p += 2
            } else if c < 0x20 {
                throw fail(.controlCharacter)
            } else if c >= 0x80 {
                let sequence = p
                try skipUTF8Sequence()
                let n = p - sequence
                o.update(from: sequence, count: n)
                o += n
            } else {
                o.pointee = c
                o += 1
                p += 1
            }
        }
        let count = o - out
        if keep { scratchUsed += count }
        return UnsafeRawBufferPointer(start: out, count: count)
    }

    /// Decodes `\uXXXX` (or a `\uD8xx\uDCxx` surrogate pair) at the cursor, writes its UTF-8 at `o`, and returns
    /// the new output position.
    mutating func unescapeUnicode(into o: UnsafeMutablePointer<UInt8>) throws(SyntaxError) -> UnsafeMutablePointer<UInt8> {
        let escapeStart = p
        let high = try hex4(at: 2)
        p += 6
        var scalar = high
        if high >= 0xD800 && high <= 0xDBFF {
            guard end - p >= 2, p[0] == Byte.backslash, p[1] == UInt8(ascii: "u") else {
                throw SyntaxError(.unpairedSurrogate, offset: escapeStart - start)
            }
            let low = try hex4(at: 2)
            guard low >= 0xDC00 && low <= 0xDFFF else { throw SyntaxError(.unpairedSurrogate, offset: escapeStart - start) }
            p += 6
            scalar = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else if high >= 0xDC00 && high <= 0xDFFF {
            throw SyntaxError(.unpairedSurrogate, offset: escapeStart - start)
        }
        switch scalar {
        case 0..<0x80:
            o[0] = UInt8(scalar)
            return o + 1
        case 0x80..<0x800:
            o[0] = UInt8(0xC0 | scalar >> 6)
            o[1] = UInt8(0x80 | scalar & 0x3F)
            return o + 2
        case 0x800..<0x10000:
            o[0] = UInt8(0xE0 | scalar >> 12)
            o[1] = UInt8(0x80 | (scalar >> 6) & 0x3F)
            o[2] = UInt8(0x80 | scalar & 0x3F)
            return o + 3
        default:
            o[0] = UInt8(0xF0 | scalar >> 18)
            o[1] = UInt8(0x80 | (scalar >> 12) & 0x3F)
            o[2] = UInt8(0x80 | (scalar >> 6) & 0x3F)
            o[3] = UInt8(0x80 | scalar & 0x3F)
            return o + 4
        }
    }

    /// The 4 hex digits at `p + at` (the cursor is at the `\` of a `\u` escape).
    @inline(__always)
    func hex4(at: Int) throws(SyntaxError) -> UInt32 {
        guard end - p >= at + 4 else { throw fail(.badUnicodeEscape) }
        var v: UInt32 = 0
        for i in at..<(at + 4) {
            let c = p[i]
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = c &- UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = c &- UInt8(ascii: "a") &+ 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = c &- UInt8(ascii: "A") &+ 10
            default: throw fail(.badUnicodeEscape)
            }
            v = v << 4 | UInt32(digit)
        }
        return v
    }
}
