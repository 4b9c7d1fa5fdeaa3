import Events
import Pipelines

/// Reads the body of `POST /v1/rank` strictly into a ``RankQuery``: `{"user_id": "…", "context": {…},
/// "candidates": ["…", …], "k": 10}` — `user_id` required, the others optional.
///
/// Invariant: any byte sequence gets either a query or a ``RankRequestError`` naming what is wrong and where; never a
/// crash, never unbounded work (one pass, nesting at most ``maxDepth``). Rejected: invalid UTF-8, malformed JSON,
/// unknown or repeated fields, a repeated context key, a non-string candidate, an empty or oversized candidate list
/// (a repeated candidate is the ranker's to refuse: it finds repeats among catalog indices, cheaper than here), a `k` that is not an integer in 1…1000, anything after the object. The query keeps
/// byte ranges of the body's own JSON tokens (user id, context members, candidates), so they reach the model and the
/// decision log as sent, with candidate ids also unescaped (for the catalog lookup).
struct RankRequestParser {
    static let maxDepth = 32
    static let maxK = 1000

    let bytes: [UInt8]
    var i = 0

    init(_ body: [UInt8]) { bytes = body }

    /// Parses `body`; at most `maxCandidates` candidates, `defaultK` when `k` is absent.
    static func parse(_ body: [UInt8], maxCandidates: Int, defaultK: Int, into query: inout RankQuery) throws(RankRequestError) {
        guard String(validating: body, as: UTF8.self) != nil else { throw RankRequestError("body is not valid UTF-8") }
        var parser = RankRequestParser(body)
        query.body = body
        query.context.removeAll(keepingCapacity: true)
        query.candidates = nil
        query.candidateIDs.removeAll(keepingCapacity: true)
        query.candidateIDRanges.removeAll(keepingCapacity: true)
        query.k = defaultK
        try parser.parseObject(maxCandidates: maxCandidates, into: &query)
    }

    mutating func parseObject(maxCandidates: Int, into query: inout RankQuery) throws(RankRequestError) {
        skipSpace()
        try expect(UInt8(ascii: "{"), "a JSON object")
        var seen: Set<String> = []
        var user: Range<Int>?
        var key: [UInt8] = []
        while try nextMember(seen.count, key: &key) != nil {
            let name = String(decoding: key, as: UTF8.self)
            guard ["user_id", "context", "candidates", "k"].contains(name) else {
                throw RankRequestError("unknown field '\(name)' (user_id, context, candidates, k)")
            }
            guard seen.insert(name).inserted else { throw RankRequestError("field '\(name)' appears twice") }
            switch name {
            case "user_id":
                guard peek == UInt8(ascii: "\"") else { throw RankRequestError("user_id: expected a string") }
                var id: [UInt8] = []
                let token = try string(unescapedInto: &id)
                guard !id.isEmpty else { throw RankRequestError("user_id: must not be empty") }
                user = token
            case "context":
                try context(into: &query)
            case "candidates":
                try candidates(maxCandidates: maxCandidates, into: &query)
            default:  // "k"
                let start = i
                try number()
                let text = String(decoding: bytes[start..<i], as: UTF8.self)
                guard let k = Int(text), (1...Self.maxK).contains(k) else {
                    throw RankRequestError("k: expected an integer in 1...\(Self.maxK), got \(text)")
                }
                query.k = k
            }
        }
        skipSpace()
        guard i == bytes.count else { throw RankRequestError("unexpected data after the object at byte \(i)") }
        guard let user else { throw RankRequestError("user_id: missing") }
        query.user = user
    }

    mutating func context(into query: inout RankQuery) throws(RankRequestError) {
        guard peek == UInt8(ascii: "{") else { throw RankRequestError("context: expected an object") }
        i += 1
        var key: [UInt8] = []
        var keys: Set<String> = []
        while let start = try nextMember(keys.count, key: &key) {
            let name = String(decoding: key, as: UTF8.self)
            guard keys.insert(name).inserted else { throw RankRequestError("context: key '\(name)' appears twice") }
            try value(depth: 2)
            query.context.append((name, start..<i))
        }
    }

    mutating func candidates(maxCandidates: Int, into query: inout RankQuery) throws(RankRequestError) {
        guard peek == UInt8(ascii: "[") else { throw RankRequestError("candidates: expected a list of item ids") }
        i += 1
        var tokens: [Range<Int>] = []
        var id: [UInt8] = []
        while try nextElement(tokens.count) {
            guard peek == UInt8(ascii: "\"") else { throw RankRequestError("candidates[\(tokens.count)]: expected a string item id") }
            guard tokens.count < maxCandidates else {
                throw RankRequestError("candidates: more than \(maxCandidates) (serving.max_candidates)")
            }
            let token = try string(unescapedInto: &id)
            guard !id.isEmpty else { throw RankRequestError("candidates[\(tokens.count)]: empty item id") }
            let start = query.candidateIDs.count
            query.candidateIDs.append(contentsOf: id)
            query.candidateIDRanges.append(start..<query.candidateIDs.count)
            tokens.append(token)
        }
        guard !tokens.isEmpty else { throw RankRequestError("candidates: empty list (omit it to rank the candidate pool)") }
        query.candidates = tokens
    }

    /// The next member of an object whose `{` was read, after `count` members: nil past its `}`, else where the
    /// member starts, with its key unescaped in `key` and the position at its value.
    mutating func nextMember(_ count: Int, key: inout [UInt8]) throws(RankRequestError) -> Int? {
        guard try nextElement(count, closing: UInt8(ascii: "}")) else { return nil }
        let start = i
        _ = try string(unescapedInto: &key)
        skipSpace()
        try expect(UInt8(ascii: ":"), "':' after a key")
        skipSpace()
        return start
    }

    /// The next element of a list (or member of an object) whose opening bracket was read, after `count` of them:
    /// false past the `closing` bracket, else true with the position at the element.
    mutating func nextElement(_ count: Int, closing: UInt8 = UInt8(ascii: "]")) throws(RankRequestError) -> Bool {
        skipSpace()
        if peek == closing {
            i += 1
            return false
        }
        if count > 0 {
            try expect(UInt8(ascii: ","), "',' or '\(Character(Unicode.Scalar(closing)))'")
            skipSpace()
        }
        return true
    }

    // MARK: JSON

    var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

    mutating func skipSpace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    /// `what` is built only for the error (it is asked for at every element of a list).
    mutating func expect(_ c: UInt8, _ what: @autoclosure () -> String) throws(RankRequestError) {
        guard peek == c else { throw malformed("expected \(what())") }
        i += 1
    }

    func malformed(_ what: String) -> RankRequestError {
        guard let c = peek else { return RankRequestError("malformed JSON: \(what), got the end of the body") }
        let shown = c >= 0x20 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "byte 0x\(String(c, radix: 16))"
        return RankRequestError("malformed JSON at byte \(i): \(what), got \(shown)")
    }

    /// Any JSON value (validated, skipped).
    mutating func value(depth: Int) throws(RankRequestError) {
        guard depth <= Self.maxDepth else { throw RankRequestError("malformed JSON: nested deeper than \(Self.maxDepth)") }
        guard let c = peek else { throw malformed("a value") }
        switch c {
        case UInt8(ascii: "\""):
            var scratch: [UInt8] = []
            _ = try string(unescapedInto: &scratch)
        case UInt8(ascii: "{"):
            i += 1
            var scratch: [UInt8] = []
            var n = 0
            while try nextMember(n, key: &scratch) != nil {
                try value(depth: depth + 1)
                n += 1
            }
        case UInt8(ascii: "["):
            i += 1
            var n = 0
            while try nextElement(n) {
                try value(depth: depth + 1)
                n += 1
            }
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    mutating func literal(_ word: StaticString) throws(RankRequestError) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count else { throw malformed("'\(word)'") }
        for j in 0..<n where bytes[i + j] != word.utf8Start[j] { throw malformed("'\(word)'") }
        i += n
    }

    /// A JSON number (RFC 8259 grammar).
    mutating func number() throws(RankRequestError) {
        let start = i
        func digits() -> Int {
            let s = i
            while let c = peek, c >= 0x30, c <= 0x39 { i += 1 }
            return i - s
        }
        if peek == UInt8(ascii: "-") { i += 1 }
        guard let first = peek, first >= 0x30, first <= 0x39 else { i = start; throw malformed("a value") }
        if first == 0x30 { i += 1 } else { _ = digits() }
        if peek == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { throw malformed("digits after '.'") }
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            i += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { throw malformed("digits in the exponent") }
        }
    }

    /// A JSON string at `i`: returns its token's range (quotes included) and writes its unescaped UTF-8 bytes.
    mutating func string(unescapedInto out: inout [UInt8]) throws(RankRequestError) -> Range<Int> {
        out.removeAll(keepingCapacity: true)
        let start = i
        try expect(UInt8(ascii: "\""), "a string")
        // Most strings hold no escape and no control character: found by one scan and copied whole.
        let plainEnd = bytes.withUnsafeBufferPointer { b -> Int? in
            var j = i
            while j < b.count {
                let c = b[j]
                if c == UInt8(ascii: "\"") { return j }
                if c == UInt8(ascii: "\\") || c < 0x20 { return nil }
                j += 1
            }
            return nil
        }
        if let plainEnd {
            out.append(contentsOf: bytes[i..<plainEnd])
            i = plainEnd + 1
            return start..<i
        }
        while true {
            guard let c = peek else { throw malformed("the closing '\"' of a string") }
            i += 1
            switch c {
            case UInt8(ascii: "\""):
                return start..<i
            case UInt8(ascii: "\\"):
                let at = i - 1
                let decoded = bytes.withUnsafeBytes { b in
                    Result { () throws(JSONEscape.Failure) in try JSONEscape.decode(b, at: at, into: &out) }
                }
                switch decoded {
                case .success(let next): i = next
                case .failure(let error):
                    switch error {
                    case .invalidEscape(let at):
                        i = at
                        throw malformed(at == bytes.count ? "an escape" : "a valid escape")
                    case .badHex(let at):
                        i = at
                        throw malformed("4 hex digits")
                    case .loneSurrogate(let scalar, let at):
                        i = at
                        throw RankRequestError("malformed JSON at byte \(i): a lone surrogate \\u\(String(scalar, radix: 16))")
                    }
                }
            case 0x00..<0x20:
                i -= 1
                throw malformed("no control character inside a string")
            default:
                out.append(c)
            }
        }
    }
}

/// A request the ranking API refuses (answered 400 with `reason`).
struct RankRequestError: Error, Sendable {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
