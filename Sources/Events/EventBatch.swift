// MARK: - EventBatch

/// Inputs decoded once and kept, so several consumers can apply the same events (a replay's compared pipelines,
/// or a learning thread while the next batch is decoded): a list of ``Entry``s, one per input, in order.
///
/// An ``EventView`` from ``EventDecoder/decode(_:)`` is valid only until the decoder's next decode; an entry here
/// stays valid until ``removeAll()``. Spans into the input are kept as they are (the caller keeps the inputs alive
/// and unchanged while the entries are used); what points into the decoder — unescaped strings, the context
/// slots, the spans of a context array — is copied into the batch's own arenas, whose chunks are never moved or
/// freed before the batch is: after the chunks have grown to the largest batch seen, decoding allocates nothing
/// per event.
///
/// What a decoder accepts, and the slots its views have, depend on its context keys (a duplicate of an extracted
/// key is a `duplicate_field`, one of a key not extracted is not) and on its size limit: a batch stands for the
/// decoding of every consumer whose decoder has the same ``contextKeys`` in the same order and the same
/// ``maxBytes``, and for no other.
///
/// Not thread-safe while it is filled; once filled, any number of threads may read it (it is a class so that
/// threads can share one, and `@unchecked Sendable` for that: the owner must not fill it while another thread
/// reads).
public final class EventBatch: @unchecked Sendable {
    /// One input's outcome: its event, or why it was rejected (an index into ``rejections``). Plain values only,
    /// so reading an entry copies no reference.
    public enum Entry {
        case event(EventView)
        case rejected(Int)
    }

    /// Everything a decode writes, in one stored property: a batch of inputs is appended by one mutating call on
    /// it (``append(lines:in:)``), so Swift checks exclusive access to the class's storage once per batch, not for
    /// each of the half-dozen fields an input touches (those checks cost the reading thread 11 % of its time).
    var state: State

    /// A batch decoding as `EventDecoder(contextKeys: contextKeys, maxBytes: maxBytes)` does.
    public init(contextKeys: [String], maxBytes: Int = 65_536) {
        state = State(decoder: EventDecoder(contextKeys: contextKeys, maxBytes: maxBytes))
    }

    deinit { state.deallocate() }

    /// One entry per input appended since the last ``removeAll()``.
    public var entries: [Entry] { state.entries }
    /// The reasons of the rejected inputs, in input order.
    public var rejections: [RejectReason] { state.rejections }
    /// The context keys its events' slots stand for, in slot order.
    public var contextKeys: [String] { state.decoder.contextKeys }
    /// The size limit of its decoder.
    public var maxBytes: Int { state.decoder.maxBytes }

    /// The number of inputs appended.
    public var count: Int { state.entries.count }

    /// Forgets every entry (keeping every buffer's capacity): the views handed out before are no longer valid.
    public func removeAll() { state.removeAll() }

    /// Decodes `input` and appends its entry. `input` must stay alive and unchanged while the entry is used.
    public func append(_ input: UnsafeRawBufferPointer) { state.append(input) }

    /// Decodes and appends the inputs `bytes[line]` of every line, in order (as ``append(_:)`` of each).
    public func append(lines: UnsafeBufferPointer<Range<Int>>, in bytes: UnsafeRawBufferPointer) {
        state.append(lines: lines, in: bytes)
    }

    struct State {
        var decoder: EventDecoder
        var entries: [Entry] = []
        var rejections: [RejectReason] = []
        /// Unescaped strings of the batch's events (their copies out of the decoder's scratch).
        var strings = ChunkedArena<UInt8>(chunkSize: 1 << 16)
        /// The context slots of the batch's events, ``contextKeys``.count per event.
        var contexts = ChunkedArena<ContextValue>(chunkSize: 1 << 14)
        /// The spans of the batch's context arrays.
        var arrays = ChunkedArena<UnsafeRawBufferPointer>(chunkSize: 1 << 14)

        func deallocate() {
            strings.deallocate()
            contexts.deallocate()
            arrays.deallocate()
        }

        mutating func removeAll() {
            entries.removeAll(keepingCapacity: true)
            rejections.removeAll(keepingCapacity: true)
            strings.reset()
            contexts.reset()
            arrays.reset()
        }

        mutating func append(lines: UnsafeBufferPointer<Range<Int>>, in bytes: UnsafeRawBufferPointer) {
            for line in lines { append(UnsafeRawBufferPointer(rebasing: bytes[line])) }
        }

        @inline(__always)
        mutating func append(_ input: UnsafeRawBufferPointer) {
            do {
                let view = try decoder.decode(input)
                entries.append(.event(keep(view, input: input)))
            } catch {
                entries.append(.rejected(rejections.count))
                rejections.append(error)
            }
        }

        /// `view` with everything that points into the decoder copied into the batch.
        @inline(__always)
        mutating func keep(_ view: EventView, input: UnsafeRawBufferPointer) -> EventView {
            var kept = view
            kept.eventID = keep(view.eventID, input: input)
            kept.userID = keep(view.userID, input: input)
            kept.itemID = keep(view.itemID, input: input)
            let n = view.contextSlots.count
            guard n > 0 else { return kept }
            let slots = contexts.allocate(n)
            for i in 0..<n {
                let value: ContextValue
                switch view.contextSlots[i] {
                case .string(let s): value = .string(keep(s, input: input))
                case .strings(let array):
                    let spans = arrays.allocate(array.spans.count)
                    for j in 0..<array.spans.count { (spans + j).initialize(to: keep(array.spans[j], input: input)) }
                    value = .strings(ContextStrings(spans: UnsafeBufferPointer(start: spans, count: array.spans.count)))
                case let other: value = other
                }
                (slots + i).initialize(to: value)
            }
            kept.contextSlots = UnsafeBufferPointer(start: slots, count: n)
            return kept
        }

        /// `span` itself when it lies in `input`, else its copy in the batch.
        @inline(__always)
        mutating func keep(_ span: UnsafeRawBufferPointer, input: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
            guard let start = span.baseAddress, let base = input.baseAddress else { return span }
            if start >= base && start + span.count <= base + input.count { return span }
            let copy = strings.allocate(span.count)
            UnsafeMutableRawPointer(copy).copyMemory(from: start, byteCount: span.count)
            return UnsafeRawBufferPointer(start: copy, count: span.count)
        }
    }
}

// MARK: - ChunkedArena

/// Memory handed out in pieces from chunks that never move: a piece stays where it is until ``reset()`` (which
/// keeps every chunk for reuse) or ``deallocate()``. For trivial types only (nothing is deinitialized).
struct ChunkedArena<T> {
    let chunkSize: Int
    var chunks: [UnsafeMutableBufferPointer<T>] = []
    /// The chunk pieces come from, and how much of it is used.
    var current = 0
    var used = 0

    init(chunkSize: Int) {
        precondition(_isPOD(T.self), "ChunkedArena holds trivial types only")
        self.chunkSize = chunkSize
    }

    /// Room for `n` values (uninitialized), contiguous.
    @inline(__always)
    mutating func allocate(_ n: Int) -> UnsafeMutablePointer<T> {
        if current < chunks.count, chunks[current].count - used >= n {
            let p = chunks[current].baseAddress! + used
            used += n
            return p
        }
        return allocateSlow(n)
    }

    @inline(never)
    mutating func allocateSlow(_ n: Int) -> UnsafeMutablePointer<T> {
        // The next chunk with room (kept from an earlier batch), or a new one.
        if current < chunks.count { current += 1 }
        while current < chunks.count, chunks[current].count < n { current += 1 }
        if current == chunks.count { chunks.append(.allocate(capacity: max(chunkSize, n))) }
        used = n
        return chunks[current].baseAddress!
    }

    mutating func reset() {
        current = 0
        used = 0
    }

    func deallocate() {
        for chunk in chunks { chunk.deallocate() }
    }
}
