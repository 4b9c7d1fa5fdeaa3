// MARK: - EventView

/// A decoded event: plain values plus byte spans into the input buffer or into the decoder's scratch storage.
///
/// **Lifetime rule.** The spans (``eventID``, ``userID``, ``itemID``, context strings) and ``context(_:)`` are
/// valid only while the input buffer passed to ``EventDecoder/decode(_:)`` is alive and unchanged, and until the
/// next `decode` call on the same decoder (or the decoder's destruction). Copy what must outlive that — e.g.
/// `String(decoding: view.userID, as: UTF8.self)`. A view holds no references, so keeping one costs nothing; using a
/// stale one is undefined behaviour, like any dangling pointer.
///
/// Strings without escapes point into the input; strings with escapes point to their unescaped UTF-8 copy in the
/// decoder. Every string span is valid UTF-8.
public struct EventView {
    /// The event type (`type`).
    public var type: EventType
    /// Event time in milliseconds since the Unix epoch (`ts`): a non-negative JSON integer.
    public var timestamp: Int64
    /// The optional amount (`value`): a finite number, or `nil` when absent or `null`.
    public var value: Double?
    /// `event_id`: a non-empty string.
    public var eventID: UnsafeRawBufferPointer
    /// `user_id`: a non-empty string, or an integer number (then its digits as written, e.g. `196`).
    public var userID: UnsafeRawBufferPointer
    /// `item_id`: a non-empty string, or an integer number (then its digits as written).
    public var itemID: UnsafeRawBufferPointer
    /// `ranking_id` (optional): the ranking that showed the item, a non-empty string; empty when absent. Set on
    /// feedback (a click, add-to-cart or purchase of an item a ranking of the ranking API showed).
    public var rankingID: UnsafeRawBufferPointer
    /// `position` (optional): the item's position in that ranking as the client reports it, an integer in
    /// 0…Int32.max; -1 when absent. Read, not interpreted: the label join attributes by ranking and item.
    public var position: Int32
    /// The requested context values, one per ``EventDecoder/contextKeys`` entry (decoder-owned).
    @usableFromInline var contextSlots: UnsafeBufferPointer<ContextValue>

    /// Assembles a view (the decoder does this).
    @inlinable init(
        type: EventType, timestamp: Int64, value: Double?, eventID: UnsafeRawBufferPointer,
        userID: UnsafeRawBufferPointer, itemID: UnsafeRawBufferPointer,
        rankingID: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), position: Int32 = -1,
        contextSlots: UnsafeBufferPointer<ContextValue>
    ) {
        self.type = type
        self.timestamp = timestamp
        self.value = value
        self.eventID = eventID
        self.userID = userID
        self.itemID = itemID
        self.rankingID = rankingID
        self.position = position
        self.contextSlots = contextSlots
    }

    /// Whether the event names a ranking (`ranking_id`).
    @inlinable public var hasRanking: Bool { rankingID.count > 0 }

    /// The number of context slots (= the decoder's `contextKeys.count`).
    @inlinable public var contextCount: Int { contextSlots.count }

    /// The value of context key number `slot` (an index into the decoder's ``EventDecoder/contextKeys``).
    @inlinable public func context(_ slot: Int) -> ContextValue {
        precondition(slot >= 0 && slot < contextSlots.count, "context slot out of range")
        return contextSlots[slot]
    }
}
