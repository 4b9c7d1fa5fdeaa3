import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Seeded PRNG

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny seeded generator so metric tests are reproducible.
struct MetricsTestRNG: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }
}

// MARK: - Reference implementations (brute force, independent of the production code paths)

/// One labelled, weighted prediction in a test stream.
struct MetricsTestExample {
    var p: Double
    var label: Bool
    var weight: Double
}

enum MetricsReference {
    /// Random stream; label ~ Bernoulli(p) so the AUC is well above ½.
    /// - quantum: if non-nil, scores are multiples of it (creates exact ties).
    /// - weighted: weights uniform in [0.1, 3) instead of 1.
    static func stream(
        seed: UInt64, count: Int, quantum: Double? = nil, weighted: Bool = false
    ) -> [MetricsTestExample] {
        var rng = MetricsTestRNG(seed: seed)
        return (0..<count).map { _ in
            var p = rng.unit()
            if let quantum { p = (p / quantum).rounded(.down) * quantum }
            let label = rng.unit() < p
            let weight = weighted ? 0.1 + 2.9 * rng.unit() : 1
            return MetricsTestExample(p: p, label: label, weight: weight)
        }
    }

    /// Exact weighted ROC AUC by enumerating every positive/negative pair (ties count ½). NaN without both classes.
    static func pairwiseAUC(_ examples: ArraySlice<MetricsTestExample>) -> Double {
        var numerator = 0.0
        var positiveWeight = 0.0
        var negativeWeight = 0.0
        for e in examples { if e.label { positiveWeight += e.weight } else { negativeWeight += e.weight } }
        for a in examples where a.label {
            for b in examples where !b.label {
                if a.p > b.p {
                    numerator += a.weight * b.weight
                } else if a.p == b.p {
                    numerator += 0.5 * a.weight * b.weight
                }
            }
        }
        let pairs = positiveWeight * negativeWeight
        return pairs > 0 ? numerator / pairs : .nan
    }

    static func pairwiseAUC(_ examples: [MetricsTestExample]) -> Double { pairwiseAUC(examples[...]) }

    /// Weighted mean log loss with the textbook formula.
    static func logloss(_ examples: ArraySlice<MetricsTestExample>) -> Double {
        var loss = 0.0
        var weight = 0.0
        for e in examples {
            let p = min(max(e.p, 1e-15), 1 - 1e-15)
            loss += e.weight * (e.label ? -log(p) : -log(1 - p))
            weight += e.weight
        }
        return loss / weight
    }
}

// MARK: - Tests of the references themselves

@Test func pairwiseReferenceAUCMatchesHandCountedPairs() {
    // positives 0.9, 0.4; negatives 0.2, 0.6 → ordered pairs (0.9,0.2) (0.9,0.6) (0.4,0.2) = 3 of 4.
    let stream = [
        MetricsTestExample(p: 0.9, label: true, weight: 1), MetricsTestExample(p: 0.2, label: false, weight: 1),
        MetricsTestExample(p: 0.6, label: false, weight: 1), MetricsTestExample(p: 0.4, label: true, weight: 1),
    ]
    #expect(MetricsReference.pairwiseAUC(stream) == 0.75)
    // One tie (0.5 vs 0.5) counts half: pairs (0.5,0.5)=½, (0.5,0.1)=1 → 1.5 / 2.
    let tied = [
        MetricsTestExample(p: 0.5, label: true, weight: 1), MetricsTestExample(p: 0.5, label: false, weight: 1),
        MetricsTestExample(p: 0.1, label: false, weight: 1),
    ]
    #expect(MetricsReference.pairwiseAUC(tied) == 0.75)
}

@Test func seededGeneratorIsReproducibleAndUniformEnough() {
    var a = MetricsTestRNG(seed: 42)
    var b = MetricsTestRNG(seed: 42)
    var sum = 0.0
    for _ in 0..<10_000 {
        let x = a.unit()
        #expect(x == b.unit())
        #expect(x >= 0 && x < 1)
        sum += x
    }
    #expect(abs(sum / 10_000 - 0.5) < 0.02)
}
