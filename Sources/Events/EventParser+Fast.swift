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
    /// Returns true when it accepted the whole input; the results (fields, `seen`, context slots and spans) are then
    /// exactly those ``parseEvent()`` produces for the same input, and ``pending`` is nil. Returns false on the first
    /// byte that does not fit the shape — whether or not the input is valid — without diagnosing anything: the caller
    /// must then reset the context slots and run ``parseEvent()`` on a fresh parser, which alone decides about
    /// rejections. (It may leave context slots, spans and remembered context keys behind; remembered keys stay
    /// valid, see ``ContextKeyPattern``.)
    ///
    /// Why the results are identical: each accepted member is one the general parser parses in the same order with
    /// the same rules (in-place string spans between the same quotes, `scanNumber` and `doubleValue` for numbers,
    /// the same slot lookup); everything the general parser would reject or treat specially (escapes, non-ASCII,
    /// whitespace, other keys or orders, duplicates, empty ids, unknown types, non-finite numbers, leading zeros,
    /// nested values, trailing bytes) makes this one bail out instead.
    @inline(__always)
    mutating func parseEventFast() -> Bool {
        // {"event_id":"…"
        guard matchLiteral(FastLiteral.eventIDHead, FastLiteral.eventIDTail, FastLiteral.eventIDLength),
              let eventID = scanPlainString(), !eventID.isEmpty
        else { return false }
        // ,"type":"…"
        guard matchLiteral(FastLiteral.typeHead, FastLiteral.typeTail, FastLiteral.typeLength),
              let name = scanPlainString(), let type = EventType(name: name)
        else { return false }
        // ,"user_id":"…"
        guard matchLiteral(FastLiteral.userIDHead, FastLiteral.userIDTail, FastLiteral.userIDLength),
              let userID = scanPlainString(), !userID.isEmpty
        else { return false }
        // ,"item_id":"…"
        guard matchLiteral(FastLiteral.itemIDHead, FastLiteral.itemIDTail, FastLiteral.itemIDLength),
              let itemID = scanPlainString(), !itemID.isEmpty
        else { return false }
        // ,"ts":digits
        guard end - p >= 8,
              UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)) & FastLiteral.tsMask == FastLiteral.ts
        else { return false }
        p += FastLiteral.tsLength
        guard let timestamp = scanPlainTimestamp() else { return false }
        var seen = TopField.requiredMask
        // ,"context":{…} or null
        if matchLiteral(FastLiteral.contextHead, FastLiteral.contextTail, FastLiteral.contextLength) {
            seen |= 1 << TopField.context.rawValue
            guard p < end else { return false }
            if p.pointee == Byte.openBrace {
                guard parseContextFast() else { return false }
            } else {
                guard matchWord(FastLiteral.nullWord) else { return false }
            }
        }
        // ,"value":number or null
        var value: Double?
        if matchLiteral(FastLiteral.valueHead, FastLiteral.valueTail, FastLiteral.valueLength) {
            seen |= 1 << TopField.value.rawValue
            guard p < end else { return false }
            if !matchWord(FastLiteral.nullWord) {
                guard let x = scanFiniteNumber() else { return false }
                value = x
            }
        }
        // } and nothing after it
        guard p < end, p.pointee == Byte.closeBrace, p + 1 == end else { return false }
        p += 1
        self.seen = seen
        self.type = type
        self.timestamp = timestamp
        self.value = value
        self.eventID = eventID
        self.userID = userID
        self.itemID = itemID
        return true
    }

    /// The context object (the cursor is at `{`) in the fast path's shape; false to bail out.
    @inline(__always)
    mutating func parseContextFast() -> Bool {
        p += 1
        guard p < end else { return false }
        if p.pointee == Byte.closeBrace {
            p += 1
            return true
        }
        var position = 0
        while true {
            guard p < end, p.pointee == Byte.quote else { return false }
            // The key, as the general parser resolves it: the remembered `"key":` at this position, or a lookup.
            let slot: Int
            if let known = matchContextPattern(at: position) {
                slot = known.slot
                p += known.length
            } else {
                let quote = p
                p += 1
                guard let key = scanPlainString(), p < end, p.pointee == Byte.colon else { return false }
                slot = self.slot(for: key)
                rememberContextKey(at: position, quote: quote, key: key, slot: slot)
                p += 1
            }
            position &+= 1
            if slot >= 0 && !rawSlots[slot].isAbsent { return false }  // duplicate: the general parser reports it
            guard p < end else { return false }
            switch p.pointee {
            case Byte.quote:
                p += 1
                guard let s = scanPlainString() else { return false }
                if slot >= 0 { rawSlots[slot] = .string(s) }
            case Byte.openBracket:
                guard parseContextArrayFast(slot: slot) else { return false }
            case UInt8(ascii: "t"):
                guard matchWord(FastLiteral.trueWord) else { return false }
                if slot >= 0 { rawSlots[slot] = .bool(true) }
            case UInt8(ascii: "f"):
                guard end - p >= 5, p[4] == UInt8(ascii: "e"),
                      UInt32(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt32.self)) == FastLiteral.falsWord
                else { return false }
                p += 5
                if slot >= 0 { rawSlots[slot] = .bool(false) }
            case UInt8(ascii: "n"):
                guard matchWord(FastLiteral.nullWord) else { return false }
                if slot >= 0 { rawSlots[slot] = .null }
            default:
                guard let x = scanFiniteNumber() else { return false }
                if slot >= 0 { rawSlots[slot] = .number(x) }
            }
            guard p < end else { return false }
            let c = p.pointee
            p += 1
            if c == Byte.comma { continue }
            return c == Byte.closeBrace
        }
    }

    /// A context array of plain strings (the cursor is at `[`); records spans when `slot >= 0`. False to bail out.
    @inline(__always)
    mutating func parseContextArrayFast(slot: Int) -> Bool {
        p += 1
        let first = spanCount
        guard p < end else { return false }
        if p.pointee == Byte.closeBracket {
            p += 1
        } else {
            while true {
                guard p < end, p.pointee == Byte.quote else { return false }
                p += 1
                guard let s = scanPlainString() else { return false }
                if slot >= 0 {
                    if spanCount == spanCapacity {
                        storage.growSpans(keeping: spanCount)
                        spans = storage.spans
                        spanCapacity = storage.spanCapacity
                    }
                    spans[spanCount] = s
                    spanCount += 1
                }
                guard p < end else { return false }
                let c = p.pointee
                p += 1
                if c == Byte.comma { continue }
                guard c == Byte.closeBracket else { return false }
                break
            }
        }
        if slot >= 0 { rawSlots[slot] = .strings(start: first, count: spanCount - first) }
        return true
    }

    // MARK: Fast-path pieces (none throws; nil or false means "bail out")

    /// Consumes the `length` (9–16) bytes at the cursor when they are the literal with first and last 8 bytes
    /// `head` and `tail`.
    @inline(__always)
    mutating func matchLiteral(_ head: UInt64, _ tail: UInt64, _ length: Int) -> Bool {
        guard end - p >= length else { return false }
        let raw = UnsafeRawPointer(p)
        guard UInt64(littleEndian: raw.loadUnaligned(as: UInt64.self)) == head,
              UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: length &- 8, as: UInt64.self)) == tail
        else { return false }
        p += length
        return true
    }

    /// Consumes the 4 bytes at the cursor when they are `word` (little-endian).
    @inline(__always)
    mutating func matchWord(_ word: UInt32) -> Bool {
        guard end - p >= 4, UInt32(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt32.self)) == word else { return false }
        p += 4
        return true
    }

    /// The content of a string of printable ASCII without escapes (the cursor is right after its opening quote), in
    /// place, stepping past the closing quote; nil on a backslash, a control character, a non-ASCII byte or the end
    /// of input. The same span ``parseString(keep:)`` returns for such a string.
    @inline(__always)
    mutating func scanPlainString() -> UnsafeRawBufferPointer? {
        let contentStart = p
        while end - p >= 8 {
            let special = Self.specialBytes(UInt64(littleEndian: UnsafeRawPointer(p).loadUnaligned(as: UInt64.self)))
            if special != 0 {
                p += special.trailingZeroBitCount &>> 3
                guard p.pointee == Byte.quote else { return nil }
                let content = UnsafeRawBufferPointer(start: contentStart, count: p - contentStart)
                p += 1
                return content
            }
            p += 8
        }
        while p < end {
            let c = p.pointee
            if c == Byte.quote {
                let content = UnsafeRawBufferPointer(start: contentStart, count: p - contentStart)
                p += 1
                return content
            }
            guard c >= 0x20 && c < 0x80 && c != Byte.backslash else { return nil }
            p += 1
        }
        return nil
    }

    /// `ts` as a plain non-negative integer of at most 18 digits (so it fits `Int64`) without a leading zero; nil
    /// otherwise. A fraction or exponent stops the digits, and the caller then fails to match what follows.
    @inline(__always)
    mutating func scanPlainTimestamp() -> Int64? {
        guard p < end else { return nil }
        let first = p
        var c = p.pointee
        guard Self.isDigit(c) else { return nil }
        var mantissa: UInt64 = 0
        while true {
            mantissa = mantissa &* 10 &+ UInt64(c &- Byte.zero)
            p += 1
            guard p < end else { break }
            c = p.pointee
            guard Self.isDigit(c) else { break }
        }
        let digits = p - first
        guard digits <= 18, first.pointee != Byte.zero || digits == 1 else { return nil }
        return Int64(mantissa)
    }

    /// A finite number by JSON's grammar (the cursor is at its first byte), as the general parser reads it
    /// (`scanNumber`, then `doubleValue`); nil when the cursor is not at a number, the grammar fails, or the value
    /// is out of `Double`'s range.
    @inline(__always)
    mutating func scanFiniteNumber() -> Double? {
        let c = p.pointee
        guard Self.isDigit(c) || (c == Byte.minus && p + 1 < end && Self.isDigit(p[1])) else { return nil }
        guard let number = try? scanNumber() else { return nil }
        let x = number.doubleValue
        return x.isFinite ? x : nil
    }
}
