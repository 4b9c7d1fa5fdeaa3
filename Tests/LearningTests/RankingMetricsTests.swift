import Learning
import Testing

// MARK: - RankingMetrics

@Test func rankingMetricsHitRateAndNDCGMatchHandComputedValues() {
    var metrics = RankingMetrics(k: 3)
    for rank in [0, 1, 2, 3, 10] { metrics.record(rank: rank) }
    #expect(metrics.count == 5)
    #expect(metrics.hits == 3)
    #expect(metrics.hitRate == 0.6)
    // (1/log2(2) + 1/log2(3) + 1/log2(4) + 0 + 0) / 5 = (1 + 0.6309297535714575 + 0.5) / 5
    #expect(abs(metrics.ndcg - 0.42618595071429155) < 1e-15)
}

@Test func rankingMetricsDefaultCutOffIsTen() {
    var metrics = RankingMetrics()
    #expect(metrics.k == 10)
    metrics.record(rank: 9)
    metrics.record(rank: 10)
    #expect(metrics.hitRate == 0.5)
    // 1/log2(11) = 0.28906482631788782, halved over two events.
    #expect(abs(metrics.ndcg - 0.28906482631788782 / 2) < 1e-15)
}

@Test func rankingMetricsAreNaNBeforeAnyEvent() {
    let metrics = RankingMetrics(k: 5)
    #expect(metrics.count == 0)
    #expect(metrics.hitRate.isNaN)
    #expect(metrics.ndcg.isNaN)
}

// MARK: - Ranking.rank

@Test func rankCountsHigherScoresAndHalfTheTies() {
    // Higher: 0.9, 0.7 → 2; equal: two 0.5s → +1.
    #expect(Ranking.rank(of: 0.5, among: [0.9, 0.5, 0.1, 0.5, 0.7]) == 3)
    #expect(Ranking.rank(of: 0.5, among: [0.5]) == 0)  // one tie counts half, rounded down
    #expect(Ranking.rank(of: 0.5, among: [0.5, 0.5, 0.5, 0.5]) == 2)  // a constant model ranks in the middle
    #expect(Ranking.rank(of: 0.95, among: [0.9, 0.5, 0.1]) == 0)
    #expect(Ranking.rank(of: 0.05, among: [0.9, 0.5, 0.1]) == 3)
    #expect(Ranking.rank(of: 0.3, among: []) == 0)
}

@Test func rankHandlesNaNWithoutFlatteringTheTarget() {
    #expect(Ranking.rank(of: .nan, among: [0.1, 0.2, 0.3]) == 3)
    #expect(Ranking.rank(of: 0.2, among: [.nan, 0.3, .nan]) == 1)
}

@Test func rankBufferAndArrayOverloadsAgreeOnRandomScores() {
    var rng = MetricsTestRNG(seed: 7)
    let scores = (0..<1_000).map { _ in (rng.unit() * 20).rounded() / 20 }  // many ties
    for target in [0.0, 0.35, 0.5, 1.0] {
        let viaBuffer = scores.withUnsafeBufferPointer { Ranking.rank(of: target, among: $0) }
        let higher = scores.filter { $0 > target }.count
        let equal = scores.filter { $0 == target }.count
        #expect(viaBuffer == higher + equal / 2)
        #expect(Ranking.rank(of: target, among: scores) == viaBuffer)
    }
}
