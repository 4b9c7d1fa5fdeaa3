// MARK: - WindowSummary

/// Progressive-validation figures for one window of consecutive examples, plus the running totals at its end.
///
/// Per-window figures show drift and learning progress; the cumulative ones are the usual progressive
/// validation scores over the whole stream so far. Fields that are undefined for the data (AUC of a window
/// without positives or without negatives, means over zero weight) are NaN.
public struct WindowSummary: Sendable, Equatable {
    /// Cumulative number of examples recorded at the end of the window.
    public var endExample: Int
    /// Examples in the window.
    public var count: Int
    /// Positive examples in the window.
    public var positives: Int
    /// Weighted mean log loss within the window.
    public var logloss: Double
    /// Exact weighted ROC AUC within the window (ties count ½).
    public var auc: Double
    /// Weighted mean predicted probability within the window.
    public var meanPrediction: Double
    /// Weighted fraction of positives within the window.
    public var positiveRate: Double
    /// Weighted mean log loss over all examples up to the end of the window.
    public var cumulativeLogloss: Double
    /// ROC AUC over all examples up to the end of the window (histogram AUC, see ``StreamingAUC``).
    public var cumulativeAUC: Double

    /// Creates a window summary from its fields.
    public init(
        endExample: Int, count: Int, positives: Int, logloss: Double, auc: Double,
        meanPrediction: Double, positiveRate: Double, cumulativeLogloss: Double, cumulativeAUC: Double
    ) {
        self.endExample = endExample
        self.count = count
        self.positives = positives
        self.logloss = logloss
        self.auc = auc
        self.meanPrediction = meanPrediction
        self.positiveRate = positiveRate
        self.cumulativeLogloss = cumulativeLogloss
        self.cumulativeAUC = cumulativeAUC
    }
}
