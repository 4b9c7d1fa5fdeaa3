// MARK: - RawSlot

/// A context slot while an event is being parsed: arrays are recorded by index because the span buffer may still
/// grow; ``DecoderStorage/publish(spanCount:)`` turns them into ``ContextValue``s once parsing is done.
enum RawSlot {
    case absent
    case null
    case string(UnsafeRawBufferPointer)
    case number(Double)
    case bool(Bool)
    case strings(start: Int, count: Int)

    var isAbsent: Bool {
        if case .absent = self { true } else { false }
    }
}

// MARK: - DecoderStorage

/// Buffers an ``EventDecoder`` reuses from one event to the next, so decoding allocates nothing after warm-up.
///
/// Mutated only through a uniquely referenced decoder (``EventDecoder`` copies it on write), which is what makes the
/// `@unchecked Sendable` honest, as for any copy-on-write value type.
@usableFromInline
final class DecoderStorage: @unchecked Sendable {
    /// The context keys to extract, in slot order.
    let contextKeys: [String]
    /// Number of context keys.
    let keyCount: Int
    /// The keys' UTF-8 bytes, concatenated.
    let keyBytes: UnsafeMutablePointer<UInt8>
    /// Key `i` occupies `keyBytes[keyStarts[i] ..< keyStarts[i + 1]]`.
    let keyStarts: UnsafeMutablePointer<Int>
    /// Per-slot state while parsing.
    let rawSlots: UnsafeMutablePointer<RawSlot>
    /// The context keys of the last event, by position (see ``ContextKeyPattern``): `contextPatternCapacity` entries.
    let contextPatterns: UnsafeMutablePointer<ContextKeyPattern>
    static let contextPatternCapacity = 16
    /// Per-slot values handed out through ``EventView/context(_:)``.
    let slots: UnsafeMutablePointer<ContextValue>
    /// The growable buffers, behind a pointer: reading them costs no dynamic exclusivity check (a class `var`
    /// would pay one per access, per event).
    let buffers: UnsafeMutablePointer<Buffers>

    /// The growable buffers.
    struct Buffers {
        /// Unescaped strings of the current event. At least as large as the input, since unescaping never grows.
        var scratch: UnsafeMutablePointer<UInt8>
        var scratchCapacity: Int
        /// Spans of the current event's context arrays (extracted keys only).
        var spans: UnsafeMutablePointer<UnsafeRawBufferPointer>
        var spanCapacity: Int
    }

    var scratch: UnsafeMutablePointer<UInt8> { buffers.pointee.scratch }
    var scratchCapacity: Int { buffers.pointee.scratchCapacity }
    var spans: UnsafeMutablePointer<UnsafeRawBufferPointer> { buffers.pointee.spans }
    var spanCapacity: Int { buffers.pointee.spanCapacity }

    init(contextKeys: [String], initialScratch: Int) {
        self.contextKeys = contextKeys
        keyCount = contextKeys.count
        let utf8 = contextKeys.map { Array($0.utf8) }
        let total = utf8.reduce(0) { $0 + $1.count }
        keyBytes = .allocate(capacity: max(total, 1))
        keyStarts = .allocate(capacity: keyCount + 1)
        var at = 0
        for (i, key) in utf8.enumerated() {
            keyStarts[i] = at
            (keyBytes + at).initialize(from: key, count: key.count)
            at += key.count
        }
        keyStarts[keyCount] = at
        contextPatterns = .allocate(capacity: Self.contextPatternCapacity)
        contextPatterns.initialize(repeating: ContextKeyPattern(), count: Self.contextPatternCapacity)
        rawSlots = .allocate(capacity: max(keyCount, 1))
        rawSlots.initialize(repeating: .absent, count: max(keyCount, 1))
        slots = .allocate(capacity: max(keyCount, 1))
        slots.initialize(repeating: .absent, count: max(keyCount, 1))
        let scratchCapacity = max(initialScratch, 16)
        buffers = .allocate(capacity: 1)
        buffers.initialize(to: Buffers(
            scratch: .allocate(capacity: scratchCapacity), scratchCapacity: scratchCapacity,
            spans: .allocate(capacity: 64), spanCapacity: 64))
    }

    deinit {
        keyBytes.deallocate()
        keyStarts.deallocate()
        rawSlots.deallocate()
        contextPatterns.deallocate()
        slots.deallocate()
        scratch.deallocate()
        spans.deallocate()
        buffers.deallocate()
    }

    /// A fresh storage for the same keys (the copy-on-write copy; buffers are per-decode, so none is copied).
    func clone() -> DecoderStorage {
        DecoderStorage(contextKeys: contextKeys, initialScratch: scratchCapacity)
    }

    // MARK: Per decode

    /// Makes the scratch buffer at least `inputCount` bytes and clears the slots.
    @inline(__always)
    func prepare(inputCount: Int) {
        if inputCount > scratchCapacity { growScratch(inputCount) }
        for i in 0..<keyCount { rawSlots[i] = .absent }
    }

    /// Marks every published context slot absent (the fast path writes those directly).
    @inline(__always)
    func clearPublishedSlots() {
        for i in 0..<keyCount { slots[i] = .absent }
    }

    @inline(never)
    private func growScratch(_ minimum: Int) {
        scratch.deallocate()
        let capacity = max(minimum, scratchCapacity * 2)
        buffers.pointee.scratch = .allocate(capacity: capacity)
        buffers.pointee.scratchCapacity = capacity
    }

    /// Doubles the span buffer, keeping its first `count` spans.
    @inline(never)
    func growSpans(keeping count: Int) {
        let bigger = UnsafeMutablePointer<UnsafeRawBufferPointer>.allocate(capacity: spanCapacity * 2)
        bigger.moveInitialize(from: spans, count: count)
        spans.deallocate()
        buffers.pointee.spans = bigger
        buffers.pointee.spanCapacity *= 2
    }

    /// Turns the parsed raw slots into the ``ContextValue``s a view hands out.
    @inline(__always)
    func publish() {
        for i in 0..<keyCount {
            let value: ContextValue
            switch rawSlots[i] {
            case .absent: value = .absent
            case .null: value = .null
            case .string(let s): value = .string(s)
            case .number(let x): value = .number(x)
            case .bool(let b): value = .bool(b)
            case .strings(let start, let count):
                value = .strings(ContextStrings(spans: UnsafeBufferPointer(start: spans + start, count: count)))
            }
            slots[i] = value
        }
    }
}

// MARK: - ContextKeyPattern

/// A context member's key exactly as the last event wrote it at the same position: the bytes `"key":` (at most 16)
/// as two little-endian words padded with zeros, their masks, the length (0: no pattern), and the slot the key
/// resolved to (-1: not extracted). Events of one producer repeat their keys in order, so the parser usually
/// recognises a key with one 16-byte compare; the pattern only ever stands for those exact bytes, so the slot is
/// the one a full parse of the key would find.
struct ContextKeyPattern {
    var word0: UInt64 = 0
    var word1: UInt64 = 0
    var mask0: UInt64 = 0
    var mask1: UInt64 = 0
    var length = 0
    var slot = -1
}
