import Events

// MARK: - Random valid events

/// Produces random *valid* events as JSON text together with the values a correct decoder must return:
/// random member order, whitespace, escapes (short, `\u`, surrogate pairs, `\/`), raw multi-byte UTF-8, numbers in
/// every JSON form, integer ids, context of every allowed kind, and well-formed unknown fields.
struct EventGenerator {
    var rng: SplitMix64
    /// The context keys the decoder under test extracts.
    let keys: [String]

    init(seed: UInt64, keys: [String]) {
        rng = SplitMix64(seed: seed)
        self.keys = keys
    }

    // MARK: Lexical pieces

    /// Zero to three JSON whitespace characters (usually none).
    mutating func whitespace() -> String {
        guard rng.chance(0.25) else { return "" }
        let choices = [" ", "\t", "\n", "\r"]
        return (0..<Int.random(in: 1...3, using: &rng)).map { _ in choices.randomElement(using: &rng)! }.joined()
    }

    /// A random Unicode scalar from a mix of ranges that exercise every encoding length and the escapes.
    mutating func scalar() -> Unicode.Scalar {
        switch Int.random(in: 0..<100, using: &rng) {
        case 0..<55: return Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &rng))
        case 55..<62: return Unicode.Scalar(UInt8.random(in: 0x00...0x1F, using: &rng))
        case 62..<70: return ["\"", "\\", "/"].randomElement(using: &rng)!
        case 70..<80: return Unicode.Scalar(UInt32.random(in: 0x80...0x7FF, using: &rng))!
        case 80..<90:
            let v = UInt32.random(in: 0x800...0xFFFF - 0x800, using: &rng)
            return Unicode.Scalar(v >= 0xD800 ? v + 0x800 : v)!
        default: return Unicode.Scalar(UInt32.random(in: 0x10000...0x10FFFF, using: &rng))!
        }
    }

    /// A random string of `range.lowerBound...range.upperBound` scalars.
    mutating func text(_ range: ClosedRange<Int>) -> String {
        var s = ""
        for _ in 0..<Int.random(in: range, using: &rng) { s.unicodeScalars.append(scalar()) }
        return s
    }

    /// `s` as a JSON string literal, each scalar escaped or not at random (but always when JSON requires it).
    mutating func literal(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            let mustEscape = u.value < 0x20 || u == "\"" || u == "\\"
            if !mustEscape && !rng.chance(0.15) {
                out.unicodeScalars.append(u)
                continue
            }
            let short: String? = switch u {
            case "\"": "\\\""
            case "\\": "\\\\"
            case "/": "\\/"
            case "\u{08}": "\\b"
            case "\u{0C}": "\\f"
            case "\n": "\\n"
            case "\r": "\\r"
            case "\t": "\\t"
            default: nil
            }
            if let short, rng.chance(0.6) {
                out += short
            } else if u.value < 0x10000 {
                out += hexEscape(u.value)
            } else {
                let v = u.value - 0x10000
                out += hexEscape(0xD800 + (v >> 10)) + hexEscape(0xDC00 + (v & 0x3FF))
            }
        }
        return out + "\""
    }

    mutating func hexEscape(_ unit: UInt32) -> String {
        var hex = String(unit, radix: 16, uppercase: rng.chance(0.5))
        while hex.count < 4 { hex = "0" + hex }
        if rng.chance(0.2) { hex = String(hex.map { rng.chance(0.5) ? Character($0.uppercased()) : $0 }) }
        return "\\u" + hex
    }

    /// A random JSON number text that is finite as a `Double`, with its value per Swift's `Double(String)`.
    mutating func number() -> (text: String, value: Double) {
        while true {
            let text = EventGenerator.numberText(using: &rng)
            if let value = Double(text), value.isFinite { return (text, value) }
        }
    }

    /// A random JSON number text: sign, int part, fraction and exponent of random lengths.
    static func numberText(using rng: inout SplitMix64) -> String {
        var s = rng.chance(0.3) ? "-" : ""
        func digits(_ n: Int, _ rng: inout SplitMix64) -> String {
            String((0..<n).map { _ in Character(String(Int.random(in: 0...9, using: &rng))) })
        }
        func length(_ rng: inout SplitMix64) -> Int {
            rng.chance(0.7) ? Int.random(in: 1...8, using: &rng) : Int.random(in: 1...30, using: &rng)
        }
        if rng.chance(0.2) {
            s += "0"
        } else {
            s += String(Int.random(in: 1...9, using: &rng)) + digits(length(&rng) - 1, &rng)
        }
        if rng.chance(0.5) { s += "." + digits(length(&rng), &rng) }
        if rng.chance(0.3) {
            s += rng.chance(0.5) ? "e" : "E"
            s += ["", "+", "-"].randomElement(using: &rng)!
            s += digits(Int.random(in: 1...3, using: &rng), &rng)
        }
        return s
    }

    /// A random well-formed JSON value of any kind (for ignored fields), up to `depth` levels of nesting.
    mutating func anyValue(depth: Int) -> String {
        switch Int.random(in: 0..<(depth > 0 ? 8 : 6), using: &rng) {
        case 0: return literal(text(0...6))
        case 1: return number().text  // finite, so that Foundation (the cross-check) accepts it too
        case 2: return "true"
        case 3: return "false"
        case 4: return "null"
        case 5: return literal(text(0...3))
        case 6:
            let items = (0..<Int.random(in: 0...3, using: &rng)).map { _ in whitespace() + anyValue(depth: depth - 1) + whitespace() }
            return "[" + whitespace() + items.joined(separator: ",") + "]"
        default:
            let members = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
                whitespace() + literal(text(0...4)) + whitespace() + ":" + whitespace() + anyValue(depth: depth - 1) + whitespace()
            }
            return "{" + whitespace() + members.joined(separator: ",") + "}"
        }
    }

    // MARK: Fields

    /// A non-empty id: a string, or (for user and item) sometimes an integer.
    mutating func identifier(allowInteger: Bool) -> (json: String, value: String) {
        if allowInteger && rng.chance(0.3) {
            let n = rng.chance(0.2) ? "0" : String(UInt64.random(in: 1...UInt64.max, using: &rng) >> UInt64.random(in: 0...60, using: &rng))
            let digits = n == "0" ? "0" : n
            let signed = rng.chance(0.1) ? "-" + digits : digits
            return (signed, signed)
        }
        let s = text(1...12)
        return (literal(s), s)
    }

    /// A context value of a random allowed kind and what the decoder must report for it.
    mutating func contextValue() -> (json: String, value: OwnedContext) {
        switch Int.random(in: 0..<5, using: &rng) {
        case 0:
            let s = text(0...10)
            return (literal(s), .string(s))
        case 1:
            let (t, v) = number()
            return (t, .number(v))
        case 2:
            let b = rng.chance(0.5)
            return (b ? "true" : "false", .bool(b))
        case 3:
            return ("null", .null)
        default:
            let list = (0..<Int.random(in: 0...4, using: &rng)).map { _ in text(0...8) }
            let items = list.map { whitespace() + literal($0) + whitespace() }
            return ("[" + whitespace() + items.joined(separator: ",") + "]", .strings(list))
        }
    }

    /// A random valid event and the owned values it must decode to.
    mutating func event() -> (json: String, expected: OwnedEvent) {
        var members: [String] = []
        func member(_ key: String, _ value: String, _ gen: inout EventGenerator) -> String {
            gen.whitespace() + gen.literal(key) + gen.whitespace() + ":" + gen.whitespace() + value + gen.whitespace()
        }
        let eventID = identifier(allowInteger: false)
        let user = identifier(allowInteger: true)
        let item = identifier(allowInteger: true)
        let type = EventType.allCases.randomElement(using: &rng)!
        let ts: Int64 = rng.chance(0.5) ? Int64.random(in: 0...Int64.max, using: &rng) : Int64.random(in: 0...2_000_000_000_000, using: &rng)
        members.append(member("event_id", eventID.json, &self))
        members.append(member("type", literal(type.name), &self))
        members.append(member("user_id", user.json, &self))
        members.append(member("item_id", item.json, &self))
        members.append(member("ts", String(ts), &self))

        var value: Double?
        switch Int.random(in: 0..<3, using: &rng) {
        case 0: break
        case 1: members.append(member("value", "null", &self))
        default:
            let (t, v) = number()
            value = v
            members.append(member("value", t, &self))
        }

        var context = [OwnedContext](repeating: .absent, count: keys.count)
        switch Int.random(in: 0..<4, using: &rng) {
        case 0: break
        case 1: members.append(member("context", "null", &self))
        default:
            var entries: [String] = []
            for (slot, key) in keys.enumerated() where rng.chance(0.7) {
                let (json, owned) = contextValue()
                context[slot] = owned
                entries.append(member(key, json, &self))
            }
            for _ in 0..<Int.random(in: 0...2, using: &rng) {
                entries.append(member("x_" + text(0...5), contextValue().json, &self))
            }
            entries.shuffle(using: &rng)
            members.append(member("context", "{" + whitespace() + entries.joined(separator: ",") + "}", &self))
        }
        for _ in 0..<Int.random(in: 0...2, using: &rng) {
            members.append(member("u_" + text(0...5), anyValue(depth: 3), &self))
        }
        members.shuffle(using: &rng)
        let json = whitespace() + "{" + members.joined(separator: ",") + "}" + whitespace()
        let expected = OwnedEvent(
            type: type, timestamp: ts, value: value, eventID: eventID.value, userID: user.value, itemID: item.value,
            context: context)
        return (json, expected)
    }
}
