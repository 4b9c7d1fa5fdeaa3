// MARK: - EventDecoder

/// Decodes and validates one JSON event per message (or JSONL line) — fast and strict.
///
/// A hand-written, single-pass byte scanner: no `Foundation`, no `String` per event, and no allocation per event
/// once its buffers have grown to the largest input seen. Strings come back as byte spans (see ``EventView`` for
/// their lifetime); strings with escapes are unescaped into decoder-owned scratch.
///
/// Rules (each violation throws a ``RejectReason`` whose ``RejectReason/code`` is a ``RejectCode``):
/// - the input is exactly one JSON object, optionally surrounded by whitespace (`not_json`, `trailing_data`);
///   inputs longer than ``maxBytes`` are refused before scanning (`oversized`);
/// - required: `event_id` (non-empty string), `type` (an ``EventType`` name), `user_id` and `item_id` (non-empty
///   string or JSON integer), `ts` (integer ≥ 0 that fits `Int64`);
/// - optional: `value` (finite number or `null`), `context` (object or `null`) whose values are strings, numbers,
///   booleans, `null` or arrays of strings (`bad_context` otherwise, including for keys not extracted);
/// - unknown top-level keys are ignored but must be well-formed JSON (nesting up to ``maxDepth``);
/// - a known key, or an extracted context key, given twice → `duplicate_field`;
/// - strings must be valid UTF-8 and escapes valid, with surrogate pairs paired (`invalid_utf8`);
/// - numbers follow JSON's grammar exactly (no leading zeros, `+`, `.5`, `1.`); `NaN`, `Infinity`, `-Infinity`
///   and overflowing literals such as `1e999` → `non_finite`.
///
/// Grammar errors take precedence over schema errors: anything that is not one well-formed JSON object is
/// `not_json` (or `invalid_utf8`, `trailing_data`, `too_deep`), whatever fields it holds.
///
/// A value type with copy-on-write buffers: copies are independent, and it is `Sendable`.
public struct EventDecoder: Sendable {
    /// The deepest array/object nesting accepted, counting the event object as level 1.
    public static let maxDepth = 64

    @usableFromInline var storage: DecoderStorage

    /// Inputs longer than this are rejected as `oversized` without being scanned.
    public let maxBytes: Int

    /// A decoder that extracts the given context keys (slot `i` of ``EventView/context(_:)`` is `contextKeys[i]`).
    ///
    /// - Precondition: `contextKeys` has no duplicates and `maxBytes >= 0`.
    public init(contextKeys: [String] = [], maxBytes: Int = 65_536) {
        precondition(Set(contextKeys).count == contextKeys.count, "EventDecoder: duplicate context keys \(contextKeys)")
        precondition(maxBytes >= 0, "EventDecoder: maxBytes must be >= 0")
        self.maxBytes = maxBytes
        storage = DecoderStorage(contextKeys: contextKeys, initialScratch: min(maxBytes, 4096))
    }

    /// The context keys this decoder extracts, in slot order.
    public var contextKeys: [String] { storage.contextKeys }

    /// The slot of `key` in ``contextKeys``, or `nil`.
    public func slot(forContextKey key: String) -> Int? { storage.contextKeys.firstIndex(of: key) }

    /// Decodes one event.
    ///
    /// The returned view's spans are valid while `bytes` is alive and until the next `decode` on this decoder.
    /// Never crashes on any input; every rejection is a ``RejectReason``.
    public mutating func decode(_ bytes: UnsafeRawBufferPointer) throws(RejectReason) -> EventView {
        try decode(bytes, fastPath: true)
    }

    /// ``decode(_:)``, optionally without the fast path (for tests: both must give the same results).
    ///
    /// Events in the common shape (see ``EventParser/parseEventFast()``) are accepted by the fast path; any other
    /// input makes it bail out, and the general parser then parses the input from the start, alone deciding about
    /// every rejection.
    @inline(__always)
    mutating func decode(_ bytes: UnsafeRawBufferPointer, fastPath: Bool) throws(RejectReason) -> EventView {
        guard bytes.count <= maxBytes else {
            throw RejectReason(.oversized, detail: "input is \(bytes.count) bytes; the limit is \(maxBytes)")
        }
        guard bytes.count > 0 else { throw RejectReason(.empty, detail: "empty input") }
        if !isKnownUniquelyReferenced(&storage) { storage = storage.clone() }
        let storage = self.storage
        if fastPath, let view = Self.decodeFast(bytes, storage: storage) { return view }
        // No fast path, or it bailed out: the general parser starts over.
        return try Self.decodeGeneral(bytes, storage: storage)
    }

    /// The fast path: the event, or nil when the input is not in the fast path's shape (nothing diagnosed).
    @inline(__always)
    static func decodeFast(_ bytes: UnsafeRawBufferPointer, storage: DecoderStorage) -> EventView? {
        storage.clearPublishedSlots()
        var parser = EventParser(bytes, storage: storage)
        guard parser.parseEventFast() else { return nil }
        return view(of: parser, storage: storage)  // the fast path wrote the published slots itself
    }

    /// The general parser: prepares the storage, then returns the event or throws the first syntax error, schema
    /// error or missing field. Out of line: the fast path's caller stays small.
    @inline(never)
    static func decodeGeneral(_ bytes: UnsafeRawBufferPointer, storage: DecoderStorage) throws(RejectReason) -> EventView {
        storage.prepare(inputCount: bytes.count)
        var parser = EventParser(bytes, storage: storage)
        do throws(SyntaxError) {
            try parser.parseEvent()
        } catch {
            throw error.reason(input: bytes)
        }
        if let pending = parser.pending { throw pending }
        let missing = TopField.requiredMask & ~parser.seen
        if missing != 0 {
            let field = TopField(rawValue: UInt8(missing.trailingZeroBitCount))!
            throw RejectReason(.missingField, field: field.name, detail: "required field \"\(field.name)\" is missing")
        }
        storage.publish()
        return view(of: parser, storage: storage)
    }

    /// The fast path alone (for tests): the event, or nil when the fast path bails out.
    mutating func decodeFastOnly(_ bytes: UnsafeRawBufferPointer) -> EventView? {
        guard bytes.count <= maxBytes, bytes.count > 0 else { return nil }
        if !isKnownUniquelyReferenced(&storage) { storage = storage.clone() }
        return Self.decodeFast(bytes, storage: storage)
    }

    /// The view of a successful parse over the published context slots.
    @inline(__always)
    static func view(of parser: EventParser, storage: DecoderStorage) -> EventView {
        EventView(
            type: parser.type, timestamp: parser.timestamp, value: parser.value, eventID: parser.eventID,
            userID: parser.userID, itemID: parser.itemID, rankingID: parser.rankingID, position: parser.position,
            contextSlots: UnsafeBufferPointer(start: storage.slots, count: storage.keyCount))
    }
}
