// MARK: - FeatureRow

/// A reusable sparse example: hashed indices, their values, and the field (namespace id `0..<64`) of each feature.
///
/// Build one row per worker, then per event call `removeAll()` and `append(index:value:field:)`: capacity is kept, so
/// steady-state featurization does not allocate. The three arrays are parallel (same count, same order).
/// Indices are table slots (`FeatureHasher.index(_:)`); a model masks them again to its own size, so an index
/// from a wider hasher can never address memory outside the model.
public struct FeatureRow: Sendable {
    @usableFromInline var _indices: [UInt32]
    @usableFromInline var _values: [Float]
    @usableFromInline var _fields: [UInt8]

    /// Hashed table slots, one per feature.
    @inlinable public var indices: [UInt32] { _indices }
    /// Feature values (1 for a present categorical feature), parallel to `indices`.
    @inlinable public var values: [Float] { _values }
    /// Field (namespace id, `0..<64`) of each feature, parallel to `indices`. Models use fields to split features
    /// into towers (see `ModelKind.matrixFactorization`).
    @inlinable public var fields: [UInt8] { _fields }

    /// Number of features in the row.
    @inlinable public var count: Int { _indices.count }

    /// Creates an empty row with room for `capacity` features.
    public init(capacity: Int = 64) {
        _indices = []
        _values = []
        _fields = []
        _indices.reserveCapacity(capacity)
        _values.reserveCapacity(capacity)
        _fields.reserveCapacity(capacity)
    }

    /// Creates a row from parallel arrays (convenience for tests and tools). Fields must be `< 64` and the three
    /// arrays must have the same count; violations trap.
    public init(indices: [UInt32], values: [Float], fields: [UInt8]) {
        guard indices.count == values.count, values.count == fields.count else {
            fatalError("FeatureRow: indices, values and fields must have the same count")
        }
        guard fields.allSatisfy({ $0 < 64 }) else { fatalError("FeatureRow: fields must be < 64") }
        _indices = indices
        _values = values
        _fields = fields
    }

    // MARK: Building

    /// Removes all features and keeps the capacity.
    @inlinable
    public mutating func removeAll() {
        _indices.removeAll(keepingCapacity: true)
        _values.removeAll(keepingCapacity: true)
        _fields.removeAll(keepingCapacity: true)
    }

    /// Appends one feature. `field` is taken modulo 64 (fields are bit positions in 64-bit field masks).
    @inlinable
    public mutating func append(index: UInt32, value: Float, field: UInt8) {
        _indices.append(index)
        _values.append(value)
        _fields.append(field & 63)
    }
}
