#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A `--kafka-config` file: librdkafka properties in the syntax of Java's `client.properties`
/// (`java.util.Properties.load`), so the file a Kafka Java client uses works unchanged.
///
/// The syntax, per line:
/// - blank lines and lines whose first non-blank character is `#` or `!` are skipped (a comment never continues);
/// - an entry is `key=value`, `key: value` or `key value`: the key ends at the first unescaped `=`, `:` or blank;
///   blanks around the separator are skipped;
/// - a line ending in an odd number of backslashes continues on the next line, whose leading blanks are dropped;
/// - escapes: `\t`, `\n`, `\r`, `\f`, `\uXXXX` (UTF-16, surrogate pairs combined), and `\` before any other
///   character stands for that character (`\=`, `\:`, `\ `, `\#`, `\\`);
/// - lines end with `\n`, `\r\n` or `\r`; the text is UTF-8 (a leading byte-order mark is skipped).
///
/// Differences from Java, all stricter or trimming: trailing blanks of a value are dropped (write `\ ` to keep one);
/// a key alone on its line (no separator, no value) is an error rather than an empty value (write `key=` for that);
/// an empty key, a key with characters other than letters, digits, `.`, `_` and `-`, a malformed `\u` escape, a NUL
/// character and invalid UTF-8 are errors. Every error names `FILE:LINE` (the first line of a continued entry) and
/// never quotes the line, which may hold a secret.
public enum KafkaPropertiesFile {
    // MARK: Reading

    /// The properties of the file at `path`, in file order (a key may repeat; the last one wins when merged), and a
    /// warning when the file is accessible to its group or others (`mode & 0o077 != 0`): it may hold passwords.
    public static func load(path: String) throws(KafkaPropertiesError) -> (properties: [KafkaProperty], warning: String?) {
        let whole = KafkaPropertySource.file(path: path, line: 0)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw KafkaPropertiesError(whole, "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw KafkaPropertiesError(whole, "cannot stat: \(String(cString: strerror(errno)))") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw KafkaPropertiesError(whole, "not a regular file") }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw KafkaPropertiesError(whole, "cannot read: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        let mode = UInt32(st.st_mode) & 0o7777
        return (try parse(bytes, path: path), permissionWarning(path: path, mode: mode))
    }

    /// The warning for a properties file with permission bits `mode`, or nil when only its owner may access it.
    public static func permissionWarning(path: String, mode: UInt32) -> String? {
        guard mode & 0o077 != 0 else { return nil }
        let octal = String(mode & 0o7777, radix: 8)
        return "\(path) is accessible to group or others (mode \(String(repeating: "0", count: max(0, 4 - octal.count)))\(octal)) "
            + "and may hold secrets such as sasl.password: run chmod 600 \(path)"
    }

    // MARK: Parsing

    /// Parses properties text (see the type's documentation); `path` only names the file in errors.
    public static func parse(_ text: [UInt8], path: String) throws(KafkaPropertiesError) -> [KafkaProperty] {
        var bytes = text[...]
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        var properties: [KafkaProperty] = []
        var logical: [UInt8] = []
        var logicalLine = 0
        var continuing = false
        var lineNumber = 0
        var position = bytes.startIndex
        while position < bytes.endIndex {
            // The next natural line and its terminator (\n, \r\n or \r).
            var end = position
            while end < bytes.endIndex && bytes[end] != Byte.newline && bytes[end] != Byte.carriageReturn { end += 1 }
            let line = bytes[position..<end]
            position = end
            if position < bytes.endIndex {
                if bytes[position] == Byte.carriageReturn && position + 1 < bytes.endIndex && bytes[position + 1] == Byte.newline {
                    position += 2
                } else {
                    position += 1
                }
            }
            lineNumber += 1

            var start = line.startIndex
            while start < line.endIndex && isBlank(line[start]) { start += 1 }
            let content = line[start...]
            if !continuing {
                if content.isEmpty || content.first == Byte.hash || content.first == Byte.bang { continue }
                logical = Array(content)
                logicalLine = lineNumber
            } else {
                logical += content
            }
            // An odd number of trailing backslashes on this line escapes the line end: the entry goes on.
            var backslashes = 0
            var k = content.endIndex
            while k > content.startIndex && content[k - 1] == Byte.backslash { backslashes += 1; k -= 1 }
            if backslashes % 2 == 1 {
                logical.removeLast()
                continuing = true
                continue
            }
            continuing = false
            properties.append(try entry(logical, source: .file(path: path, line: logicalLine)))
        }
        // Like Java, a continuation on the last line of the file just ends the entry.
        if continuing { properties.append(try entry(logical, source: .file(path: path, line: logicalLine))) }
        return properties
    }

    /// Splits one logical line (leading blanks removed, continuations joined) into key and value.
    static func entry(_ line: [UInt8], source: KafkaPropertySource) throws(KafkaPropertiesError) -> KafkaProperty {
        // The key ends at the first unescaped separator (`=`, `:`) or blank.
        var keyEnd = 0
        var valueStart = line.count
        var hasSeparator = false
        var escaped = false
        while keyEnd < line.count {
            let c = line[keyEnd]
            if !escaped && (c == Byte.equals || c == Byte.colon) {
                valueStart = keyEnd + 1
                hasSeparator = true
                break
            }
            if !escaped && isBlank(c) {
                valueStart = keyEnd + 1
                break
            }
            escaped = c == Byte.backslash ? !escaped : false
            keyEnd += 1
        }
        // Blanks around the separator; after a blank-ended key, one `=` or `:` may still follow.
        while valueStart < line.count {
            let c = line[valueStart]
            if !isBlank(c) {
                if !hasSeparator && (c == Byte.equals || c == Byte.colon) { hasSeparator = true } else { break }
            }
            valueStart += 1
        }
        let key = try unescape(line[0..<keyEnd], source: source, what: "property name")
        let value = try unescape(line[valueStart...], source: source, what: "value")
        guard !key.isEmpty else {
            throw KafkaPropertiesError(source, "missing property name before the separator (expected KEY=VALUE)")
        }
        guard key.utf8.allSatisfy(isNameByte) else {
            throw KafkaPropertiesError(source, "the property name may hold only letters, digits, '.', '_' and '-' (expected KEY=VALUE)")
        }
        guard hasSeparator || !value.isEmpty else {
            throw KafkaPropertiesError(source, "a property name without a value (expected KEY=VALUE; write KEY= for an empty value)")
        }
        return KafkaProperty(key: key, value: value, source: source)
    }

    /// Resolves escapes; drops trailing unescaped blanks. The result is valid UTF-8 without NUL.
    static func unescape(_ raw: ArraySlice<UInt8>, source: KafkaPropertySource, what: String) throws(KafkaPropertiesError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var significant = 0  // out.count after the last character that is not an unescaped blank
        var i = raw.startIndex
        var pendingHighSurrogate: UInt32? = nil
        func appendScalar(_ value: UInt32) {
            guard let scalar = Unicode.Scalar(value) else { return }
            out += Array(String(Character(scalar)).utf8)
        }
        while i < raw.endIndex {
            let c = raw[i]
            guard c == Byte.backslash else {
                if pendingHighSurrogate != nil { throw KafkaPropertiesError(source, "\\u escape in the \(what) names an unpaired UTF-16 surrogate") }
                out.append(c)
                if !isBlank(c) { significant = out.count }
                i += 1
                continue
            }
            i += 1
            guard i < raw.endIndex else { break }  // a lone backslash at the very end stands for nothing
            let escape = raw[i]
            i += 1
            if escape == Byte.u {
                guard raw.endIndex - i >= 4, let unit = hexValue(raw[i..<(i + 4)]) else {
                    throw KafkaPropertiesError(source, "malformed \\uXXXX escape in the \(what) (needs 4 hex digits)")
                }
                i += 4
                switch unit {
                case 0xD800...0xDBFF:
                    if pendingHighSurrogate != nil { throw KafkaPropertiesError(source, "\\u escape in the \(what) names an unpaired UTF-16 surrogate") }
                    pendingHighSurrogate = unit
                    continue
                case 0xDC00...0xDFFF:
                    guard let high = pendingHighSurrogate else {
                        throw KafkaPropertiesError(source, "\\u escape in the \(what) names an unpaired UTF-16 surrogate")
                    }
                    pendingHighSurrogate = nil
                    appendScalar(0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00))
                default:
                    if pendingHighSurrogate != nil { throw KafkaPropertiesError(source, "\\u escape in the \(what) names an unpaired UTF-16 surrogate") }
                    appendScalar(unit)
                }
            } else {
                if pendingHighSurrogate != nil { throw KafkaPropertiesError(source, "\\u escape in the \(what) names an unpaired UTF-16 surrogate") }
                switch escape {
                case Byte.t: out.append(0x09)
                case Byte.n: out.append(Byte.newline)
                case Byte.r: out.append(Byte.carriageReturn)
                case Byte.f: out.append(0x0C)
                default: out.append(escape)
                }
            }
            significant = out.count
        }
        if pendingHighSurrogate != nil { throw KafkaPropertiesError(source, "\\u escape in the \(what) names an unpaired UTF-16 surrogate") }
        out.removeSubrange(significant...)
        guard !out.contains(0) else { throw KafkaPropertiesError(source, "the \(what) contains a NUL character") }
        let text = String(decoding: out, as: UTF8.self)
        guard text.utf8.elementsEqual(out) else { throw KafkaPropertiesError(source, "the \(what) is not valid UTF-8") }
        return text
    }

    // MARK: Bytes

    private enum Byte {
        static let newline: UInt8 = 0x0A
        static let carriageReturn: UInt8 = 0x0D
        static let hash = UInt8(ascii: "#")
        static let bang = UInt8(ascii: "!")
        static let backslash = UInt8(ascii: "\\")
        static let equals = UInt8(ascii: "=")
        static let colon = UInt8(ascii: ":")
        static let u = UInt8(ascii: "u")
        static let t = UInt8(ascii: "t")
        static let n = UInt8(ascii: "n")
        static let r = UInt8(ascii: "r")
        static let f = UInt8(ascii: "f")
    }

    /// Java's blanks in properties files: space, tab, form feed.
    private static func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0C }

    /// Letters, digits, `.`, `_`, `-`: every librdkafka property name is made of these.
    static func isNameByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x2E || c == 0x5F || c == 0x2D
    }

    private static func hexValue(_ digits: ArraySlice<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        for d in digits {
            let v: UInt8
            switch d {
            case 0x30...0x39: v = d - 0x30
            case 0x41...0x46: v = d - 0x41 + 10
            case 0x61...0x66: v = d - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt32(v)
        }
        return value
    }
}
