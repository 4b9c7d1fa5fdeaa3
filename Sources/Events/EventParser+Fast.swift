// MARK: - Fast path

/// The byte sequences the fast path expects between the values of an event written in the canonical shape
/// (`{"event_id":"…","type":"…","user_id":"…","item_id":"…","ts":…,"context":{…},"value":…}`), as little-endian
/// words: for a sequence of 9–16 bytes its first 8 bytes (`head`) and its last 8 bytes (`tail`, overlapping);
/// for shorter ones the bytes padded with zeros and a mask. `EventsTests` checks every word against its text.
enum FastLiteral {
    /// `{"event_id":"` (13 bytes).
    static let eventIDHead: UInt64 = 0x5F74_6E65_7665_227B
    static let eventIDTail: UInt64 = 0x223A_2264_695F_746E
    static let eventIDLength = 13
    /// `,"type":"` (9 bytes).
    static let typeHead: UInt64 = 0x3A22_6570_7974_222C
    static let typeTail: UInt64 = 0x223A_2265_7079_7422
    static let typeLength = 9
    /// `,"user_id":"` (12 bytes).
    static let userIDHead: UInt64 = 0x695F_7265_7375_222C
    static let userIDTail: UInt64 = 0x223A_2264_695F_7265
    static let userIDLength = 12
    /// `,"item_id":"` (12 bytes).
    static let itemIDHead: UInt64 = 0x695F_6D65_7469_222C
    static let itemIDTail: UInt64 = 0x223A_2264_695F_6D65
    static let itemIDLength = 12
    /// `,"ts":` (6 bytes, masked).
    static let ts: UInt64 = 0x0000_3A22_7374_222C
    static let tsMask: UInt64 = 0x0000_FFFF_FFFF_FFFF
    static let tsLength = 6
    /// `,"context":` (11 bytes).
    static let contextHead: UInt64 = 0x7865_746E_6F63_222C
    static let contextTail: UInt64 = 0x3A22_7478_6574_6E6F
    static let contextLength = 11
    /// `,"value":` (9 bytes).
    static let valueHead: UInt64 = 0x2265_756C_6176_222C
    static let valueTail: UInt64 = 0x3A22_6575_6C61_7622
    static let valueLength = 9
    /// The event type names with their closing quote, padded with zeros: `click"` (6 bytes), `view"` (5), and
    /// `purchase` + `"`, `add_to_c` + `art"` (8 + 1, 8 + 4).
    static let click: UInt64 = 0x0000_226B_6369_6C63
    static let clickMask: UInt64 = 0x0000_FFFF_FFFF_FFFF
    static let view: UInt64 = 0x0000_0022_7765_6976
    static let viewMask: UInt64 = 0x0000_00FF_FFFF_FFFF
    static let purchase: UInt64 = 0x6573_6168_6372_7570
    static let addToC: UInt64 = 0x635F_6F74_5F64_6461
    static let artQuote: UInt32 = 0x2274_7261
    /// `true`, `null` and `fals` (of `false`) as 32-bit words.
    static let trueWord: UInt32 = 0x6575_7274
    static let nullWord: UInt32 = 0x6C6C_756E
    static let falsWord: UInt32 = 0x736C_6166
}

extension EventParser {
    /// An accept-only parser for the common shape of an event: the members in the canonical order
    /// (`event_id, type, user_id, item_id, ts`, then optionally `context`, then optionally `value`), no whitespace
    /// anywhere, strings of printable ASCII without escapes, `user_id`/`item_id` as strings, `ts` a plain integer of at
    /// most 18 digits, `context` an object (or `null`) of strings, numbers, booleans, `null` and arrays of such
    /// strings, `value` a number or `null`.
    ///
    /// The caller clears the published slots (``DecoderStorage/clearPublishedSlots()``) first. Returns true when it
    /// accepted the whole input; the fields, `seen` and the published context slots are then exactly what
    /// ``parseEvent()`` followed by ``DecoderStorage/publish()`` produce for the same input, and ``pending`` is nil
    /// (no publish is needed). Returns false on the first byte that does not fit the shape — whether or not the input
    /// is valid — without diagnosing anything: the caller must then run ``parseEvent()`` on a fresh parser and
    /// prepared storage, which alone decides about rejections. (It may leave published slots, spans and remembered
    /// context keys behind; the general path overwrites the first two, and remembered keys stay valid, see
    /// ``ContextKeyPattern``.)
    ///
    /// Why the results are identical: each accepted member is one the general parser parses in the same order with
    /// the same rules (in-place string spans between the same quotes, the same numbers — plain integers of up to 15
    /// digits directly, others through `scanNumber` and `doubleValue` —, the same slot lookup); everything the
    /// general parser would reject or treat specially (escapes, non-ASCII, whitespace, other keys or orders,
    /// duplicates, empty ids, unknown types, non-finite numbers, leading zeros, nested values, trailing bytes, a full
    /// span buffer) makes this one bail out instead.
    ///
    /// The cursor is a local (`q`), so that it stays in a register: `p` is written once, at the end.
    @inline(__always)
    mutating func parseEventFast() -> Bool {
        let end = self.end
        var q = p
        // {"event_id":"…"
        guard Self.matchLiteral(&q, end, FastLiteral.eventIDHead, FastLiteral.eventIDTail, FastLiteral.eventIDLength),
              let eventID = Self.scanPlainString(&q, end), !eventID.isEmpty
        else { return false }
        // ,"type":"…"
        guard Self.matchLiteral(&q, end, FastLiteral.typeHead, FastLiteral.typeTail, FastLiteral.typeLength),
              let type = Self.scanPlainType(&q, end)
        else { return false }
        // ,"user_id":"…"
        guard Self.matchLiteral(&q, end, FastLiteral.userIDHead, FastLiteral.userIDTail, FastLiteral.userIDLength),
              let userID = Self.scanPlainString(&q, end), !userID.isEmpty
        else { return false }
        // ,"item_id":"…"
        guard Self.matchLiteral(&q, end, FastLiteral.itemIDHead, FastLiteral.itemIDTail, FastLiteral.itemIDLength),
              let itemID = Self.scanPlainString(&q, end), !itemID.isEmpty
        else { return false }
        // ,"ts":digits
        guard end - q >= 8, Self.load64(q) & FastLiteral.tsMask == FastLiteral.ts else { return false }
        q += FastLiteral.tsLength
        guard let timestamp = Self.scanPlainTimestamp(&q, end) else { return false }
        var seen = TopField.requiredMask
        // ,"context":{…} or null
        if Self.matchLiteral(&q, end, FastLiteral.contextHead, FastLiteral.contextTail, FastLiteral.contextLength) {
            seen |= 1 << TopField.context.rawValue
            guard q < end else { return false }
            if q.pointee == Byte.openBrace {
                guard let after = parseContextFast(q) else { return false }
                q = after
            } else {
                guard Self.matchWord(&q, end, FastLiteral.nullWord) else { return false }
            }
        }
        // ,"value":number or null
        var value: Double?
        if Self.matchLiteral(&q, end, FastLiteral.valueHead, FastLiteral.valueTail, FastLiteral.valueLength) {
            seen |= 1 << TopField.value.rawValue
            guard q < end else { return false }
            if !Self.matchWord(&q, end, FastLiteral.nullWord) {
                guard let x = scanFiniteNumber(&q) else { return false }
                value = x
            }
        }
        // } and nothing after it
        guard q < end, q.pointee == Byte.closeBrace, q + 1 == end else { return false }
        p = end
        self.seen = seen
        self.type = type
        self.timestamp = timestamp
        self.value = value
        self.eventID = eventID
        self.userID = userID
        self.itemID = itemID
        return true
    }

    /// The context object (`start` is at `{`) in the fast path's shape: the position after it, or nil to bail out.
    ///
    /// Writes the requested keys' values straight into the published slots (``DecoderStorage/slots``, cleared by the
    /// caller) — what ``DecoderStorage/publish()`` would make of the raw slots the general parser fills. Array spans
    /// are referenced in place, so the span buffer must not move: when it is full the fast path bails out, and the
    /// general parser grows it (for good) on the same input.
    @inline(__always)
    mutating func parseContextFast(_ start: UnsafePointer<UInt8>) -> UnsafePointer<UInt8>? {
        let end = self.end
        let slots = storage.slots
        var q = start + 1
        guard q < end else { return nil }
        if q.pointee == Byte.closeBrace { return q + 1 }
        var position = 0
        while true {
            guard q < end, q.pointee == Byte.quote else { return nil }
            // The key, as the general parser resolves it: the remembered `"key":` at this position, or a lookup.
            let slot: Int
            if let known = matchContextPattern(at: position, cursor: q) {
                slot = known.slot
                q += known.length
            } else {
                let quote = q
                q += 1
                guard let key = Self.scanPlainString(&q, end), q < end, q.pointee == Byte.colon else { return nil }
                slot = self.slot(for: key)
                rememberContextKey(at: position, quote: quote, colon: q, key: key, slot: slot)
                q += 1
            }
            position &+= 1
            if slot >= 0 && !slots[slot].isAbsent { return nil }  // duplicate: the general parser reports it
            guard q < end else { return nil }
            switch q.pointee {
            case Byte.quote:
                q += 1
                guard let s = Self.scanPlainString(&q, end) else { return nil }
                if slot >= 0 { slots[slot] = .string(s) }
            case Byte.openBracket:
                // Strings only, recorded as spans when the key is extracted.
                q += 1
                let first = spanCount
                guard q < end else { return nil }
                if q.pointee == Byte.closeBracket {
                    q += 1
                } else {
                    while true {
                        guard q < end, q.pointee == Byte.quote else { return nil }
                        q += 1
                        guard let s = Self.scanPlainString(&q, end) else { return nil }
                        if slot >= 0 {
                            guard spanCount < spanCapacity else { return nil }
                            spans[spanCount] = s
                            spanCount &+= 1
                        }
                        guard q < end else { return nil }
                        let c = q.pointee
                        q += 1
                        if c == Byte.comma { continue }
                        guard c == Byte.closeBracket else { return nil }
                        break
                    }
                }
                if slot >= 0 {
                    slots[slot] = .strings(ContextStrings(spans: UnsafeBufferPointer(start: spans + first, count: spanCount &- first)))
                }
            case UInt8(ascii: "t"):
                guard Self.matchWord(&q, end, FastLiteral.trueWord) else { return nil }
                if slot >= 0 { slots[slot] = .bool(true) }
            case UInt8(ascii: "f"):
                guard end - q >= 5, q[4] == UInt8(ascii: "e"), Self.load32(q) == FastLiteral.falsWord else { return nil }
                q += 5
                if slot >= 0 { slots[slot] = .bool(false) }
            case UInt8(ascii: "n"):
                guard Self.matchWord(&q, end, FastLiteral.nullWord) else { return nil }
                if slot >= 0 { slots[slot] = .null }
            default:
                guard let x = scanFiniteNumber(&q) else { return nil }
                if slot >= 0 { slots[slot] = .number(x) }
            }
            guard q < end else { return nil }
            let c = q.pointee
            q += 1
            if c == Byte.comma { continue }
            return c == Byte.closeBrace ? q : nil
        }
    }

    // MARK: Fast-path pieces (none throws; nil or false means "bail out")

    @inline(__always)
    static func load64(_ q: UnsafePointer<UInt8>) -> UInt64 {
        UInt64(littleEndian: UnsafeRawPointer(q).loadUnaligned(as: UInt64.self))
    }

    @inline(__always)
    static func load32(_ q: UnsafePointer<UInt8>) -> UInt32 {
        UInt32(littleEndian: UnsafeRawPointer(q).loadUnaligned(as: UInt32.self))
    }

    /// Steps over the `length` (9–16) bytes at `q` when they are the literal with first and last 8 bytes `head` and
    /// `tail`.
    @inline(__always)
    static func matchLiteral(
        _ q: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ head: UInt64, _ tail: UInt64, _ length: Int
    ) -> Bool {
        guard end - q >= length, load64(q) == head, load64(q + (length &- 8)) == tail else { return false }
        q += length
        return true
    }

    /// Steps over the 4 bytes at `q` when they are `word` (little-endian).
    @inline(__always)
    static func matchWord(_ q: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>, _ word: UInt32) -> Bool {
        guard end - q >= 4, load32(q) == word else { return false }
        q += 4
        return true
    }

    /// The content of a string of printable ASCII without escapes (`q` is right after its opening quote), in place,
    /// stepping past the closing quote; nil on a backslash, a control character, a non-ASCII byte or the end of
    /// input. The same span ``parseString(keep:)`` returns for such a string.
    @inline(__always)
    static func scanPlainString(_ q: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> UnsafeRawBufferPointer? {
        let contentStart = q
        var r = q
        while end - r >= 8 {
            let special = specialBytes(load64(r))
            if special != 0 {
                r += special.trailingZeroBitCount &>> 3
                guard r.pointee == Byte.quote else { return nil }
                q = r + 1
                return UnsafeRawBufferPointer(start: contentStart, count: r - contentStart)
            }
            r += 8
        }
        while r < end {
            let c = r.pointee
            if c == Byte.quote {
                q = r + 1
                return UnsafeRawBufferPointer(start: contentStart, count: r - contentStart)
            }
            guard c >= 0x20 && c < 0x80 && c != Byte.backslash else { return nil }
            r += 1
        }
        return nil
    }

    /// The event type whose name, closing quote included, is at `q` (right after the opening quote), stepping past
    /// the quote; nil for anything else. The same type `EventType(name:)` finds for the string's content, since the
    /// names are exactly these bytes up to the quote. Needs 12 bytes (a valid event has more after its type).
    @inline(__always)
    static func scanPlainType(_ q: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> EventType? {
        guard end - q >= 12 else { return nil }
        let w = load64(q)
        if w & FastLiteral.clickMask == FastLiteral.click {
            q += 6
            return .click
        }
        if w == FastLiteral.purchase && q[8] == Byte.quote {
            q += 9
            return .purchase
        }
        if w & FastLiteral.viewMask == FastLiteral.view {
            q += 5
            return .view
        }
        if w == FastLiteral.addToC && load32(q + 8) == FastLiteral.artQuote {
            q += 12
            return .addToCart
        }
        return nil
    }

    /// `ts` as a plain non-negative integer of at most 18 digits (so it fits `Int64`) without a leading zero; nil
    /// otherwise. A fraction or exponent stops the digits, and the caller then fails to match what follows. Eight
    /// leading digits are converted at once (SWAR), the rest one by one.
    @inline(__always)
    static func scanPlainTimestamp(_ q: inout UnsafePointer<UInt8>, _ end: UnsafePointer<UInt8>) -> Int64? {
        let first = q
        var r = q
        var mantissa: UInt64 = 0
        if end - r >= 8, let eight = eightDigits(load64(r)) {
            mantissa = eight
            r += 8
        }
        while r < end {
            let d = r.pointee &- Byte.zero
            guard d < 10 else { break }
            mantissa = mantissa &* 10 &+ UInt64(d)
            r += 1
        }
        let digits = r - first
        guard digits >= 1, digits <= 18, first.pointee != Byte.zero || digits == 1 else { return nil }
        q = r
        return Int64(mantissa)
    }

    /// The value of 8 ASCII digits (the first in the lowest byte), or nil when a byte is not a digit.
    @inline(__always)
    static func eightDigits(_ w: UInt64) -> UInt64? {
        // Every byte in 0x30...0x39: its high nibble is 3, and adding 6 does not carry into the high nibble.
        let high: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
        guard (w & high) | (((w &+ 0x0606_0606_0606_0606) & high) >> 4) == 0x3333_3333_3333_3333 else { return nil }
        var v = w &- 0x3030_3030_3030_3030
        v = (v &* 10 &+ (v >> 8)) & 0x00FF_00FF_00FF_00FF  // pairs of digits
        v = (v &* 100 &+ (v >> 16)) & 0x0000_FFFF_0000_FFFF  // groups of four
        v = (v &* 10_000 &+ (v >> 32)) & 0xFFFF_FFFF  // eight
        return v
    }

    /// A finite number by JSON's grammar (`q` is at its first byte), with the general parser's value; nil when `q`
    /// is not at a number (by the general parser's test), the grammar fails, or the value is out of `Double`'s range.
    /// A plain integer of up to 15 digits without a leading zero is `Double(digits)` negated or not — exactly what
    /// `doubleValue` gives for it (the mantissa is below 2^53 and the exponent 0, or it is ±0); anything else goes
    /// through `scanNumber` and `doubleValue`.
    @inline(__always)
    mutating func scanFiniteNumber(_ q: inout UnsafePointer<UInt8>) -> Double? {
        let start = q
        let negative = start.pointee == Byte.minus
        var r = negative ? start + 1 : start
        guard r < end, Self.isDigit(r.pointee) else { return nil }
        let digitsStart = r
        var mantissa: UInt64 = 0
        repeat {
            mantissa = mantissa &* 10 &+ UInt64(r.pointee &- Byte.zero)
            r += 1
        } while r < end && Self.isDigit(r.pointee)
        let digits = r - digitsStart
        if digits <= 15, digits == 1 || digitsStart.pointee != Byte.zero,
           r == end || (r.pointee != Byte.dot && r.pointee | 0x20 != UInt8(ascii: "e"))
        {
            q = r
            let x = Double(mantissa)
            return negative ? -x : x
        }
        return scanGeneralNumber(&q)
    }

    /// The general scanner's number at `q` (fractions, exponents, long or zero-led digit runs); nil on a grammar
    /// error or a non-finite value.
    @inline(never)
    mutating func scanGeneralNumber(_ q: inout UnsafePointer<UInt8>) -> Double? {
        p = q
        guard let number = try? scanNumber() else { return nil }
        q = p
        let x = number.doubleValue
        return x.isFinite ? x : nil
    }
}

extension ContextValue {
    /// Whether this is ``absent`` (the fast path's duplicate test on published slots).
    @inline(__always)
    var isAbsent: Bool {
        if case .absent = self { true } else { false }
    }
}
