// MARK: - FeatureSlice

/// A borrowed, read-only view of a sparse example stored elsewhere: three parallel buffers (hashed indices, values,
/// fields) of `count` features, as a ``FeatureRow`` holds them.
///
/// For hot paths that keep features in their own storage (a join buffer's arena, a featurizer's scratch): a model
/// reads them in place, without copying them into a row first. The caller guarantees the memory stays valid and
/// unchanged for the duration of the call it passes the slice to; fields are taken modulo 64 like a row's.
public struct FeatureSlice {
    /// Hashed table slots.
    public let indices: UnsafePointer<UInt32>
    /// Feature values, parallel to `indices`.
    public let values: UnsafePointer<Float>
    /// Fields (namespace ids), parallel to `indices`.
    public let fields: UnsafePointer<UInt8>
    /// Number of features.
    public let count: Int

    /// A view of `count` features at the three pointers.
    @inlinable
    public init(indices: UnsafePointer<UInt32>, values: UnsafePointer<Float>, fields: UnsafePointer<UInt8>, count: Int) {
        self.indices = indices
        self.values = values
        self.fields = fields
        self.count = count
    }

    /// The kernels' view.
    @inlinable @inline(__always)
    var view: Kernels.RowView {
        Kernels.RowView(
            indices: UnsafeBufferPointer(start: indices, count: count), values: UnsafeBufferPointer(start: values, count: count),
            fields: UnsafeBufferPointer(start: fields, count: count))
    }
}

// MARK: - MarginStamp

/// A margin together with the exact model state it was computed on (the parameter table's identity and the model's
/// update count). ``Model/learn(_:label:weight:reusing:)`` skips recomputing the margin when the model is still in
/// that state: the forward pass is deterministic, so the reused value is bit-identical to a recomputed one.
public struct MarginStamp: Sendable, Equatable {
    /// The raw margin.
    public let margin: Double
    /// `Model.probability(margin: margin)`, computed once (the prediction and the update both need it).
    public let probability: Double
    @usableFromInline let storage: ObjectIdentifier?
    @usableFromInline let version: UInt64

    /// A stamp that never matches (forces recomputation), e.g. after a restore.
    public static let none = MarginStamp(margin: .nan, storage: nil, version: 0)

    @usableFromInline
    init(margin: Double, storage: ObjectIdentifier?, version: UInt64) {
        self.margin = margin
        self.probability = clampedSigmoid(margin)
        self.storage = storage
        self.version = version
    }
}
