// MARK: - CalibrationBin

/// One fixed-width bin of predicted probability with what was predicted and what happened in it.
///
/// An example with prediction `p` belongs to bin `⌊p · bins⌋` (`p = 1` to the last bin), so bin `i` covers
/// `lower ≤ p < upper` with `lower = i/bins`, `upper = (i+1)/bins`. A well-calibrated model has
/// `meanPredicted ≈ observedRate` in every bin with enough weight.
public struct CalibrationBin: Sendable, Equatable {
    /// Inclusive lower edge of the bin.
    public var lower: Double
    /// Exclusive upper edge of the bin (inclusive for the last bin, whose upper edge is 1).
    public var upper: Double
    /// Number of examples recorded in the bin.
    public var count: Int
    /// Total weight of the examples in the bin.
    public var weight: Double
    /// Weighted mean predicted probability in the bin; NaN when the bin has no weight.
    public var meanPredicted: Double
    /// Weighted fraction of positive labels in the bin; NaN when the bin has no weight.
    public var observedRate: Double

    /// Creates a bin summary from its fields.
    public init(lower: Double, upper: Double, count: Int, weight: Double, meanPredicted: Double, observedRate: Double) {
        self.lower = lower
        self.upper = upper
        self.count = count
        self.weight = weight
        self.meanPredicted = meanPredicted
        self.observedRate = observedRate
    }
}
