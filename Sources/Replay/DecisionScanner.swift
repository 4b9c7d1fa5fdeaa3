#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Events

/// Reads a decision's own fields (`schema`, `ranking_id`, `candidates`, `items`, `policy`, `pipeline`,
/// `model_version`) from a line **the event decoder has accepted**: the line is one well-formed JSON object with
/// valid UTF-8 and finite numbers, so this scanner checks types and presence, never syntax. One pass, no Foundation;
/// a known key given twice is `duplicate_field`, as in events; other keys are skipped.
struct DecisionScanner {
    let bytes: UnsafeRawBufferPointer
    var i = 0

    struct Fields {
        var schema: Double?
        var rankingID: String?
        var candidates: [String]?
        var items: [LoggedDecision.Item]?
        var policy: String?
        var pipeline: String?
        var modelVersion: Double?
    }

    /// The fields of the object in `line` (which the event decoder accepted).
    static func scan(_ line: UnsafeRawBufferPointer) throws(RejectReason) -> Fields {
        var s = DecisionScanner(bytes: line)
        var f = Fields()
        var seen = Set<String>()
        s.skipSpace()
        s.i += 1  // {
        while true {
            s.skipSpace()
            if s.peek == UInt8(ascii: "}") { break }
            if s.peek == UInt8(ascii: ",") { s.i += 1; s.skipSpace() }
            let key = s.string()
            s.skipSpace()
            s.i += 1  // :
            s.skipSpace()
            let known = ["schema", "ranking_id", "candidates", "items", "policy", "pipeline", "model_version"].contains(key)
            if known, !seen.insert(key).inserted {
                throw RejectReason(.duplicateField, field: key, detail: "duplicate key \"\(key)\"")
            }
            switch key {
            case "schema": f.schema = try s.number(key)
            case "model_version": f.modelVersion = try s.number(key)
            case "ranking_id": f.rankingID = try s.requiredString(key)
            case "policy": f.policy = try s.requiredString(key)
            case "pipeline": f.pipeline = try s.requiredString(key)
            case "candidates": f.candidates = try s.strings(key)
            case "items": f.items = try s.items()
            default: s.skipValue()
            }
        }
        guard let _ = f.schema else { throw missing("schema") }
        guard let _ = f.rankingID else { throw missing("ranking_id") }
        guard let _ = f.candidates else { throw missing("candidates") }
        guard let _ = f.items else { throw missing("items") }
        return f
    }

    static func missing(_ field: String) -> RejectReason {
        RejectReason(.missingField, field: field, detail: "required field \"\(field)\" is missing")
    }

    func wrongType(_ field: String, _ expected: String) -> RejectReason {
        RejectReason(.wrongType, field: field, detail: "\(field): expected \(expected) at byte \(i), found \(kind)")
    }

    // MARK: Values

    var peek: UInt8 { i < bytes.count ? bytes[i] : 0 }

    /// What the value at `i` is, for messages.
    var kind: String {
        switch peek {
        case UInt8(ascii: "\""): "a string"
        case UInt8(ascii: "{"): "an object"
        case UInt8(ascii: "["): "an array"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): "a boolean"
        case UInt8(ascii: "n"): "null"
        default: "a number"
        }
    }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
    }

    /// A string value (or the type error naming `field`).
    mutating func requiredString(_ field: String) throws(RejectReason) -> String {
        guard peek == UInt8(ascii: "\"") else { throw wrongType(field, "a string") }
        return string()
    }

    mutating func number(_ field: String) throws(RejectReason) -> Double {
        guard peek == UInt8(ascii: "-") || (peek >= UInt8(ascii: "0") && peek <= UInt8(ascii: "9")) else {
            throw wrongType(field, "a number")
        }
        let start = i
        while i < bytes.count, !([0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D] as [UInt8]).contains(bytes[i]) { i += 1 }
        var token = [CChar](repeating: 0, count: i - start + 1)
        for k in start..<i { token[k - start] = CChar(bitPattern: bytes[k]) }
        return strtod(token, nil)
    }

    mutating func strings(_ field: String) throws(RejectReason) -> [String] {
        guard peek == UInt8(ascii: "[") else { throw wrongType(field, "an array of strings") }
        i += 1
        var result: [String] = []
        while true {
            skipSpace()
            if peek == UInt8(ascii: "]") { i += 1; return result }
            if peek == UInt8(ascii: ",") { i += 1; skipSpace() }
            result.append(try requiredString("\(field)[\(result.count)]"))
        }
    }

    mutating func items() throws(RejectReason) -> [LoggedDecision.Item] {
        guard peek == UInt8(ascii: "[") else { throw wrongType("items", "an array of objects") }
        i += 1
        var result: [LoggedDecision.Item] = []
        while true {
            skipSpace()
            if peek == UInt8(ascii: "]") { i += 1; return result }
            if peek == UInt8(ascii: ",") { i += 1; skipSpace() }
            let path = "items[\(result.count)]"
            guard peek == UInt8(ascii: "{") else { throw wrongType(path, "an object") }
            i += 1
            var itemID: String?, score: Double?, propensity: Double?
            var seen = Set<String>()
            while true {
                skipSpace()
                if peek == UInt8(ascii: "}") { i += 1; break }
                if peek == UInt8(ascii: ",") { i += 1; skipSpace() }
                let key = string()
                skipSpace()
                i += 1  // :
                skipSpace()
                if ["item_id", "score", "propensity"].contains(key), !seen.insert(key).inserted {
                    throw RejectReason(.duplicateField, field: "\(path).\(key)", detail: "duplicate key \"\(key)\"")
                }
                switch key {
                case "item_id": itemID = try requiredString("\(path).item_id")
                case "propensity": propensity = try number("\(path).propensity")
                case "score":
                    if peek == UInt8(ascii: "n") { skipValue() } else { score = try number("\(path).score") }
                default: skipValue()
                }
            }
            guard let itemID else { throw Self.missing("\(path).item_id") }
            guard let propensity else { throw Self.missing("\(path).propensity") }
            result.append(LoggedDecision.Item(itemID: itemID, score: score, propensity: propensity))
        }
    }

    /// The string at `i` (opening quote included), unescaped. The line is valid JSON, so every escape is valid.
    mutating func string() -> String {
        i += 1
        var out: [UInt8] = []
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
            guard bytes[i] == UInt8(ascii: "\\") else {
                out.append(bytes[i])
                i += 1
                continue
            }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4()
                if scalar >= 0xD800, scalar < 0xDC00, peek == UInt8(ascii: "\\") {
                    i += 2
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (hex4() - 0xDC00)
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar) ?? "\u{FFFD}")).utf8))
            default: out.append(e)  // " \ /
            }
        }
        i += 1
        return String(decoding: out, as: UTF8.self)
    }

    mutating func hex4() -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[i]
            i += 1
            v = v << 4 | UInt32(c <= UInt8(ascii: "9") ? c - 48 : (c | 0x20) - 87)
        }
        return v
    }

    /// Skips one value (nested arrays and objects included).
    mutating func skipValue() {
        var depth = 0
        repeat {
            skipSpace()
            switch peek {
            case UInt8(ascii: "\""): _ = string()
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1; i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1; i += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"): i += 1
            default:
                while i < bytes.count, !([0x2C, 0x7D, 0x5D, 0x20, 0x09, 0x0A, 0x0D, 0x3A] as [UInt8]).contains(bytes[i]) { i += 1 }
            }
            skipSpace()
        } while depth > 0 && i < bytes.count
    }
}
