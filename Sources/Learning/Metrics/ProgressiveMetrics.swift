#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - ProgressiveMetrics

/// Progressive-validation metrics for binary probability predictions.
///
/// Feed it each prediction made *before* the model learns from the example (predict-then-learn), one example
/// at a time, River-style. Every figure is a weighted mean: an example of weight `w` counts `w` times.
///
/// - Whole-stream figures: ``logloss``, ``auc`` (histogram AUC, see ``StreamingAUC`` for its error bound,
///   reported by ``aucErrorBound``), ``accuracy``, ``meanPrediction``, ``positiveRate``, ``calibration``.
/// - Per-window figures: every `windowSize` recorded examples close a ``WindowSummary`` with the window's own
///   log loss and *exact* AUC, and the cumulative figures at that point.
///
/// **Cost.** ``record(probability:label:weight:)`` is O(1) and does not allocate: the window's examples live in a
/// buffer reused from window to window (reserved up front, up to 2²⁰ entries), radix-sorted through a reused scratch
/// buffer when the window closes (O(windowSize) once per window), plus one pass over the AUC histogram's block
/// totals for the cumulative AUC (O(aucBins/16), tens of microseconds). Memory is fixed at `init` (17 MiB for the
/// AUC histogram at 2²⁰ bins, 48 bytes per window slot), except the list of completed ``windows``, which grows by
/// one small struct per window.
///
/// **Invalid input.** A probability that is NaN or outside `[0, 1]`, or a weight that is negative, NaN or infinite,
/// is *not* recorded: it is counted in ``rejected`` and changes nothing else. Report `rejected` next to the metrics;
/// it should be zero.
///
/// **Undefined values.** Means over zero weight are NaN (e.g. everything before the first example); AUC is NaN while
/// there is no positive or no negative weight.
public struct ProgressiveMetrics: Sendable {
    // MARK: Configuration

    /// Examples per window summary.
    public let windowSize: Int
    /// Number of equal-width calibration bins over `[0, 1]`.
    public let calibrationBins: Int

    // MARK: State

    /// Weighted sums over a set of examples.
    private struct Totals: Sendable {
        var count = 0
        var positives = 0
        var weight = 0.0
        var positiveWeight = 0.0
        var lossSum = 0.0
        var correctWeight = 0.0
        var predictionSum = 0.0

        @inline(__always)
        mutating func add(probability: Double, label: Bool, weight w: Double, loss: Double) {
            count &+= 1
            weight += w
            lossSum += w * loss
            predictionSum += w * probability
            if label {
                positives &+= 1
                positiveWeight += w
            }
            if (probability >= ProgressiveMetrics.decisionThreshold) == label { correctWeight += w }
        }

        var logloss: Double { lossSum / weight }
        var accuracy: Double { correctWeight / weight }
        var meanPrediction: Double { predictionSum / weight }
        var positiveRate: Double { positiveWeight / weight }
    }

    private var totals = Totals()
    private var window = Totals()
    @usableFromInline private(set) var histogram: StreamingAUC
    private var windowExamples: [ScoredExample]
    private var sortScratch: [ScoredExample]
    private var radixCounts: [Int]
    private var completed: [WindowSummary] = []
    private var binCount: [Int]
    private var binWeight: [Double]
    private var binPredicted: [Double]
    private var binPositive: [Double]
    private var rejectedCount = 0

    /// Probabilities are clamped to `[loglossEpsilon, 1 − loglossEpsilon]` for log loss.
    public static let loglossEpsilon = 1e-15
    /// A prediction `p ≥ decisionThreshold` counts as a positive call for ``accuracy``.
    public static let decisionThreshold = 0.5

    // MARK: Init

    /// Creates empty metrics.
    ///
    /// - Parameters:
    ///   - windowSize: examples per ``WindowSummary`` (> 0).
    ///   - calibrationBins: equal-width bins of predicted probability for ``calibration`` (> 0; deciles by default).
    ///   - aucBins: histogram bins per class for the whole-stream AUC (> 0; see ``StreamingAUC``).
    public init(windowSize: Int = 10_000, calibrationBins: Int = 10, aucBins: Int = 1 << 20) {
        precondition(windowSize > 0, "windowSize must be positive")
        precondition(calibrationBins > 0, "calibrationBins must be positive")
        self.windowSize = windowSize
        self.calibrationBins = calibrationBins
        histogram = StreamingAUC(bins: aucBins)
        let reserved = min(windowSize, 1 << 20)
        windowExamples = []
        windowExamples.reserveCapacity(reserved)
        sortScratch = Array(repeating: ScoredExample(score: 0, weight: 0, label: false), count: reserved)
        radixCounts = Array(repeating: 0, count: ExactAUC.radixCounterCount)
        binCount = Array(repeating: 0, count: calibrationBins)
        binWeight = Array(repeating: 0, count: calibrationBins)
        binPredicted = Array(repeating: 0, count: calibrationBins)
        binPositive = Array(repeating: 0, count: calibrationBins)
    }

    // MARK: Recording

    /// Records one prediction made before learning from the example.
    ///
    /// - Parameters:
    ///   - probability: predicted P(label = true), in `[0, 1]`.
    ///   - label: what happened.
    ///   - weight: importance of the example (≥ 0, finite).
    ///
    /// Invalid input is counted in ``rejected`` and otherwise ignored. O(1), no allocation (except appending a
    /// ``WindowSummary`` when a window closes).
    public mutating func record(probability: Double, label: Bool, weight: Double = 1) {
        guard probability >= 0, probability <= 1, weight >= 0, weight < .infinity else {
            rejectedCount &+= 1
            return
        }
        let loss = Self.logloss(probability: probability, label: label)
        totals.add(probability: probability, label: label, weight: weight, loss: loss)
        window.add(probability: probability, label: label, weight: weight, loss: loss)
        histogram.record(probability, label: label, weight: weight)

        let bin = min(Int(probability * Double(calibrationBins)), calibrationBins &- 1)
        binCount[bin] &+= 1
        binWeight[bin] += weight
        binPredicted[bin] += weight * probability
        if label { binPositive[bin] += weight }

        windowExamples.append(ScoredExample(score: probability, weight: weight, label: label))
        if window.count == windowSize { closeWindow() }
    }

    /// The whole-stream AUC histogram: its bin count and its non-empty bins (see ``StreamingAUC/nonEmptyBins()``).
    public var aucHistogram: (bins: Int, nonEmpty: [(bin: Int, positive: Double, negative: Double)]) {
        (histogram.bins, histogram.nonEmptyBins())
    }

    /// Starts loading the histogram counters a later ``record(probability:label:weight:)`` of `probability` will
    /// touch (a cache hint; changes nothing). Call it when the prediction is made, long before its label arrives.
    /// Inlinable: a call would pass the metrics by address to a copy of them (hundreds of bytes per call).
    @inlinable @inline(__always)
    public func prefetch(probability: Double) {
        histogram.prefetch(probability)
    }

    /// Log loss of one prediction, the probability clamped to `[1e-15, 1 − 1e-15]`.
    @inline(__always)
    public static func logloss(probability: Double, label: Bool) -> Double {
        let p = min(max(probability, loglossEpsilon), 1 - loglossEpsilon)
        return label ? -log(p) : -log(1 - p)
    }

    /// Summarises the current window, appends it to ``windows`` and starts a new one.
    private mutating func closeWindow() {
        let auc = Self.exactAUC(&windowExamples, scratch: &sortScratch, counts: &radixCounts)
        completed.append(summary(of: window, auc: auc))
        window = Totals()
        windowExamples.removeAll(keepingCapacity: true)
    }

    /// Sorts `examples` (in place, using the working space given) and returns their exact AUC.
    private static func exactAUC(
        _ examples: inout [ScoredExample], scratch: inout [ScoredExample], counts: inout [Int]
    ) -> Double {
        if scratch.count < examples.count {  // only when windowSize exceeds the 2²⁰ slots reserved up front
            scratch.append(
                contentsOf: repeatElement(
                    ScoredExample(score: 0, weight: 0, label: false), count: examples.count - scratch.count))
        }
        return examples.withUnsafeMutableBufferPointer { buffer in
            scratch.withUnsafeMutableBufferPointer { scratchBuffer in
                counts.withUnsafeMutableBufferPointer { countBuffer in
                    ExactAUC.sortByScore(buffer, scratch: scratchBuffer, counts: countBuffer)
                    return ExactAUC.auc(sorted: UnsafeBufferPointer(buffer))
                }
            }
        }
    }

    private func summary(of part: Totals, auc: Double) -> WindowSummary {
        WindowSummary(
            endExample: totals.count, count: part.count, positives: part.positives,
            logloss: part.logloss, auc: auc,
            meanPrediction: part.meanPrediction, positiveRate: part.positiveRate,
            cumulativeLogloss: totals.logloss, cumulativeAUC: histogram.value
        )
    }

    // MARK: Whole-stream figures

    /// Examples recorded (rejected ones excluded).
    public var count: Int { totals.count }

    /// Positive examples recorded.
    public var positives: Int { totals.positives }

    /// Examples refused: probability NaN or outside `[0, 1]`, or weight negative, NaN or infinite.
    public var rejected: Int { rejectedCount }

    /// Total weight recorded.
    public var totalWeight: Double { totals.weight }

    /// Weighted mean log loss, probabilities clamped to `[1e-15, 1 − 1e-15]`; NaN before any weight.
    public var logloss: Double { totals.logloss }

    /// Weighted ROC AUC over all examples so far (histogram AUC, ties count ½; NaN without both classes).
    ///
    /// Exact up to pairs sharing one histogram bin; ``aucErrorBound`` bounds the difference. Costs one pass over
    /// the histogram's block totals (O(aucBins/16)): read it when reporting, not per example.
    public var auc: Double { histogram.value }

    /// Upper bound on `|auc − exact AUC|` (see ``StreamingAUC/errorBound``).
    public var aucErrorBound: Double { histogram.errorBound }

    /// Weighted fraction of correct calls, calling positive when `p ≥ 0.5`; NaN before any weight.
    public var accuracy: Double { totals.accuracy }

    /// Weighted mean predicted probability; NaN before any weight.
    public var meanPrediction: Double { totals.meanPrediction }

    /// Weighted fraction of positive labels; NaN before any weight.
    public var positiveRate: Double { totals.positiveRate }

    /// Calibration table: `calibrationBins` fixed-width bins of predicted probability (deciles by default),
    /// all of them, empty ones included (their means are NaN). Counts add up to ``count``.
    public var calibration: [CalibrationBin] {
        (0..<calibrationBins).map { i in
            let w = binWeight[i]
            return CalibrationBin(
                lower: Double(i) / Double(calibrationBins),
                upper: Double(i + 1) / Double(calibrationBins),
                count: binCount[i], weight: w,
                meanPredicted: binPredicted[i] / w,
                observedRate: binPositive[i] / w
            )
        }
    }

    /// Expected calibration error: Σ over bins of (bin weight / total weight) · |meanPredicted − observedRate|.
    /// NaN before any weight.
    public var expectedCalibrationError: Double {
        var sum = 0.0
        for i in 0..<calibrationBins where binWeight[i] > 0 {
            sum += abs(binPredicted[i] - binPositive[i])
        }
        return sum / totals.weight
    }

    // MARK: Windows

    /// One summary per completed window of `windowSize` examples, oldest first.
    public var windows: [WindowSummary] { completed }

    /// ``windows`` plus a summary of the current partial window when it holds at least one example.
    ///
    /// The partial summary's AUC sorts a copy of the current window (this getter allocates; `record` does not).
    public var windowsIncludingPartial: [WindowSummary] {
        guard window.count > 0 else { return completed }
        var copy = windowExamples
        var scratch = sortScratch
        var counts = radixCounts
        let auc = Self.exactAUC(&copy, scratch: &scratch, counts: &counts)
        return completed + [summary(of: window, auc: auc)]
    }
}
