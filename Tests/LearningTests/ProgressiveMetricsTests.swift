import Learning
import Testing

// MARK: - Whole-stream figures, hand-computed

/// p, label: (0.9, +) (0.2, −) (0.6, −) (0.4, +).
private let handStream: [(Double, Bool)] = [(0.9, true), (0.2, false), (0.6, false), (0.4, true)]

@Test func progressiveMetricsMatchHandComputedStream() {
    var metrics = ProgressiveMetrics()
    for (p, y) in handStream { metrics.record(probability: p, label: y) }
    #expect(metrics.count == 4)
    #expect(metrics.positives == 2)
    #expect(metrics.rejected == 0)
    // (−ln 0.9 − ln 0.8 − ln 0.4 − ln 0.4) / 4 = (0.10536051565782628 + 0.2231435513142097 + 2·0.916290731874155) / 4
    #expect(abs(metrics.logloss - 0.5402713826800865) < 1e-15)
    #expect(metrics.accuracy == 0.5)  // 0.9 → + right, 0.2 → − right, 0.6 → + wrong, 0.4 → − wrong
    #expect(abs(metrics.meanPrediction - 0.525) < 1e-15)
    #expect(metrics.positiveRate == 0.5)
    #expect(metrics.auc == 0.75)
}

@Test func progressiveMetricsWeightExamples() {
    var metrics = ProgressiveMetrics()
    for ((p, y), w) in zip(handStream, [2.0, 1, 1, 0.5]) { metrics.record(probability: p, label: y, weight: w) }
    #expect(metrics.count == 4)
    #expect(metrics.totalWeight == 4.5)
    // (2·0.10536051565782628 + 0.2231435513142097 + 0.916290731874155 + 0.5·0.916290731874155) / 4.5
    #expect(abs(metrics.logloss - 0.4018445956535766) < 1e-15)
    #expect(abs(metrics.accuracy - 3 / 4.5) < 1e-15)
    #expect(abs(metrics.meanPrediction - 2.8 / 4.5) < 1e-15)
    #expect(abs(metrics.positiveRate - 2.5 / 4.5) < 1e-15)
    // Pair weights: (0.9,0.2)=2 ✓ (0.9,0.6)=2 ✓ (0.4,0.2)=0.5 ✓ (0.4,0.6)=0.5 ✗ → 4.5 / 5.
    #expect(abs(metrics.auc - 0.9) < 1e-15)
}

@Test func progressiveMetricsIntegerWeightEqualsRepeatingTheExample() {
    let stream = MetricsReference.stream(seed: 5, count: 300)
    var weighted = ProgressiveMetrics(windowSize: 1_000)
    var repeated = ProgressiveMetrics(windowSize: 1_000)
    for (i, e) in stream.enumerated() {
        let copies = i % 4 + 1
        weighted.record(probability: e.p, label: e.label, weight: Double(copies))
        for _ in 0..<copies { repeated.record(probability: e.p, label: e.label) }
    }
    #expect(abs(weighted.logloss - repeated.logloss) < 1e-12)
    #expect(abs(weighted.accuracy - repeated.accuracy) < 1e-12)
    #expect(abs(weighted.meanPrediction - repeated.meanPrediction) < 1e-12)
    #expect(weighted.auc == repeated.auc)
}

@Test func progressiveLoglossClampsCertainWrongPredictions() {
    var metrics = ProgressiveMetrics()
    metrics.record(probability: 0, label: true)
    // −ln(1e-15) = 15·ln 10
    #expect(abs(metrics.logloss - 34.538776394910684) < 1e-12)
    var other = ProgressiveMetrics()
    other.record(probability: 1, label: false)
    #expect(other.logloss.isFinite)
    #expect(abs(other.logloss - 34.5) < 0.2)
}

@Test func progressiveMetricsRejectInvalidInputWithoutChangingAnything() {
    var metrics = ProgressiveMetrics(windowSize: 3)
    for (p, y) in handStream { metrics.record(probability: p, label: y) }
    let before = (metrics.logloss, metrics.accuracy, metrics.auc, metrics.calibration, metrics.windowsIncludingPartial)
    metrics.record(probability: .nan, label: true)
    metrics.record(probability: 1.0001, label: true)
    metrics.record(probability: -1e-9, label: false)
    metrics.record(probability: 0.5, label: true, weight: -2)
    metrics.record(probability: 0.5, label: true, weight: .nan)
    metrics.record(probability: 0.5, label: true, weight: .infinity)
    #expect(metrics.rejected == 6)
    #expect(metrics.count == 4)
    #expect(metrics.logloss == before.0)
    #expect(metrics.accuracy == before.1)
    #expect(metrics.auc == before.2)
    #expect(metrics.calibration.map(\.count) == before.3.map(\.count))
    #expect(metrics.windowsIncludingPartial.map(\.count) == before.4.map(\.count))
}

@Test func progressiveMetricsAreNaNBeforeAnyExample() {
    let metrics = ProgressiveMetrics()
    #expect(metrics.count == 0)
    #expect(metrics.logloss.isNaN)
    #expect(metrics.auc.isNaN)
    #expect(metrics.accuracy.isNaN)
    #expect(metrics.meanPrediction.isNaN)
    #expect(metrics.windows.isEmpty)
    #expect(metrics.windowsIncludingPartial.isEmpty)
    #expect(metrics.calibration.count == 10)
    #expect(metrics.calibration.allSatisfy { $0.count == 0 && $0.meanPredicted.isNaN })
}

// MARK: - Windows

@Test(arguments: [(UInt64(1), false, nil as Double?), (2, true, nil), (3, true, 0.05)])
func windowSummariesMatchBruteForcePerWindowAndCumulatively(seed: UInt64, weighted: Bool, quantum: Double?) {
    let windowSize = 100
    let stream = MetricsReference.stream(seed: seed, count: 1_050, quantum: quantum, weighted: weighted)
    var metrics = ProgressiveMetrics(windowSize: windowSize)
    for e in stream { metrics.record(probability: e.p, label: e.label, weight: e.weight) }

    let windows = metrics.windows
    #expect(windows.count == 10)
    for (i, window) in windows.enumerated() {
        let part = stream[(i * windowSize)..<((i + 1) * windowSize)]
        let prefix = stream[0..<((i + 1) * windowSize)]
        #expect(window.count == windowSize)
        #expect(window.endExample == (i + 1) * windowSize)
        #expect(window.positives == part.filter(\.label).count)
        #expect(abs(window.auc - MetricsReference.pairwiseAUC(part)) < 1e-12)
        #expect(abs(window.logloss - MetricsReference.logloss(part)) < 1e-12)
        let weight = part.reduce(0) { $0 + $1.weight }
        #expect(abs(window.meanPrediction - part.reduce(0) { $0 + $1.weight * $1.p } / weight) < 1e-12)
        #expect(abs(window.positiveRate - part.filter(\.label).reduce(0) { $0 + $1.weight } / weight) < 1e-12)
        #expect(abs(window.cumulativeLogloss - MetricsReference.logloss(prefix)) < 1e-12)
        #expect(abs(window.cumulativeAUC - MetricsReference.pairwiseAUC(prefix)) < 1e-4)
    }

    let all = metrics.windowsIncludingPartial
    #expect(all.count == 11)
    #expect(Array(all.prefix(10)) == windows)
    let last = all[10]
    let tail = stream[1_000...]
    #expect(last.count == 50)
    #expect(last.endExample == 1_050)
    #expect(abs(last.auc - MetricsReference.pairwiseAUC(tail)) < 1e-12)
    #expect(abs(last.logloss - MetricsReference.logloss(tail)) < 1e-12)
    #expect(last.cumulativeLogloss == metrics.logloss)
    #expect(last.cumulativeAUC == metrics.auc)
    #expect(abs(metrics.auc - MetricsReference.pairwiseAUC(stream)) < 1e-4)
    #expect(all.reduce(0) { $0 + $1.count } == metrics.count)
    #expect(all.reduce(0) { $0 + $1.positives } == metrics.positives)
}

@Test func windowsIncludingPartialDoesNotDisturbTheCurrentWindow() {
    let stream = MetricsReference.stream(seed: 9, count: 150)
    var metrics = ProgressiveMetrics(windowSize: 100)
    for e in stream[..<130] { metrics.record(probability: e.p, label: e.label) }
    _ = metrics.windowsIncludingPartial  // sorts a copy, not the live window
    for e in stream[130...] { metrics.record(probability: e.p, label: e.label) }
    let partial = metrics.windowsIncludingPartial[1]
    #expect(partial.count == 50)
    #expect(abs(partial.auc - MetricsReference.pairwiseAUC(stream[100...])) < 1e-12)
}

@Test func windowWithoutPositivesHasNaNAUCAndTheStreamGoesOn() {
    var metrics = ProgressiveMetrics(windowSize: 4)
    for p in [0.1, 0.2, 0.3, 0.4] { metrics.record(probability: p, label: false) }
    for (p, y) in handStream { metrics.record(probability: p, label: y) }
    let windows = metrics.windows
    #expect(windows.count == 2)
    #expect(windows[0].auc.isNaN)
    #expect(windows[0].cumulativeAUC.isNaN)
    #expect(windows[1].auc == 0.75)
    // All eight: positives 0.9, 0.4 vs negatives 0.1 0.2 0.3 0.4 0.2 0.6:
    // 0.9 beats all 6; 0.4 beats 0.1 0.2 0.3 0.2, ties 0.4 (½), loses to 0.6 → (6 + 4.5) / 12.
    #expect(windows[1].cumulativeAUC == 10.5 / 12)
    #expect(metrics.windowsIncludingPartial == windows)
}

@Test func windowAUCIsExactOnAwkwardScoreOrders() {
    // Descending, ascending and constant runs, both extremes, and −0 (a valid probability equal to 0).
    var scores: [Double] = (0..<40).map { 1 - Double($0) / 40 } + (0..<40).map { Double($0) / 40 }
    scores += Array(repeating: 0.5, count: 30) + [0, 1, -0.0, 0, 1, -0.0, 1e-300, 0.9999999999999999]
    var rng = MetricsTestRNG(seed: 77)
    let stream = scores.map { MetricsTestExample(p: $0, label: rng.unit() < 0.5, weight: 0.5 + rng.unit()) }
    var metrics = ProgressiveMetrics(windowSize: stream.count)
    for e in stream { metrics.record(probability: e.p, label: e.label, weight: e.weight) }
    #expect(metrics.rejected == 0)
    #expect(metrics.windows.count == 1)
    #expect(abs(metrics.windows[0].auc - MetricsReference.pairwiseAUC(stream)) < 1e-12)
}

@Test func windowOfOneExampleHasUndefinedAUC() {
    var metrics = ProgressiveMetrics(windowSize: 1)
    for (p, y) in handStream { metrics.record(probability: p, label: y) }
    #expect(metrics.windows.count == 4)
    #expect(metrics.windows.allSatisfy { $0.count == 1 && $0.auc.isNaN })
    #expect(metrics.windows.map(\.endExample) == [1, 2, 3, 4])
    #expect(metrics.windows[3].cumulativeAUC == 0.75)
}

// MARK: - Calibration

@Test(arguments: [10, 7])
func calibrationBinsMatchBruteForce(bins: Int) {
    let stream = MetricsReference.stream(seed: UInt64(100 + bins), count: 5_000, weighted: true)
    var metrics = ProgressiveMetrics(windowSize: 1_000, calibrationBins: bins)
    for e in stream { metrics.record(probability: e.p, label: e.label, weight: e.weight) }
    let table = metrics.calibration
    #expect(table.count == bins)
    #expect(table.reduce(0) { $0 + $1.count } == metrics.count)
    #expect(abs(table.reduce(0) { $0 + $1.weight } - metrics.totalWeight) < 1e-9)
    var ece = 0.0
    for (i, bin) in table.enumerated() {
        #expect(abs(bin.lower - Double(i) / Double(bins)) < 1e-15)
        #expect(abs(bin.upper - Double(i + 1) / Double(bins)) < 1e-15)
        let members = stream.filter { $0.p >= bin.lower && ($0.p < bin.upper || (i == bins - 1 && $0.p <= 1)) }
        let weight = members.reduce(0) { $0 + $1.weight }
        let predicted = members.reduce(0) { $0 + $1.weight * $1.p } / weight
        let observed = members.filter(\.label).reduce(0) { $0 + $1.weight } / weight
        #expect(bin.count == members.count)
        #expect(bin.count > 0)
        #expect(abs(bin.meanPredicted - predicted) < 1e-12)
        #expect(abs(bin.observedRate - observed) < 1e-12)
        #expect(bin.meanPredicted >= bin.lower && bin.meanPredicted <= bin.upper)
        ece += weight * abs(predicted - observed)
    }
    #expect(abs(metrics.expectedCalibrationError - ece / metrics.totalWeight) < 1e-12)
}

@Test func calibrationPutsZeroInTheFirstBinAndOneInTheLast() {
    var metrics = ProgressiveMetrics(calibrationBins: 4)
    metrics.record(probability: 0, label: false)
    metrics.record(probability: 1, label: true)
    metrics.record(probability: 0.25, label: true)
    let table = metrics.calibration
    #expect(table.map(\.count) == [1, 1, 0, 1])
    #expect(table[1].meanPredicted == 0.25 && table[1].observedRate == 1)
    #expect(table[2].meanPredicted.isNaN && table[2].observedRate.isNaN)
    #expect(table[3].meanPredicted == 1 && table[3].observedRate == 1)
    #expect(metrics.expectedCalibrationError == 0.75 / 3)  // only the 0.25 → 1 bin is off, by 0.75
}
