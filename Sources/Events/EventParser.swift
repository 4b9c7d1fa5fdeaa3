// MARK: - Bytes

/// ASCII bytes the parser dispatches on.
enum Byte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let space = UInt8(ascii: " ")
    static let tab = UInt8(ascii: "\t")
    static let lineFeed = UInt8(ascii: "\n")
    static let carriageReturn = UInt8(ascii: "\r")
}

// MARK: - ValueKind

/// The kind of a JSON value the parser skipped over (for `wrong_type` details).
enum ValueKind: CustomStringConvertible {
    case string, number, object, array, bool, null, nonFinite

    var description: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .object: "an object"
        case .array: "an array"
        case .bool: "a boolean"
        case .null: "null"
        case .nonFinite: "a non-finite number"
        }
    }
}

// MARK: - TopField

/// The top-level fields the decoder knows. The raw value is the field's bit in ``EventParser/seen``.
enum TopField: UInt8 {
    case eventID = 0, type, userID, itemID, ts, context, value, rankingID, position, unknown

    /// `event_id`, `type`, `user_id`, `item_id` and `ts` must all be present.
    static let requiredMask: UInt16 = 0b1_1111

    var name: String {
        switch self {
        case .eventID: "event_id"
        case .type: "type"
        case .userID: "user_id"
        case .itemID: "item_id"
        case .ts: "ts"
        case .context: "context"
        case .value: "value"
        case .rankingID: "ranking_id"
        case .position: "position"
        case .unknown: "?"
        }
    }

    /// Classifies an (unescaped) key by length and little-endian word compares.
    @inline(__always)
    init(key: UnsafeRawBufferPointer) {
        @inline(__always) func w4(_ at: Int) -> UInt32 {
            UInt32(littleEndian: key.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        switch key.count {
        case 2:
            self = key[0] == UInt8(ascii: "t") && key[1] == UInt8(ascii: "s") ? .ts : .unknown
        case 4:
            self = w4(0) == 0x6570_7974 ? .type : .unknown  // "type"
        case 5:
            self = w4(0) == 0x756C_6176 && key[4] == UInt8(ascii: "e") ? .value : .unknown  // "valu" "e"
        case 7:
            switch (w4(0), w4(3)) {
            case (0x7265_7375, 0x6469_5F72): self = .userID  // "user" "r_id"
            case (0x6D65_7469, 0x6469_5F6D): self = .itemID  // "item" "m_id"
            case (0x746E_6F63, 0x7478_6574): self = .context  // "cont" "text"
            default: self = .unknown
            }
        case 8:
            switch (w4(0), w4(4)) {
            case (0x6E65_7665, 0x6469_5F74): self = .eventID  // "even" "t_id"
            case (0x6973_6F70, 0x6E6F_6974): self = .position  // "posi" "tion"
            default: self = .unknown
            }
        case 10:
            self = w4(0) == 0x6B6E_6172 && w4(4) == 0x5F67_6E69 && w4(6) == 0x6469_5F67 ? .rankingID : .unknown  // "rank" "ing_" "g_id"
        default:
            self = .unknown
        }
    }
}

// MARK: - EventParser

/// One pass over one event: a strict JSON scanner fused with the event schema.
///
/// Grammar errors throw ``SyntaxError`` at once. Schema errors (wrong type, unknown type, …) are recorded in
/// ``pending`` and parsing continues, so that input which is not JSON at all is always reported as such; the first
/// schema error is reported only if the whole input is well-formed.
struct EventParser {
    let start: UnsafePointer<UInt8>
    let end: UnsafePointer<UInt8>
    /// The cursor.
    var p: UnsafePointer<UInt8>
    /// Unescaped strings go here (capacity ≥ input size, never reallocated during a parse).
    let scratch: UnsafeMutablePointer<UInt8>
    var scratchUsed = 0
    /// The decoder's storage (owned by the decoder for the whole parse); its buffers are cached below so the hot
    /// loop touches no class properties.
    unowned(unsafe) let storage: DecoderStorage
    let keyBytes: UnsafeMutablePointer<UInt8>
    let keyStarts: UnsafeMutablePointer<Int>
    let keyCount: Int
    let rawSlots: UnsafeMutablePointer<RawSlot>
    let contextPatterns: UnsafeMutablePointer<ContextKeyPattern>
    var spans: UnsafeMutablePointer<UnsafeRawBufferPointer>
    var spanCapacity: Int
    /// Spans used so far in `spans`.
    var spanCount = 0

    // MARK: Results

    /// Bit `TopField.rawValue` is set once the field was seen.
    var seen: UInt16 = 0
    var type = EventType.click
    var timestamp: Int64 = 0
    var value: Double?
    var eventID = UnsafeRawBufferPointer(start: nil, count: 0)
    var userID = UnsafeRawBufferPointer(start: nil, count: 0)
    var itemID = UnsafeRawBufferPointer(start: nil, count: 0)
    var rankingID = UnsafeRawBufferPointer(start: nil, count: 0)
    var position: Int32 = -1
    /// The first schema-level problem.
    var pending: RejectReason?
    /// Offset of the first `NaN`/`Infinity` token skipped over, or -1.
    var nonFiniteAt = -1

    @inline(__always)
    init(_ input: UnsafeRawBufferPointer, storage: DecoderStorage) {
        let base = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        start = base
        end = base + input.count
        p = base
        scratch = storage.scratch
        self.storage = storage
        keyBytes = storage.keyBytes
        keyStarts = storage.keyStarts
        keyCount = storage.keyCount
        rawSlots = storage.rawSlots
        contextPatterns = storage.contextPatterns
        spans = storage.spans
        spanCapacity = storage.spanCapacity
    }

    // MARK: Helpers

    @inline(__always) var offset: Int { p - start }

    @inline(__always) func fail(_ problem: SyntaxError.Problem) -> SyntaxError {
        SyntaxError(problem, offset: p - start)
    }

    @inline(__always) func peek(_ byte: UInt8) -> Bool { p < end && p.pointee == byte }

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c &- Byte.zero < 10 }

    /// After an object member or array element: skips whitespace, then consumes `,` and the whitespace after it
    /// (returns false: another member follows) or `close` (returns true: the container ended); anything else, or the
    /// end of input, is `problem`.
    @inline(__always) mutating func endOfElement(closing close: UInt8, _ problem: SyntaxError.Problem) throws(SyntaxError) -> Bool {
        skipWhitespace()
        guard p < end else { throw fail(problem) }
        let c = p.pointee
        if c == Byte.comma {
            p += 1
            skipWhitespace()
            return false
        }
        guard c == close else { throw fail(problem) }
        p += 1
        return true
    }

    @inline(__always) mutating func skipWhitespace() {
        while p < end {
            let c = p.pointee
            guard c <= Byte.space, c == Byte.space || c == Byte.lineFeed || c == Byte.carriageReturn || c == Byte.tab
            else { return }
            p += 1
        }
    }

    /// Records a schema problem unless one is already recorded.
    mutating func note(_ code: RejectCode, field: String?, detail: String) {
        if pending == nil { pending = RejectReason(code, field: field, detail: detail) }
    }

    static func text(_ bytes: UnsafeRawBufferPointer) -> String { String(decoding: bytes, as: UTF8.self) }

    // MARK: Event

    /// Parses the whole input as one event object.
    mutating func parseEvent() throws(SyntaxError) {
        skipWhitespace()
        guard p < end else { throw fail(.emptyInput) }
        guard p.pointee == Byte.openBrace else { throw fail(.expectedObject) }
        p += 1
        skipWhitespace()
        if peek(Byte.closeBrace) {
            p += 1
        } else {
            // Producers usually write the members in one order: try the next key of that order first, as a 16-byte
            // compare of `"key":` (see `canonicalKey`). On any difference the general path parses the key; both
            // reach `parseMember` with the same field, key and offsets, so the result is the same either way.
            var expected = 0
            while true {
                guard peek(Byte.quote) else { throw fail(.expectedKey) }
                let keyOffset = offset
                if expected < Self.canonicalKeyCount, end - p >= 16 {
                    let c = Self.canonicalKey(expected)
                    let w0 = UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self))
                    let w1 = UInt64(littleEndian: UnsafeRawPointer(p + 8).loadUnaligned(as: UInt64.self))
                    if w0 & c.mask0 == c.word0 && w1 & c.mask1 == c.word1 {
                        let key = UnsafeRawBufferPointer(start: p + 1, count: c.length &- 3)
                        p += c.length
                        expected &+= 1
                        skipWhitespace()
                        try parseMember(field: c.field, key: key, keyOffset: keyOffset)
                        if try endOfElement(closing: Byte.closeBrace, .expectedCommaOrBrace) { break }
                        continue
                    }
                    expected = Self.canonicalKeyCount  // another order: parse keys in general from here on
                }
                let key = try parseString(keep: true)
                skipWhitespace()
                guard peek(Byte.colon) else { throw fail(.expectedColon) }
                p += 1
                skipWhitespace()
                try parseMember(field: TopField(key: key), key: key, keyOffset: keyOffset)
                if try endOfElement(closing: Byte.closeBrace, .expectedCommaOrBrace) { break }
            }
        }
        skipWhitespace()
        guard p == end else { throw fail(.trailingData) }
    }

    /// Number of members in the canonical order.
    static let canonicalKeyCount = 7

    /// The `i`-th member of the canonical order (`event_id, type, user_id, item_id, ts, context, value`) as the
    /// little-endian words of `"key":` padded to 16 bytes with zeros, the masks of its bytes, and its length.
    @inline(__always)
    static func canonicalKey(_ i: Int)
        -> (word0: UInt64, word1: UInt64, mask0: UInt64, mask1: UInt64, length: Int, field: TopField)
    {
        switch i {
        case 0: return (0x695F_746E_6576_6522, 0x0000_0000_003A_2264, ~0, 0x0000_0000_00FF_FFFF, 11, .eventID)  // "event_id":
        case 1: return (0x003A_2265_7079_7422, 0, 0x00FF_FFFF_FFFF_FFFF, 0, 7, .type)  // "type":
        case 2: return (0x6469_5F72_6573_7522, 0x0000_0000_0000_3A22, ~0, 0x0000_0000_0000_FFFF, 10, .userID)  // "user_id":
        case 3: return (0x6469_5F6D_6574_6922, 0x0000_0000_0000_3A22, ~0, 0x0000_0000_0000_FFFF, 10, .itemID)  // "item_id":
        case 4: return (0x0000_003A_2273_7422, 0, 0x0000_00FF_FFFF_FFFF, 0, 5, .ts)  // "ts":
        case 5: return (0x7478_6574_6E6F_6322, 0x0000_0000_0000_3A22, ~0, 0x0000_0000_0000_FFFF, 10, .context)  // "context":
        default: return (0x3A22_6575_6C61_7622, 0, ~0, 0, 8, .value)  // "value":
        }
    }

    /// Parses the value of one top-level member (the cursor is at the value); `field` is `TopField(key: key)`.
    @inline(__always)
    mutating func parseMember(field: TopField, key: UnsafeRawBufferPointer, keyOffset: Int) throws(SyntaxError) {
        if field != .unknown {
            let bit: UInt16 = 1 << field.rawValue
            if seen & bit != 0 {
                note(.duplicateField, field: field.name, detail: "duplicate key \"\(field.name)\" at byte \(keyOffset)")
                _ = try skipValue(depth: 1)
                return
            }
            seen |= bit
        }
        guard p < end else { throw fail(.expectedValue) }
        let c = p.pointee
        switch field {
        case .eventID:
            guard c == Byte.quote else { return try rejectValue(of: field, expected: "a string") }
            let at = offset
            eventID = try parseString(keep: true)
            if eventID.isEmpty { note(.emptyField, field: field.name, detail: "empty string for event_id at byte \(at)") }
        case .type:
            guard c == Byte.quote else { return try rejectValue(of: field, expected: "a string") }
            let at = offset
            let name = try parseString(keep: true)
            if let t = EventType(name: name) {
                type = t
            } else {
                let names = EventType.allCases.map(\.name).joined(separator: ", ")
                note(.unknownType, field: field.name,
                     detail: "unknown event type \"\(Self.text(name))\" at byte \(at) (expected one of \(names))")
            }
        case .userID, .itemID:
            let id: UnsafeRawBufferPointer
            let at = offset
            if c == Byte.quote {
                id = try parseString(keep: true)
                if id.isEmpty { note(.emptyField, field: field.name, detail: "empty string for \(field.name) at byte \(at)") }
            } else if c == Byte.minus || Self.isDigit(c) {
                if c == Byte.minus && p + 1 < end && !Self.isDigit(p[1]) {
                    return try rejectValue(of: field, expected: "a string or an integer")
                }
                let number = try scanNumber()
                guard number.isInteger else {
                    note(.wrongType, field: field.name,
                         detail: "expected a string or an integer for \(field.name) at byte \(at), found a fractional number")
                    return
                }
                id = UnsafeRawBufferPointer(start: number.start, count: number.end - number.start)
            } else {
                return try rejectValue(of: field, expected: "a string or an integer")
            }
            if field == .userID { userID = id } else { itemID = id }
        case .ts:
            if let n = try nonNegativeInteger(
                of: field, expected: "an integer (milliseconds)", maxDigits: 19, limit: UInt64(Int64.max),
                range: "a non-negative integer that fits Int64")
            { timestamp = Int64(n) }
        case .value:
            if c == UInt8(ascii: "n") {
                try consumeLiteral("null")
                value = nil
            } else if (c == Byte.minus && p + 1 < end && Self.isDigit(p[1])) || Self.isDigit(c) {
                let at = offset
                let x = try scanNumber().doubleValue
                if x.isFinite {
                    value = x
                } else {
                    note(.nonFinite, field: "value", detail: "number at byte \(at) for value is out of Double range")
                }
            } else {
                try rejectValue(of: field, expected: "a number or null")
            }
        case .rankingID:
            guard c == Byte.quote else { return try rejectValue(of: field, expected: "a string") }
            let at = offset
            rankingID = try parseString(keep: true)
            if rankingID.isEmpty { note(.emptyField, field: field.name, detail: "empty string for ranking_id at byte \(at)") }
        case .position:
            if let n = try nonNegativeInteger(
                of: field, expected: "an integer", maxDigits: 10, limit: UInt64(Int32.max), range: "an integer in 0...\(Int32.max)")
            { position = Int32(n) }
        case .context:
            if c == Byte.openBrace {
                try parseContext()
            } else if c == UInt8(ascii: "n") {
                try consumeLiteral("null")
            } else {
                try rejectValue(of: field, expected: "an object or null")
            }
        case .unknown:
            let before = nonFiniteAt
            _ = try skipValue(depth: 1)
            if before < 0 && nonFiniteAt >= 0 {
                note(.nonFinite, field: Self.text(key), detail: "non-finite number at byte \(nonFiniteAt)")
            }
        }
    }

    /// Skips a value of the wrong kind for `field`, recording `wrong_type` (or `non_finite` for `NaN`/`Infinity`).
    /// The value of `field` (the cursor at its first byte) as an integer in 0...`limit` of at most `maxDigits`
    /// digits (−0 counts as 0), or nil after noting why not: another type, a fraction or exponent, or out of range.
    mutating func nonNegativeInteger(
        of field: TopField, expected: String, maxDigits: Int, limit: UInt64, range: String
    ) throws(SyntaxError) -> UInt64? {
        let c = p[0]
        guard c == Byte.minus || Self.isDigit(c), !(c == Byte.minus && p + 1 < end && !Self.isDigit(p[1])) else {
            try rejectValue(of: field, expected: expected)
            return nil
        }
        let at = offset
        let number = try scanNumber()
        guard number.isInteger else {
            note(.wrongType, field: field.name, detail: "expected \(expected) for \(field.name) at byte \(at), found a fractional number or exponent")
            return nil
        }
        guard number.digits <= maxDigits, number.mantissa <= limit, !number.negative || number.mantissa == 0 else {
            note(.outOfRange, field: field.name, detail: "\(field.name) at byte \(at) must be \(range)")
            return nil
        }
        return number.mantissa
    }

    mutating func rejectValue(of field: TopField, expected: String) throws(SyntaxError) {
        let at = offset
        let kind = try skipValue(depth: 1)
        if kind == .nonFinite {
            note(.nonFinite, field: field.name, detail: "non-finite number for \(field.name) at byte \(at)")
        } else {
            note(.wrongType, field: field.name, detail: "expected \(expected) for \(field.name) at byte \(at), found \(kind)")
        }
    }

    // MARK: Context

    /// Parses the `context` object (the cursor is at `{`), filling the slots of the requested keys.
    mutating func parseContext() throws(SyntaxError) {
        p += 1
        skipWhitespace()
        if peek(Byte.closeBrace) {
            p += 1
            return
        }
        var position = 0
        while true {
            guard peek(Byte.quote) else { throw fail(.expectedKey) }
            let keyOffset = offset
            let key: UnsafeRawBufferPointer
            var slot: Int
            if let known = matchContextPattern(at: position, cursor: p) {
                // Same bytes `"key":` as the last event's key at this position: same key, same slot.
                key = UnsafeRawBufferPointer(start: p + 1, count: known.length &- 3)
                slot = known.slot
                p += known.length
            } else {
                let quote = p
                key = try parseString(keep: true)
                slot = self.slot(for: key)
                if p < end && p.pointee == Byte.colon {
                    rememberContextKey(at: position, quote: quote, colon: p, key: key, slot: slot)
                }
                skipWhitespace()
                guard peek(Byte.colon) else { throw fail(.expectedColon) }
                p += 1
            }
            position &+= 1
            skipWhitespace()
            if slot >= 0 && !rawSlots[slot].isAbsent {
                note(.duplicateField, field: "context." + Self.text(key),
                     detail: "duplicate context key \"\(Self.text(key))\" at byte \(keyOffset)")
                slot = -1
            }
            guard p < end else { throw fail(.expectedValue) }
            let at = offset
            let c = p.pointee
            switch c {
            case Byte.quote:
                let s = try parseString(keep: slot >= 0)
                if slot >= 0 { rawSlots[slot] = .string(s) }
            case _ where Self.isDigit(c) || (c == Byte.minus && p + 1 < end && Self.isDigit(p[1])):
                let x = try scanNumber().doubleValue
                if !x.isFinite {
                    note(.nonFinite, field: "context." + Self.text(key),
                         detail: "number at byte \(at) for context key \"\(Self.text(key))\" is out of Double range")
                } else if slot >= 0 {
                    rawSlots[slot] = .number(x)
                }
            case UInt8(ascii: "t"):
                try consumeLiteral("true")
                if slot >= 0 { rawSlots[slot] = .bool(true) }
            case UInt8(ascii: "f"):
                try consumeLiteral("false")
                if slot >= 0 { rawSlots[slot] = .bool(false) }
            case UInt8(ascii: "n"):
                try consumeLiteral("null")
                if slot >= 0 { rawSlots[slot] = .null }
            case Byte.openBracket:
                try parseContextArray(slot: slot, key: key)
            default:
                let kind = try skipValue(depth: 2)
                if kind == .nonFinite {
                    note(.nonFinite, field: "context." + Self.text(key),
                         detail: "non-finite number for context key \"\(Self.text(key))\" at byte \(at)")
                } else {
                    note(.badContext, field: "context." + Self.text(key),
                         detail: "context key \"\(Self.text(key))\" at byte \(at) holds \(kind); expected a string, number, boolean, null or array of strings")
                }
            }
            if try endOfElement(closing: Byte.closeBrace, .expectedCommaOrBrace) { return }
        }
    }

    /// The remembered key at `position` when the input at `cursor` starts with exactly its bytes `"key":`.
    @inline(__always)
    func matchContextPattern(at position: Int, cursor: UnsafePointer<UInt8>) -> ContextKeyPattern? {
        guard position < DecoderStorage.contextPatternCapacity, end - cursor >= 16 else { return nil }
        let k = contextPatterns[position]
        guard k.length > 0 else { return nil }
        let w0 = UInt64(littleEndian: UnsafeRawPointer(cursor).loadUnaligned(as: UInt64.self))
        let w1 = UInt64(littleEndian: UnsafeRawPointer(cursor + 8).loadUnaligned(as: UInt64.self))
        return w0 & k.mask0 == k.word0 && w1 & k.mask1 == k.word1 ? k : nil
    }

    /// Remembers the key just parsed at `position` (`colon` is right after its closing quote, at the colon),
    /// when it was written without escapes and `"key":` fits 16 bytes.
    @inline(__always)
    func rememberContextKey(
        at position: Int, quote: UnsafePointer<UInt8>, colon: UnsafePointer<UInt8>, key: UnsafeRawBufferPointer, slot: Int
    ) {
        guard position < DecoderStorage.contextPatternCapacity, colon < end else { return }
        let length = colon + 1 - quote  // `"key":`
        // In place (no escapes: the span is the input between the quotes) and short enough.
        guard length <= 16, key.baseAddress == UnsafeRawPointer(quote + 1), key.count == length - 3 else { return }
        var bytes: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &bytes) { $0.baseAddress!.copyMemory(from: quote, byteCount: length) }
        var masks: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &masks) { _ = $0.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0xFF, count: length) }
        contextPatterns[position] = ContextKeyPattern(
            word0: UInt64(littleEndian: bytes.0), word1: UInt64(littleEndian: bytes.1), mask0: UInt64(littleEndian: masks.0),
            mask1: UInt64(littleEndian: masks.1), length: length, slot: slot)
    }

    /// Parses a context array (the cursor is at `[`): strings only; records spans when `slot >= 0`.
    mutating func parseContextArray(slot: Int, key: UnsafeRawBufferPointer) throws(SyntaxError) {
        p += 1
        skipWhitespace()
        let first = spanCount
        if peek(Byte.closeBracket) {
            p += 1
        } else {
            while true {
                guard p < end else { throw fail(.expectedValue) }
                if p.pointee == Byte.quote {
                    let s = try parseString(keep: slot >= 0)
                    if slot >= 0 {
                        if spanCount == spanCapacity {
                            storage.growSpans(keeping: spanCount)
                            spans = storage.spans
                            spanCapacity = storage.spanCapacity
                        }
                        spans[spanCount] = s
                        spanCount += 1
                    }
                } else {
                    let at = offset
                    let kind = try skipValue(depth: 3)
                    note(.badContext, field: "context." + Self.text(key),
                         detail: "context array \"\(Self.text(key))\" holds \(kind) at byte \(at); only strings are allowed")
                }
                if try endOfElement(closing: Byte.closeBracket, .expectedCommaOrBracket) { break }
            }
        }
        if slot >= 0 { rawSlots[slot] = .strings(start: first, count: spanCount - first) }
    }

    /// The slot of the context key whose UTF-8 bytes are `key`, or -1.
    @inline(__always)
    func slot(for key: UnsafeRawBufferPointer) -> Int {
        let n = key.count
        let k = key.baseAddress!.assumingMemoryBound(to: UInt8.self)
        for i in 0..<keyCount {
            let s = keyStarts[i]
            guard keyStarts[i + 1] - s == n else { continue }
            let candidate = keyBytes + s
            var j = 0
            while j < n && candidate[j] == k[j] { j += 1 }
            if j == n { return i }
        }
        return -1
    }

    // MARK: Generic values

    /// Validates and skips any JSON value (the cursor is at its first byte). `depth` is the nesting depth of the
    /// container holding it (the event object is depth 1). `NaN`, `Infinity` and `-Infinity` are recognised so that
    /// they can be reported as `non_finite`.
    mutating func skipValue(depth: Int) throws(SyntaxError) -> ValueKind {
        guard p < end else { throw fail(.expectedValue) }
        switch p.pointee {
        case Byte.quote:
            _ = try parseString(keep: false)
            return .string
        case Byte.openBrace:
            guard depth < EventDecoder.maxDepth else { throw fail(.tooDeep) }
            p += 1
            skipWhitespace()
            if peek(Byte.closeBrace) {
                p += 1
                return .object
            }
            while true {
                guard peek(Byte.quote) else { throw fail(.expectedKey) }
                _ = try parseString(keep: false)
                skipWhitespace()
                guard peek(Byte.colon) else { throw fail(.expectedColon) }
                p += 1
                skipWhitespace()
                _ = try skipValue(depth: depth + 1)
                if try endOfElement(closing: Byte.closeBrace, .expectedCommaOrBrace) { return .object }
            }
        case Byte.openBracket:
            guard depth < EventDecoder.maxDepth else { throw fail(.tooDeep) }
            p += 1
            skipWhitespace()
            if peek(Byte.closeBracket) {
                p += 1
                return .array
            }
            while true {
                _ = try skipValue(depth: depth + 1)
                if try endOfElement(closing: Byte.closeBracket, .expectedCommaOrBracket) { return .array }
            }
        case Byte.minus:
            if p + 1 < end && p[1] == UInt8(ascii: "I") {
                let at = offset
                p += 1
                try consumeLiteral("Infinity")
                if nonFiniteAt < 0 { nonFiniteAt = at }
                return .nonFinite
            }
            _ = try scanNumber()
            return .number
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            _ = try scanNumber()
            return .number
        case UInt8(ascii: "t"):
            try consumeLiteral("true")
            return .bool
        case UInt8(ascii: "f"):
            try consumeLiteral("false")
            return .bool
        case UInt8(ascii: "n"):
            try consumeLiteral("null")
            return .null
        case UInt8(ascii: "N"):
            let at = offset
            try consumeLiteral("NaN")
            if nonFiniteAt < 0 { nonFiniteAt = at }
            return .nonFinite
        case UInt8(ascii: "I"):
            let at = offset
            try consumeLiteral("Infinity")
            if nonFiniteAt < 0 { nonFiniteAt = at }
            return .nonFinite
        default:
            throw fail(.expectedValue)
        }
    }

    /// Consumes the ASCII literal `word` or throws `badLiteral`.
    @inline(__always)
    mutating func consumeLiteral(_ word: StaticString) throws(SyntaxError) {
        let n = word.utf8CodeUnitCount
        guard end - p >= n else { throw fail(.badLiteral) }
        let w = word.utf8Start
        for i in 0..<n where p[i] != w[i] { throw fail(.badLiteral) }
        p += n
    }
}
