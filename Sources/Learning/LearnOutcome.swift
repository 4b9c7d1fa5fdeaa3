// MARK: - LearnOutcome

/// What one `Model.learn` call did.
public struct LearnOutcome: Sendable, Equatable {
    /// The model's probability for the example *before* the update (progressive validation uses this).
    /// NaN when the margin was NaN (non-finite input).
    public var probability: Double
    /// False when the update was refused by the non-finite guard (the model is unchanged and
    /// `Model.rejectedNonFinite` was incremented).
    public var applied: Bool

    /// Creates an outcome.
    public init(probability: Double, applied: Bool) {
        self.probability = probability
        self.applied = applied
    }
}
