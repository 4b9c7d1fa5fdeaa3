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
        var seen: UInt8 = 0
        s.skipSpace()
        s.i += 1  // {
        while let key = s.nextKey() {
            if let k = Self.keys.firstIndex(of: key) {
                guard seen & (1 << k) == 0 else {
                    throw RejectReason(.duplicateField, field: key, detail: "duplicate key \"\(key)\"")
                }
                seen |= 1 << k
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

    /// Inside an object: the next key, with the scanner at its value; nil (past the `}`) when the object ends.
    mutating func nextKey() -> String? {
        skipSpace()
        if peek == UInt8(ascii: ",") { i += 1; skipSpace() }
        guard i < bytes.count, peek != UInt8(ascii: "}") else {
            i += 1
            return nil
        }
        let key = string()
        skipSpace()
        i += 1  // :
        skipSpace()
        return key
    }

    static let keys = ["schema", "ranking_id", "candidates", "items", "policy", "pipeline", "model_version"]
    static let itemKeys = ["item_id", "score", "propensity"]

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
        while i < bytes.count, Self.isNumberByte(bytes[i]) { i += 1 }
        let count = i - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { token in
            for k in 0..<count { token[k] = CChar(bitPattern: bytes[start + k]) }
            token[count] = 0
            return strtod(token.baseAddress!, nil)
        }
    }

    /// Digits, sign, point and exponent: the bytes of a JSON number.
    static func isNumberByte(_ c: UInt8) -> Bool {
        (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9")) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+")
            || c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
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
            var seen: UInt8 = 0
            while let key = nextKey() {
                if let k = Self.itemKeys.firstIndex(of: key) {
                    guard seen & (1 << k) == 0 else {
                        throw RejectReason(.duplicateField, field: "\(path).\(key)", detail: "duplicate key \"\(key)\"")
                    }
                    seen |= 1 << k
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
        // Without escapes (the common case) the string is the bytes up to the next quote.
        var end = i
        while end < bytes.count, bytes[end] != UInt8(ascii: "\""), bytes[end] != UInt8(ascii: "\\") { end += 1 }
        if end < bytes.count, bytes[end] == UInt8(ascii: "\"") {
            defer { i = end + 1 }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[i..<end]), as: UTF8.self)
        }
        var out: [UInt8] = []
        while i < bytes.count, bytes[i] != UInt8(ascii: "\"") {
            guard bytes[i] == UInt8(ascii: "\\") else {
                out.append(bytes[i])
                i += 1
                continue
            }
            do {
                i = try JSONEscape.decode(bytes, at: i, into: &out)
            } catch {
                // Unreachable for a line the decoder accepted (it refuses bad escapes and lone surrogates).
                out.append(contentsOf: [0xEF, 0xBF, 0xBD])
                i += 2
            }
        }
        i += 1
        return String(decoding: out, as: UTF8.self)
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
                while i < bytes.count, Self.isNumberByte(bytes[i]) || (bytes[i] >= UInt8(ascii: "a") && bytes[i] <= UInt8(ascii: "z")) { i += 1 }
            }
            skipSpace()
        } while depth > 0 && i < bytes.count
    }
}
