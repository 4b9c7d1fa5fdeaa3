import Events
import Learning

/// Receives what a ``Pipeline`` step did, so each driver (worker, replay) can emit its own outputs.
/// Generic, not an existential: calls are specialised and inlined into the step.
public protocol PipelineSink {
    /// The input was rejected; `input` is the original bytes (valid during the call).
    mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer)
    /// An example event was scored before learning (its label comes later).
    mutating func scored(_ event: borrowing EventView, probability: Double)
    /// A pending example got its label and the model learned from it; `itemID` is the item's id bytes (empty when
    /// the item is not in the catalog), valid during the call.
    mutating func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer)
    /// The event was fully processed (after any labels it triggered).
    mutating func processed(_ event: borrowing EventView)
}

/// A labelled example as the model learned it.
public struct LabelledExample: Sendable, Equatable {
    /// Probability predicted when the example arrived (progressive validation uses this one).
    public var probability: Double
    public var label: Bool
    public var weight: Double
    /// Catalog index of the item, or -1.
    public var item: Int
    /// How the label was decided.
    public var cause: LabelCause
    /// Whether the update was applied (false: refused by the non-finite guard).
    public var applied: Bool
    /// The item-id feature's linear weight (the item's bias) before and after the update; nil when the pipeline
    /// has no `item_id` namespace.
    public var itemBiasBefore: Float?
    public var itemBiasAfter: Float?
}

/// Why an example got its label.
public enum LabelCause: String, Sendable, Equatable {
    /// Feedback of the same (user, item) arrived in the window.
    case feedback
    /// The attribution window passed the watermark.
    case windowExpired = "window_expired"
    /// The join buffer was full; labelled negative early (counted).
    case overflow
    /// A finite input ended (replay) and closed the window.
    case endOfInput = "end_of_input"
}

/// A sink that ignores everything (metrics are kept by the pipeline itself).
public struct NullSink: PipelineSink {
    public init() {}
    @inlinable public mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) {}
    @inlinable public mutating func scored(_ event: borrowing EventView, probability: Double) {}
    @inlinable public mutating func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer) {}
    @inlinable public mutating func processed(_ event: borrowing EventView) {}
}
