import Learning
import Testing

// MARK: - StreamingAUC against the exact pairwise AUC

@Test(arguments: [UInt64(1), 2, 3, 4, 5])
func streamingAUCMatchesPairwiseAUCOnRandomStreams(seed: UInt64) {
    let stream = MetricsReference.stream(seed: seed, count: 2_000, weighted: seed % 2 == 0)
    var auc = StreamingAUC()
    for e in stream { auc.record(e.p, label: e.label, weight: e.weight) }
    let exact = MetricsReference.pairwiseAUC(stream)
    #expect(auc.count == stream.count)
    #expect(exact > 0.6)  // the stream carries signal, so a broken sweep cannot pass by sitting near ½
    #expect(abs(auc.value - exact) < 1e-4)
    #expect(abs(auc.value - exact) <= auc.errorBound + 1e-12)
}

@Test(arguments: [UInt64(11), 12, 13])
func streamingAUCIsExactWhenScoresAreWellSeparated(seed: UInt64) {
    // Scores are multiples of 1/4096: distinct ones are 256 bins apart, equal ones are true ties.
    let stream = MetricsReference.stream(seed: seed, count: 3_000, quantum: 1.0 / 4096)
    var auc = StreamingAUC()
    for e in stream { auc.record(e.p, label: e.label) }
    #expect(auc.value == MetricsReference.pairwiseAUC(stream))
    #expect(auc.errorBound > 0)  // true ties share bins, and the bound counts them
}

@Test func streamingAUCTreatsExactTiesAsHalfPairs() {
    // Coarse scores (eighths) make many exact ties; the histogram must count them ½ like the exact AUC.
    let stream = MetricsReference.stream(seed: 21, count: 1_500, quantum: 0.125)
    var auc = StreamingAUC()
    for e in stream { auc.record(e.p, label: e.label) }
    #expect(auc.value == MetricsReference.pairwiseAUC(stream))
}

@Test func streamingAUCErrorStaysWithinItsBoundWithCoarseBins() {
    // With 16 bins most pairs share a bin: the answer is approximate, and the documented bound must hold.
    let stream = MetricsReference.stream(seed: 31, count: 1_000, weighted: true)
    var auc = StreamingAUC(bins: 16)
    for e in stream { auc.record(e.p, label: e.label, weight: e.weight) }
    let exact = MetricsReference.pairwiseAUC(stream)
    #expect(auc.errorBound > 0.001)
    #expect(abs(auc.value - exact) <= auc.errorBound + 1e-12)
}

@Test func streamingAUCWeightEqualsRepeatedExamples() {
    let stream = MetricsReference.stream(seed: 41, count: 500, quantum: 1.0 / 1024)
    var weighted = StreamingAUC()
    var repeated = StreamingAUC()
    for (i, e) in stream.enumerated() {
        let copies = i % 3 + 1
        weighted.record(e.p, label: e.label, weight: Double(copies))
        for _ in 0..<copies { repeated.record(e.p, label: e.label) }
    }
    #expect(weighted.value == repeated.value)
    #expect(weighted.positiveWeight == repeated.positiveWeight)
    #expect(weighted.negativeWeight == repeated.negativeWeight)
}

@Test(arguments: [1, 3, 16, 37, 1_000, 4_099, 1 << 20])
func streamingAUCEqualsPairwiseAUCOfBinIndices(bins: Int) {
    // By definition the histogram AUC is the exact AUC of the bin indices ⌊p·bins⌋ (last bin closed), so any bin
    // count — including ones that leave a partial last block — must match it to rounding.
    let stream = MetricsReference.stream(seed: UInt64(bins), count: 1_500, weighted: true)
    let binned = stream.map { e in
        MetricsTestExample(p: Double(min(Int(e.p * Double(bins)), bins - 1)), label: e.label, weight: e.weight)
    }
    var auc = StreamingAUC(bins: bins)
    for e in stream { auc.record(e.p, label: e.label, weight: e.weight) }
    let expected = MetricsReference.pairwiseAUC(binned)
    if bins == 1 {
        #expect(abs(expected - 0.5) < 1e-12)  // one bin: every pair is a half
    }
    #expect(abs(auc.value - expected) < 1e-12)
}

// MARK: - Edge cases

@Test func streamingAUCIsNaNWithoutBothClasses() {
    var empty = StreamingAUC()
    #expect(empty.value.isNaN)
    var positives = StreamingAUC()
    for i in 0..<100 { positives.record(Double(i) / 100, label: true) }
    #expect(positives.value.isNaN)
    #expect(positives.errorBound.isNaN)
    var negatives = StreamingAUC()
    for i in 0..<100 { negatives.record(Double(i) / 100, label: false) }
    #expect(negatives.value.isNaN)
    empty.record(0.3, label: true)
    empty.record(0.2, label: false)
    #expect(empty.value == 1)
}

@Test func streamingAUCRejectsInvalidInputAndCountsIt() {
    var auc = StreamingAUC()
    auc.record(0.8, label: true)
    auc.record(0.1, label: false)
    auc.record(.nan, label: false)
    auc.record(1.5, label: false)
    auc.record(-0.01, label: true)
    auc.record(0.9, label: false, weight: -1)
    auc.record(0.9, label: false, weight: .nan)
    auc.record(0.9, label: false, weight: .infinity)
    #expect(auc.rejected == 6)
    #expect(auc.count == 2)
    #expect(auc.value == 1)
}

@Test func streamingAUCPutsTheExtremesInTheEndBins() {
    // p = 0 and p = 1 are valid and ordered correctly even with very few bins.
    var auc = StreamingAUC(bins: 4)
    auc.record(1, label: true)
    auc.record(0, label: false)
    auc.record(0.74, label: false)
    #expect(auc.value == 1)
    #expect(auc.errorBound == 0)
}
