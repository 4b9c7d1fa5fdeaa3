@testable import Events
import Testing

// MARK: - Differential tests of the fast path

/// Everything a decode produced, bit for bit: the owned values, the bit patterns of the numbers (so that `-0.0` and
/// `0.0` differ), and where each span points (an offset into the input, or -1 for an unescaped copy in scratch).
struct ExactDecode: Equatable, CustomStringConvertible {
    var event: OwnedEvent
    var valueBits: UInt64?
    var numberBits: [UInt64?]
    var places: [Int]

    init(_ view: EventView, input: UnsafeRawBufferPointer) {
        event = OwnedEvent(view)
        valueBits = view.value?.bitPattern
        var numberBits: [UInt64?] = []
        var places: [Int] = []
        func place(_ span: UnsafeRawBufferPointer) {
            guard let base = input.baseAddress, let at = span.baseAddress, at >= base, at < base + input.count else {
                places.append(-1)
                return
            }
            places.append(at - base)
        }
        place(view.eventID)
        place(view.userID)
        place(view.itemID)
        for slot in 0..<view.contextCount {
            switch view.context(slot) {
            case .number(let x): numberBits.append(x.bitPattern)
            case .string(let s): place(s)
            case .strings(let list): list.forEach(place)
            default: numberBits.append(nil)
            }
        }
        self.numberBits = numberBits
        self.places = places
    }

    var description: String { "\(event) value=\(String(describing: valueBits)) numbers=\(numberBits) places=\(places)" }
}

/// Decodes `bytes` with (`fastPath: true`: the fast path, falling back to the general parser) or without the fast path.
private func exact(_ bytes: [UInt8], _ decoder: inout EventDecoder, fastPath: Bool) -> Result<ExactDecode, RejectReason> {
    bytes.withUnsafeBytes { buffer in
        do throws(RejectReason) {
            return .success(ExactDecode(try decoder.decode(buffer, fastPath: fastPath), input: buffer))
        } catch {
            return .failure(error)
        }
    }
}

/// Whether the fast path alone accepts `bytes` (and then exactly as the general parser decodes them).
private func fastOnly(_ bytes: [UInt8], _ decoder: inout EventDecoder) -> ExactDecode? {
    bytes.withUnsafeBytes { buffer in decoder.decodeFastOnly(buffer).map { ExactDecode($0, input: buffer) } }
}

/// Runs inputs through a general-only decoder and a fast-path decoder side by side (each keeps its state from one
/// input to the next, as in a stream) and records every difference.
private struct Differential {
    var general: EventDecoder
    var fast: EventDecoder
    var probe: EventDecoder
    var compared = 0
    var fastAccepted = 0
    var accepted = 0
    var mismatches: [String] = []

    init(keys: [String]) {
        general = EventDecoder(contextKeys: keys)
        fast = EventDecoder(contextKeys: keys)
        probe = EventDecoder(contextKeys: keys)
    }

    mutating func check(_ bytes: [UInt8]) {
        let expected = exact(bytes, &general, fastPath: false)
        let actual = exact(bytes, &fast, fastPath: true)
        compared += 1
        if case .success = expected { accepted += 1 }
        if expected != actual {
            mismatches.append("\(String(decoding: bytes, as: UTF8.self).debugDescription):\n  general \(expected)\n  fast    \(actual)")
        }
        // The fast path on its own accepts only what the general parser accepts, with the same result.
        if let alone = fastOnly(bytes, &probe) {
            fastAccepted += 1
            if case .success(let e) = expected, e == alone {} else {
                mismatches.append("fast path alone accepted \(String(decoding: bytes, as: UTF8.self).debugDescription) as \(alone); general: \(expected)")
            }
        }
    }

    mutating func check(_ json: String) { check(Array(json.utf8)) }

    func report(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(mismatches.isEmpty, "\(what): \(mismatches.count) of \(compared) differ; first: \(mismatches.prefix(3).joined(separator: "\n"))",
                sourceLocation: sourceLocation)
    }
}

// MARK: - Corpus

/// Lines in the shape the fetch script writes (and variants of it the fast path is meant to accept).
private let canonicalLines = [
    #"{"event_id":"c-259-255","type":"click","user_id":"259","item_id":"255","ts":874724710000,"context":{"gender":"M","age":21,"occupation":"student","zip3":"488","genres":["Comedy","Romance"],"year":1997},"value":null}"#,
    #"{"event_id":"p-259-255","type":"purchase","user_id":"259","item_id":"255","ts":874724710000,"context":{"gender":"M","age":21,"occupation":"student","zip3":"488","genres":["Comedy","Romance"],"year":1997},"value":null}"#,
    #"{"event_id":"c-1-2","type":"click","user_id":"1","item_id":"2","ts":874965758000,"context":{"gender":"F","age":24,"occupation":"technician","zip3":"857","genres":["Animation","Children's","Comedy"],"year":1995},"value":null}"#,
    #"{"event_id":"e-1","type":"view","user_id":"u","item_id":"i","ts":0}"#,
    #"{"event_id":"e-2","type":"add_to_cart","user_id":"user-with-a-long-identifier","item_id":"x","ts":1,"value":19.99}"#,
    #"{"event_id":"e-3","type":"purchase","user_id":"7","item_id":"8","ts":123,"context":null,"value":-0.5e-3}"#,
    #"{"event_id":"e-4","type":"click","user_id":"7","item_id":"8","ts":999999999999999999,"context":{}}"#,
    #"{"event_id":"e-5","type":"click","user_id":"7","item_id":"8","ts":5,"context":{"genres":[],"flag":true,"off":false,"none":null,"age":-3,"gender":"F","a-rather-long-context-key":"v"},"value":0}"#,
]

/// Every input of the other decoder tests (golden, rejections, properties' hard numbers), verbatim or rebuilt.
private let testLines: [String] = {
    let required = #""event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1"#
    func event(_ extra: String) -> String { "{\(required),\(extra)}" }
    var lines = [
        exampleEvent,
        #"{"event_id":"a\"b\\c\/d\be\ff\ng\rh\ti","type":"view","user_id":"\u00e9\u4E2D\uD83D\uDE00","item_id":"x\u0000y","ts":1}"#,
        #"{"event_id":"ü-€-𝄞","type":"view","user_id":"ß","item_id":"日本","ts":5}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"g\u0065nres":["Sci\u002dFi","Film-Noir"],"occupation":"a\nb"}}"#,
        #"{"event_\u0069d":"e","\u0074ype":"purchase","user_id":"u","item_id":"i","t\u0073":7}"#,
        #"{"event_id":"e","type":"click","user_id":196,"item_id":-0,"ts":0}"#,
        " \n\t\r{ \"event_id\" : \"e\" ,\n\"type\"\t:\"view\" , \"user_id\":\"u\",\"item_id\":\"i\" , \"ts\" : 12 ,"
            + " \"context\" : { \"a\" : [ \"x\" , \"y\" ] , \"b\" : true } , \"value\" : 2.5 } \r\n ",
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"s":"x","n":-1.5e2,"t":true,"f":false,"z":null,"a":[],"other":{"ignored":1}}}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"s":"x","n":-1.5e2,"t":true,"f":false,"z":null,"a":[],"other":["q"],"o2":7}}"#,
        #"{"v":2,"event_id":"e","extra":{"a":[1,2.5e-3,{"b":null}],"c":"\u00e9"},"type":"view","user_id":"u","item_id":"i","ts":3,"z":[],"y":{},"x":false}"#,
        #"{"event_id":"e","type":"view","user_id":"u","item_id":"i","ts":9223372036854775807}"#,
        #"{"event_id":"a","type":"click","user_id":"1","item_id":"2","ts":1,"context":{"genres":["x\ty","z"],"age":3}}"#,
        #"{"event_id":"b","type":"view","user_id":"1","item_id":"2","ts":2}"#,
        #"{"event_id":"c\n","type":"view","user_id":"1","item_id":"2","ts":2,"context":{"genres":["only"]}}"#,
        #"{"event_id":"a","type":"click","user_id":"1","item_id":"2","ts":1,"context":{"genres":["p\"q"]}}"#,
        "", "   ", "null", "[]", #""text""#, "{", #"{"event_id""#, #"{"event_id":}"#, #"{"event_id" "e"}"#,
        #"{"event_id":"e",}"#, #"{"event_id":"e""type":"click"}"#, "{'event_id':'e'}", #"{"event_id":"e"#,
        "{\"a\":\"tab\there\"}", #"{"a":"\x41"}"#, #"{"a":"\u12G4"}"#, #"{"a":"\u12"}"#, #"{"a":01}"#, #"{"a":+1}"#,
        #"{"a":.5}"#, #"{"a":1.}"#, #"{"a":1e}"#, #"{"a":-}"#, #"{"a":--1}"#, #"{"a":tru}"#, #"{"a":nul}"#,
        #"{"a":True}"#, #"{"a":[1,]}"#, #"{"a":[1 2]}"#, #"{"a":{"b"}}"#, #"{"a":undefined}"#, #"{"a":nan}"#,
        #"{"event_id":"","type":"bogus","user_id":true,"ts":"x""#, #"{"type":"bogus"} x"#,
        #"{"event_id":1,"type":"click","user_id":"u","item_id":"i","ts":1}"#,
        #"{"event_id":"e","type":3,"user_id":"u","item_id":"i","ts":1}"#,
        #"{"event_id":"e","type":"click","user_id":true,"item_id":"i","ts":1}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":1.5,"ts":1}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":["i"],"ts":1}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":"1"}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1.0}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1e3}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":null}"#,
        event(#""value":"19.99""#), event(#""value":{}"#), event(#""context":[]"#), event(#""context":"device=mobile""#),
        event(#""value":NaN"#), event(#""value":Infinity"#), event(#""value":-Infinity"#), event(#""value":1e999"#),
        event(#""value":-2.5e400"#), event(#""context":{"age":NaN}"#), event(#""context":{"age":1e309}"#),
        event(#""context":{"other":-Infinity}"#), event(#""extra":{"x":[NaN]}"#),
        event(#""context":{"age":1,"age":2}"#), event(#""context":{"zip":1,"zip":2}"#), event(#""extra":1,"extra":2"#),
        #"{"event_id":"","type":"click","user_id":"u","item_id":"i","ts":1}"#,
        #"{"event_id":"e","type":"click","user_id":"","item_id":"i","ts":1}"#,
        #"{"event_id":"e","type":"click","user_id":"u","item_id":"","ts":1}"#,
        event(#""context":{"genres":{"a":"b"}}"#), event(#""context":{"genres":["a",1]}"#),
        event(#""context":{"genres":[["a"]]}"#), event(#""context":{"genres":[null]}"#),
        event(#""context":{"ignored":{}}"#), event(#""context":{"ignored":[true]}"#),
        event(#""deep":"# + String(repeating: "[", count: 63) + String(repeating: "]", count: 63)),
        event(#""deep":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64)),
    ]
    for type in EventType.allCases {
        lines.append(#"{"event_id":"x","type":"\#(type.name)","user_id":"u","item_id":"i","ts":0}"#)
    }
    for type in [#""Click""#, #""clicked""#, #""""#, #""add-to-cart""#, #""purchase ""#] {
        lines.append(#"{"event_id":"e","type":\#(type),"user_id":"u","item_id":"i","ts":1}"#)
    }
    for escape in [#"\uD800"#, #"\uDC00"#, #"\uD83Dx"#, #"\uD83D\u0041"#, #"\uDE00\uD83D"#] {
        lines.append(#"{"event_id":"\#(escape)","type":"click","user_id":"u","item_id":"i","ts":1}"#)
    }
    for field in ["event_id", "type", "user_id", "item_id", "ts", "context", "value"] {
        lines.append("{\(required),\"context\":{},\"value\":null,\"\(field)\":" + (field == "ts" ? "1" : #""e""#) + "}")
    }
    for tail in ["x", "{}", ",", "\u{0}", "//", "]", "\u{FEFF}", "", " ", "\n", "\r"] { lines.append("{\(required)} \(tail)") }
    for ts in ["-1", "9223372036854775808", "18446744073709551616", "100000000000000000000000"] {
        lines.append(#"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":\#(ts)}"#)
    }
    for value in hardNumbers {
        lines.append(#"{"event_id":"e","type":"purchase","user_id":"u","item_id":"i","ts":0,"value":\#(value)}"#)
    }
    return lines
}()

/// Invalid UTF-8 sequences (from the rejection tests).
private let badUTF8: [[UInt8]] = [
    [0xFF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
    [0xF5, 0x80, 0x80, 0x80], [0x80], [0xC3], [0xE2, 0x82], [0xC3, 0x28],
]

/// An event as (key, value text) members, and its context as (key, value text) members, for structural mutations.
private struct Shape {
    var members: [(String, String)]
    var context: [(String, String)]

    static let movieLens = Shape(
        members: [
            ("event_id", #""c-259-255""#), ("type", #""click""#), ("user_id", #""259""#), ("item_id", #""255""#),
            ("ts", "874724710000"), ("context", ""), ("value", "null"),
        ],
        context: [
            ("gender", #""M""#), ("age", "21"), ("occupation", #""student""#), ("zip3", #""488""#),
            ("genres", #"["Comedy","Romance"]"#), ("year", "1997"),
        ])

    func json(ws: String = "") -> String {
        let contextText = "{" + context.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
        return "{" + members.map { key, value in
            "\"\(key)\":" + (key == "context" && value.isEmpty ? contextText : value)
        }.joined(separator: ",") + "}"
    }
}

/// Alternatives for each member's value: valid and invalid, ordinary and odd.
private let alternatives: [String: [String]] = [
    "event_id": [#""e""#, #""""#, "1", "null", #""a\"b""#, #""\u0041""#, #""é""#, #""a/b""#, #""\/""#, #""tab\there""#],
    "type": [#""click""#, #""purchase""#, #""view""#, #""add_to_cart""#, #""Click""#, #""clicks""#, #""""#, "1",
             #""purchase ""#, #""vie\u0077""#, "null"],
    "user_id": [#""u""#, #""""#, "0", "196", "-1", "-0", "1.5", "1e3", "01", "true", "null", #"["i"]"#, #""a\"b""#,
                #""é""#, #""1234567890123456789""#, #""12345678""#, #""1234567""#],
    "item_id": [#""i""#, #""""#, "0", "242", "-7", "2.5", "false", #"{"a":1}"#, #""\u0032""#, #""x y""#],
    "ts": ["0", "-0", "00", "01", "-1", "1.0", "1e3", "1E3", "999999999999999999", "1000000000000000000",
           "12345678", "123456789", "1234567a", "0012345678", "1234567.5", "123456789012345678e1", "9",
           "9223372036854775807", "9223372036854775808", "18446744073709551616", #""1""#, "null", "true", "NaN", "1.",
           ".5", "+1", "12a", "-", "1.5e2"],
    "value": ["null", "0", "-0", "19.99", "7", "-7", "123456789012345", "1234567890123456", "00", "1e2", "5.25", "1e999", "-2.5e400", "NaN", "Infinity", "-Infinity", #""19.99""#, "{}", "[]",
              "nul", "nulls", "1E+2", "-", "--1", "0.1e-5", "123456789012345678901234567890", "true", "01", "1.", "-x"],
    "context": ["null", "{}", "[]", #""x""#, "nul", #"{"a":{}}"#, "{ }", #"{"gender":"M",}"#, #"{,}"#, "true", "1"],
]

/// Alternatives for a context member's value.
private let contextAlternatives = [
    #""x""#, #""""#, "1", "-1", "1.5", "-0", "0", "01", "1e999", "-1e999", "NaN", "Infinity", "true", "false", "null",
    "tru", "fals", "falsey", "nulll", "[]", #"["a"]"#, #"["a","b"]"#, #"["a",1]"#, #"[["a"]]"#, "[null]", "{}",
    #"{"a":"b"}"#, #"["a",]"#, #"["a\u0041"]"#, #""\n""#, #"[ "a" ]"#, "-Infinity", #"["é"]"#, #""é""#, "[", #"[""#,
    "1e", "-", "2.5e-3", "123456789012345678901234567890", #""a\"b""#, "123456789012345", "-123456789012345",
    "1234567890123456", "9007199254740993", "00", "-01", "1E2", "7e", "5.", "-", "-a", "+1", "1.0", "0.0", "-0.0",
]

/// The shape with entry `i` of the list at `list` swapped with each later entry, then with it removed.
private func appendSwapsAndRemoval(
    of i: Int, in list: WritableKeyPath<Shape, [(String, String)]>, of shape: Shape, to out: inout [String]
) {
    let n = shape[keyPath: list].count
    for j in (i + 1)..<max(n, i + 1) where j < n {
        var s = shape
        s[keyPath: list].swapAt(i, j)
        out.append(s.json())
    }
    var s = shape
    s[keyPath: list].remove(at: i)
    out.append(s.json())
}

/// Structural variants of a shape: reordered, dropped, duplicated, unknown and escaped members, changed values,
/// whitespace, and the same for the context object.
private func structuralVariants(_ shape: Shape) -> [String] {
    var out: [String] = []
    let n = shape.members.count
    // Reordered members (every swap) and dropped members.
    for i in 0..<n { appendSwapsAndRemoval(of: i, in: \.members, of: shape, to: &out) }
    // Duplicated members (next to the original and at the end), unknown members everywhere, escaped keys.
    for i in 0..<n {
        var s = shape
        s.members.insert(shape.members[i], at: i + 1)
        out.append(s.json())
        s = shape
        s.members.append(shape.members[i])
        out.append(s.json())
        s = shape
        let key = shape.members[i].0
        s.members[i].0 = "\\u00" + String(key.utf8.first!, radix: 16) + key.dropFirst()
        out.append(s.json())
        s = shape
        s.members[i].0 = key + "x"
        out.append(s.json())
        s = shape
        s.members[i].0 = String(key.dropLast())
        out.append(s.json())
    }
    for i in 0...n {
        for unknown in [("x", "1"), ("v", #"{"a":[1,"b",null]}"#), ("event_idx", #""e""#), ("", "null")] {
            var s = shape
            s.members.insert(unknown, at: i)
            out.append(s.json())
        }
    }
    // Each member's value replaced by each alternative.
    for i in 0..<n {
        for alternative in alternatives[shape.members[i].0] ?? [] {
            var s = shape
            s.members[i].1 = alternative
            out.append(s.json())
        }
    }
    // The context: reordered, dropped, duplicated, unknown and escaped keys, changed values, long keys.
    let m = shape.context.count
    for i in 0..<m {
        appendSwapsAndRemoval(of: i, in: \.context, of: shape, to: &out)
        var s = shape
        s.context.insert(shape.context[i], at: i + 1)
        out.append(s.json())
        s = shape
        let key = shape.context[i].0
        s.context[i].0 = "\\u00" + String(key.utf8.first!, radix: 16) + key.dropFirst()
        out.append(s.json())
        s = shape
        s.context[i].0 = key + "-with-a-longer-name"
        out.append(s.json())
        for alternative in contextAlternatives {
            s = shape
            s.context[i].1 = alternative
            out.append(s.json())
        }
    }
    for i in 0...m {
        var s = shape
        s.context.insert(("", #""e""#), at: i)
        out.append(s.json())
        s = shape
        s.context.insert(("nested", #"{"a":1}"#), at: i)
        out.append(s.json())
    }
    // Whitespace (and other odd bytes) before and after every structural character.
    let base = Array(shape.json().utf8)
    for (i, byte) in base.enumerated() where byte == UInt8(ascii: ":") || byte == UInt8(ascii: ",")
        || byte == UInt8(ascii: "{") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "[") || byte == UInt8(ascii: "]")
    {
        for ws in [" ", "\t", "\n", "\r"] {
            var before = base
            before.insert(contentsOf: Array(ws.utf8), at: i)
            out.append(String(decoding: before, as: UTF8.self))
            var after = base
            after.insert(contentsOf: Array(ws.utf8), at: i + 1)
            out.append(String(decoding: after, as: UTF8.self))
        }
    }
    for (prefix, suffix) in [(" ", ""), ("", " "), ("\n", ""), ("", "\n"), ("", "\r"), ("\r\n", "\r\n"), ("", "x"), ("", "}")] {
        out.append(prefix + shape.json() + suffix)
    }
    return out
}

/// Interesting bytes for replacement and insertion.
private let mutationBytes: [UInt8] = Array("\"\\{}[],:0-+.eEnt a\u{0}\t\n".utf8) + [0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xFF]

/// Every truncation, every single-byte deletion, replacement (by each of `mutationBytes`) and insertion of `line`.
private func byteVariants(_ line: [UInt8]) -> [[UInt8]] {
    var out: [[UInt8]] = []
    for length in 0..<line.count { out.append(Array(line[..<length])) }
    for i in line.indices {
        var deleted = line
        deleted.remove(at: i)
        out.append(deleted)
        for byte in mutationBytes where byte != line[i] {
            var replaced = line
            replaced[i] = byte
            out.append(replaced)
        }
    }
    for i in 0...line.count {
        for byte in [UInt8(ascii: " "), UInt8(ascii: "\""), UInt8(ascii: ","), UInt8(ascii: "0"), UInt8(ascii: "\\"), 0xC3] {
            var inserted = line
            inserted.insert(byte, at: i)
            out.append(inserted)
        }
    }
    return out
}

/// A random line in the canonical shape (what the fast path is for), for the checksum run. Draws only with
/// `SplitMix64.next()` (not the standard library's `random(in:using:)`), so the corpus, and the pinned checksum, stay
/// the same across Swift versions.
private func canonicalRandomLine(_ rng: inout SplitMix64) -> String {
    func pick(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    func oneIn(_ n: Int) -> Bool { pick(n) == 0 }
    let occupations = ["student", "writer", "technician", "other", "executive", "administrator", "programmer"]
    let genres = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Drama", "Film-Noir", "Sci-Fi"]
    let types = ["click", "purchase", "view", "add_to_cart"]
    let user = 1 + pick(943)
    let item = 1 + pick(1682)
    let type = types[pick(types.count)]
    let ts = oneIn(10) ? Int64(rng.next() % 1_000_000_000_000_000_000) : Int64(rng.next() % 2_000_000_000_001)
    var line = #"{"event_id":"\#(type.prefix(1))-\#(user)-\#(item)","type":"\#(type)","user_id":"\#(user)","item_id":"\#(item)","ts":\#(ts)"#
    if !oneIn(10) {
        let list = genres.filter { _ in oneIn(4) }.map { "\"\($0)\"" }.joined(separator: ",")
        line += #","context":{"gender":"\#(oneIn(2) ? "M" : "F")","age":\#(7 + pick(67)),"#
            + #""occupation":"\#(occupations[pick(occupations.count)])","zip3":"\#(100 + pick(900))","#
            + #""genres":[\#(list)],"year":\#(1922 + pick(77))}"#
    } else if oneIn(2) {
        line += #","context":null"#
    }
    switch pick(3) {
    case 0: line += #","value":null"#
    case 1: line += #","value":\#(pick(100_000)).\#(pick(100))"#
    default: break
    }
    return line + "}"
}

/// FNV-1a over the decoded fields (type, ts, value, ids, context values), per event and chained.
private struct Checksum {
    var state: UInt64 = 0xCBF2_9CE4_8422_2325

    mutating func add(_ byte: UInt8) {
        state = (state ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
    }

    mutating func add(_ word: UInt64) { for i in 0..<8 { add(UInt8(truncatingIfNeeded: word >> (8 * i))) } }

    mutating func add(_ bytes: UnsafeRawBufferPointer) {
        add(UInt64(bytes.count))
        for b in bytes { add(b) }
    }

    mutating func add(_ view: EventView) {
        add(view.type.rawValue)
        add(UInt64(bitPattern: view.timestamp))
        add(view.value.map { $0.bitPattern } ?? 0xFFFF_FFFF_FFFF_FFFF)
        add(view.eventID)
        add(view.userID)
        add(view.itemID)
        for slot in 0..<view.contextCount {
            switch view.context(slot) {
            case .absent: add(UInt8(0))
            case .null: add(UInt8(1))
            case .string(let s): add(UInt8(2)); add(s)
            case .number(let x): add(UInt8(3)); add(x.bitPattern)
            case .bool(let b): add(UInt8(b ? 4 : 5))
            case .strings(let list): add(UInt8(6)); add(UInt64(list.count)); list.forEach { add($0) }
            }
        }
    }
}

// MARK: - Tests

@Suite("EventDecoder fast path")
struct EventDecoderFastPathTests {
    /// The pipelines' keys (some context keys extracted, some not), others, and none.
    static let keySets: [[String]] = [
        ["gender", "age", "occupation", "genres"],
        ["genres", "year", "zip3", "flag", "none", "off", "a-rather-long-context-key", "", "b"],
        [],
    ]

    @Test func literalWordsSpellTheirText() {
        func word(_ text: String, from: Int) -> UInt64 {
            let bytes = Array(text.utf8)
            var w: UInt64 = 0
            for i in 0..<8 where from + i < bytes.count { w |= UInt64(bytes[from + i]) << (8 * UInt64(i)) }
            return w
        }
        func check(_ text: String, _ head: UInt64, _ tail: UInt64, _ length: Int) {
            #expect(text.utf8.count == length, "\(text)")
            #expect(word(text, from: 0) == head, "\(text) head")
            #expect(word(text, from: length - 8) == tail, "\(text) tail")
        }
        check(#"{"event_id":""#, FastLiteral.eventIDHead, FastLiteral.eventIDTail, FastLiteral.eventIDLength)
        check(#","type":""#, FastLiteral.typeHead, FastLiteral.typeTail, FastLiteral.typeLength)
        check(#","user_id":""#, FastLiteral.userIDHead, FastLiteral.userIDTail, FastLiteral.userIDLength)
        check(#","item_id":""#, FastLiteral.itemIDHead, FastLiteral.itemIDTail, FastLiteral.itemIDLength)
        check(#","context":"#, FastLiteral.contextHead, FastLiteral.contextTail, FastLiteral.contextLength)
        check(#","value":"#, FastLiteral.valueHead, FastLiteral.valueTail, FastLiteral.valueLength)
        #expect(word(#","ts":"#, from: 0) == FastLiteral.ts && FastLiteral.tsLength == 6)
        #expect(FastLiteral.tsMask == 1 << 48 - 1)
        #expect(UInt64(FastLiteral.trueWord) == word("true", from: 0))
        #expect(UInt64(FastLiteral.nullWord) == word("null", from: 0))
        #expect(UInt64(FastLiteral.falsWord) == word("fals", from: 0))
        #expect(word(#"click""#, from: 0) == FastLiteral.click && FastLiteral.clickMask == 1 << 48 - 1)
        #expect(word(#"view""#, from: 0) == FastLiteral.view && FastLiteral.viewMask == 1 << 40 - 1)
        #expect(word("purchase", from: 0) == FastLiteral.purchase)
        #expect(word("add_to_c", from: 0) == FastLiteral.addToC)
        #expect(UInt64(FastLiteral.artQuote) == word(#"art""#, from: 0))
    }

    @Test func eightDigitsAtOnceAgreesWithOneByOne() {
        func reference(_ w: UInt64) -> UInt64? {
            var v: UInt64 = 0
            for i in 0..<8 {
                let d = UInt8(truncatingIfNeeded: w >> (8 * UInt64(i))) &- UInt8(ascii: "0")
                guard d < 10 else { return nil }
                v = v * 10 + UInt64(d)
            }
            return v
        }
        var rng = SplitMix64(seed: 0xD1_6175)
        let interesting: [UInt8] = [0x00, 0x2F, 0x30, 0x35, 0x39, 0x3A, 0x3F, 0x40, 0x7F, 0x80, 0xC9, 0xF9, 0xFA, 0xFF]
        for i in 0..<20_000 {
            var w: UInt64 = 0
            for b in 0..<8 {
                let byte: UInt8 = switch i % 3 {
                case 0: UInt8(ascii: "0") + UInt8(rng.next() % 10)
                case 1: rng.next() % 8 == 0 ? interesting[Int(rng.next() % UInt64(interesting.count))] : UInt8(ascii: "0") + UInt8(rng.next() % 10)
                default: UInt8(truncatingIfNeeded: rng.next())
                }
                w |= UInt64(byte) << (8 * UInt64(b))
            }
            #expect(EventParser.eightDigits(w) == reference(w), "\(String(w, radix: 16))")
            if EventParser.eightDigits(w) != reference(w) { return }
        }
    }

    @Test func theFastPathAcceptsTheCanonicalShapeExactlyAsTheGeneralParserDecodesIt() {
        for keys in Self.keySets {
            var differential = Differential(keys: keys)
            for line in canonicalLines { differential.check(line) }
            // Twice: the second round runs with the context keys remembered from the first.
            for line in canonicalLines { differential.check(line) }
            differential.report("canonical lines, keys \(keys)")
            #expect(differential.fastAccepted == differential.compared, "keys \(keys)")
        }
    }

    @Test func everyLineOfTheOtherDecoderTestsDecodesTheSame() {
        for keys in Self.keySets + [["age"], ["genres"], ["s", "n", "t", "f", "z", "a", "missing"], ["a", "b"]] {
            var differential = Differential(keys: keys)
            for line in testLines { differential.check(line) }
            let prefix = Array(#"{"event_id":"e","type":"click","user_id":"u"#.utf8)
            let suffix = Array(#"","item_id":"i","ts":1}"#.utf8)
            let required = #""event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1"#
            for bad in badUTF8 {
                differential.check(prefix + bad + suffix)
                differential.check(Array(#"{"x":"#.utf8) + [0x22] + bad + [0x22] + Array(",\(required)}".utf8))
                differential.check([0x7B, 0x22] + bad + Array(#"":1,"#.utf8) + Array("\(required)}".utf8))
                for line in canonicalLines.prefix(2) {
                    // Inside each string of a canonical line.
                    var bytes = Array(line.utf8)
                    for at in bytes.indices.reversed() where bytes[at] == UInt8(ascii: "\"") && at % 3 == 0 {
                        bytes.insert(contentsOf: bad, at: at)
                        differential.check(bytes)
                        bytes.removeSubrange(at..<(at + bad.count))
                    }
                }
            }
            differential.report("test lines, keys \(keys)")
            #expect(differential.accepted >= 50 && differential.fastAccepted >= 35, "keys \(keys): accepted \(differential.accepted), by the fast path \(differential.fastAccepted), of \(differential.compared)")
        }
    }

    @Test func structuralVariantsOfTheCanonicalShapeDecodeTheSame() {
        var shapes = [Shape.movieLens]
        var short = Shape.movieLens
        short.members = Array(short.members.prefix(5))
        shapes.append(short)
        var noValue = Shape.movieLens
        noValue.members.removeLast()
        shapes.append(noValue)
        var variants: [String] = []
        for shape in shapes { variants += structuralVariants(shape) }
        for keys in Self.keySets {
            var differential = Differential(keys: keys)
            // Alternate with a canonical line, so that remembered context keys are exercised both ways.
            for variant in variants {
                differential.check(variant)
                differential.check(canonicalLines[0])
            }
            differential.report("structural variants, keys \(keys)")
            #expect(differential.fastAccepted > differential.compared / 2)
            #expect(differential.compared - differential.accepted > variants.count / 5)
        }
    }

    @Test func manyArrayStringsFirstGrowTheSpanBufferThenTakeTheFastPath() {
        let genres = (0..<150).map { "\"g\($0)\"" }.joined(separator: ",")
        let line = #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"genres":[\#(genres)],"age":3}}"#
        var differential = Differential(keys: ["genres", "age"])
        for _ in 0..<3 { differential.check(line) }
        differential.report("many array strings")
        #expect(differential.accepted == 3)
        // The span buffer starts with 64 entries: the fast path bails out until the general parser has grown it.
        var decoder = EventDecoder(contextKeys: ["genres", "age"])
        let bytes = Array(line.utf8)
        #expect(fastOnly(bytes, &decoder) == nil)
        #expect(throws: Never.self) { _ = try exact(bytes, &decoder, fastPath: true).get() }
        #expect(fastOnly(bytes, &decoder) == (try? exact(bytes, &decoder, fastPath: false).get()))
        #expect(fastOnly(bytes, &decoder) != nil)
    }

    @Test func byteLevelMutationsDecodeTheSame() {
        var differential = Differential(keys: Self.keySets[0])
        for line in [canonicalLines[0], canonicalLines[4], canonicalLines[7]] {
            for variant in byteVariants(Array(line.utf8)) {
                differential.check(variant)
            }
        }
        differential.report("byte mutations")
        // Agreement on rejects alone would prove little: many mutations still decode, on both paths.
        #expect(differential.accepted >= 4000 && differential.fastAccepted >= 3000, "accepted \(differential.accepted), by the fast path \(differential.fastAccepted), of \(differential.compared)")
        var fresh = Differential(keys: Self.keySets[1])
        for variant in byteVariants(Array(canonicalLines[5].utf8)) { fresh.check(variant) }
        fresh.report("byte mutations, other keys")
        #expect(fresh.accepted >= 400 && fresh.fastAccepted >= 100, "accepted \(fresh.accepted), by the fast path \(fresh.fastAccepted), of \(fresh.compared)")
    }

    @Test func randomlyGeneratedEventsDecodeTheSame() {
        let keys = ["gender", "age", "occupation", "genres", "flag"]
        var generator = EventGenerator(seed: 0xFA57_0000, keys: keys)
        var differential = Differential(keys: keys)
        for _ in 0..<1500 { differential.check(generator.event().json) }
        differential.report("generated events")
        // The generator writes valid events in varied shapes: the general parser accepts (nearly) all of them.
        #expect(differential.accepted >= 1400, "accepted \(differential.accepted) of \(differential.compared)")
    }

    @Test func aGeneratedCanonicalCorpusHasTheSameChecksumBothWays() {
        var rng = SplitMix64(seed: 0xC0FF_EE00)
        let lines = (0..<4000).map { _ in Array(canonicalRandomLine(&rng).utf8) }
        let keys = Self.keySets[0]
        var general = EventDecoder(contextKeys: keys)
        var fast = EventDecoder(contextKeys: keys)
        var probe = EventDecoder(contextKeys: keys)
        var generalSum = Checksum(), fastSum = Checksum()
        var fastAccepted = 0
        for line in lines {
            line.withUnsafeBytes { buffer in
                if let view = try? general.decode(buffer, fastPath: false) { generalSum.add(view) } else { generalSum.add(UInt8(0xEE)) }
                if let view = try? fast.decode(buffer, fastPath: true) { fastSum.add(view) } else { fastSum.add(UInt8(0xEE)) }
                if probe.decodeFastOnly(buffer) != nil { fastAccepted += 1 }
            }
        }
        #expect(generalSum.state == fastSum.state)
        #expect(fastAccepted == lines.count)
        // Pinned: a change of either parser's results on this corpus shows up here.
        #expect(generalSum.state == 0xEB2D_4A7B_E849_A8D4, "checksum \(String(generalSum.state, radix: 16))")
    }
}
