#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - NumberToken

/// A number token exactly as JSON's grammar allows it, with its decimal mantissa and exponent.
struct NumberToken {
    /// The token's bytes.
    var start: UnsafePointer<UInt8>
    var end: UnsafePointer<UInt8>
    var negative: Bool
    /// The significant digits as an integer (wrapped, i.e. meaningless, when `digits > 19`).
    var mantissa: UInt64
    /// The number of significant digits (leading zeros excluded).
    var digits: Int
    /// value = ±mantissa × 10^exponent.
    var exponent: Int
    /// No fraction and no exponent part.
    var isInteger: Bool

    /// The correctly rounded `Double` (may be ±infinity when out of range).
    ///
    /// Fast path (Clinger): a mantissa of at most 2^53 times a power of ten up to 10^22 is exact in both factors,
    /// so one IEEE multiplication or division rounds correctly. Everything else goes to `strtod` on a
    /// NUL-terminated copy of the token, in the C locale.
    @inline(__always)
    var doubleValue: Double {
        if digits <= 19 {
            if mantissa == 0 { return negative ? -0.0 : 0.0 }
            if mantissa <= 1 << 53 {
                var x: Double?
                if exponent >= 0 {
                    if exponent <= 22 {
                        x = Double(mantissa) * Self.powerOfTen(exponent)
                    } else if exponent <= 22 + 15 {
                        let (scaled, overflow) = mantissa.multipliedReportingOverflow(by: Self.integerPowerOfTen(exponent - 22))
                        if !overflow && scaled <= 1 << 53 { x = Double(scaled) * 1e22 }
                    }
                } else if exponent >= -22 {
                    x = Double(mantissa) / Self.powerOfTen(-exponent)
                }
                if let x { return negative ? -x : x }
            }
        }
        return Self.strtodValue(start, end - start)
    }

    @inline(__always)
    static func powerOfTen(_ e: Int) -> Double {
        switch e {
        case 0: 1e0
        case 1: 1e1
        case 2: 1e2
        case 3: 1e3
        case 4: 1e4
        case 5: 1e5
        case 6: 1e6
        case 7: 1e7
        case 8: 1e8
        case 9: 1e9
        case 10: 1e10
        case 11: 1e11
        case 12: 1e12
        case 13: 1e13
        case 14: 1e14
        case 15: 1e15
        case 16: 1e16
        case 17: 1e17
        case 18: 1e18
        case 19: 1e19
        case 20: 1e20
        case 21: 1e21
        default: 1e22
        }
    }

    static func integerPowerOfTen(_ e: Int) -> UInt64 {
        var v: UInt64 = 1
        for _ in 0..<e { v &*= 10 }
        return v
    }

    /// `strtod` in the C locale on a NUL-terminated copy (on the stack for ordinary lengths).
    @inline(never)
    static func strtodValue(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Double {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { buffer in
            let text = buffer.baseAddress!
            UnsafeMutableRawPointer(text).copyMemory(from: bytes, byteCount: count)
            text[count] = 0
            #if canImport(Darwin)
            return strtod_l(text, nil, cLocale)
            #else
            let previous = uselocale(cLocale)
            defer { uselocale(previous) }
            return strtod(text, nil)
            #endif
        }
    }
}

/// The POSIX "C" locale, so a host's `setlocale` (e.g. a decimal comma) cannot change number parsing.
nonisolated(unsafe) private let cLocale = newlocale(1 << LC_NUMERIC, "C", nil)

// MARK: - Scanning

extension EventParser {
    /// Scans a number (the cursor is at `-` or a digit) by the JSON grammar:
    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Rejects leading zeros and missing digits.
    @inline(__always)
    mutating func scanNumber() throws(SyntaxError) -> NumberToken {
        let tokenStart = p
        var negative = false
        if p.pointee == Byte.minus {
            negative = true
            p += 1
        }
        guard p < end else { throw fail(.expectedDigit) }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        var isInteger = true
        var c = p.pointee
        if c == Byte.zero {
            p += 1
            if p < end && Self.isDigit(p.pointee) { throw fail(.leadingZero) }
        } else if Self.isDigit(c) {
            while true {
                mantissa = mantissa &* 10 &+ UInt64(c &- Byte.zero)
                digits &+= 1
                p += 1
                guard p < end else { break }
                c = p.pointee
                guard Self.isDigit(c) else { break }
            }
        } else {
            throw fail(.expectedDigit)
        }
        if p < end && p.pointee == Byte.dot {
            isInteger = false
            p += 1
            guard p < end && Self.isDigit(p.pointee) else { throw fail(.expectedDigit) }
            repeat {
                let d = p.pointee &- Byte.zero
                if mantissa != 0 || d != 0 {
                    mantissa = mantissa &* 10 &+ UInt64(d)
                    digits &+= 1
                }
                exponent &-= 1
                p += 1
            } while p < end && Self.isDigit(p.pointee)
        }
        if p < end && p.pointee | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            p += 1
            var exponentNegative = false
            if p < end && (p.pointee == Byte.minus || p.pointee == Byte.plus) {
                exponentNegative = p.pointee == Byte.minus
                p += 1
            }
            guard p < end && Self.isDigit(p.pointee) else { throw fail(.expectedDigit) }
            var e = 0
            repeat {
                if e < 1_000_000 { e = e * 10 + Int(p.pointee &- Byte.zero) }
                p += 1
            } while p < end && Self.isDigit(p.pointee)
            exponent &+= exponentNegative ? -e : e
        }
        return NumberToken(
            start: tokenStart, end: p, negative: negative, mantissa: mantissa, digits: digits, exponent: exponent,
            isInteger: isInteger)
    }
}
