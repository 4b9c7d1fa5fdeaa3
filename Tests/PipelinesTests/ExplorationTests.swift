import Foundation
import Learning
import Testing
@testable import Pipelines

/// Each policy's propensities are the probabilities with which it actually fills each position: checked against
/// the frequencies of 200,000 seeded draws (position 1 unconditionally, position 2 given position 1).
@Suite struct ExplorationTests {
    static let margins = [2.0, 1.5, 1.4, 0.2, -1.0, -3.0]

    @Test func noneIsTheGreedyOrderWithPropensityOne() {
        var rng = SplitMix64(seed: 1)
        var weights: [Double] = [], picks: [(index: Int, propensity: Double)] = []
        Exploration.none.choose(k: 4, margins: Self.margins, rng: &rng, weights: &weights, into: &picks)
        #expect(picks.map(\.index) == [0, 1, 2, 3])
        #expect(picks.allSatisfy { $0.propensity == 1 })
        Exploration.none.choose(k: 10, margins: [1, 0], rng: &rng, weights: &weights, into: &picks)
        #expect(picks.map(\.index) == [0, 1])
    }

    @Test(arguments: [Exploration.epsilonGreedy(epsilon: 0.2), .softmax(temperature: 0.7), .softmax(temperature: 3)])
    func propensitiesMatchTheFrequenciesOfTheChoices(policy: Exploration) {
        var rng = SplitMix64(seed: 42)
        var weights: [Double] = [], picks: [(index: Int, propensity: Double)] = []
        let n = Self.margins.count, draws = 200_000
        var first = Array(repeating: 0, count: n), firstPropensity = Array(repeating: -1.0, count: n)
        var second = Array(repeating: 0, count: n), secondPropensity = Array(repeating: -1.0, count: n), givenBest = 0
        for _ in 0..<draws {
            policy.choose(k: 3, margins: Self.margins, rng: &rng, weights: &weights, into: &picks)
            #expect(picks.count == 3 && Set(picks.map(\.index)).count == 3)
            let a = picks[0], b = picks[1]
            first[a.index] += 1
            // The same choice always reports the same propensity.
            #expect(firstPropensity[a.index] < 0 || firstPropensity[a.index] == a.propensity)
            firstPropensity[a.index] = a.propensity
            if a.index == 0 {
                givenBest += 1
                second[b.index] += 1
                #expect(secondPropensity[b.index] < 0 || secondPropensity[b.index] == b.propensity)
                secondPropensity[b.index] = b.propensity
            }
        }
        for i in 0..<n where first[i] > 0 {
            let frequency = Double(first[i]) / Double(draws)
            #expect(abs(frequency - firstPropensity[i]) < 0.005, "position 1, item \(i): \(frequency) vs \(firstPropensity[i])")
        }
        // Unseen items had a small probability.
        for i in 0..<n where first[i] == 0 { #expect(expectedFirst(policy, i) < 1e-4) }
        for i in 1..<n where second[i] > 0 {
            let frequency = Double(second[i]) / Double(givenBest)
            #expect(abs(frequency - secondPropensity[i]) < 0.01, "position 2, item \(i): \(frequency) vs \(secondPropensity[i])")
        }
        // Position 1's propensities are the closed forms.
        for i in 0..<n where first[i] > 0 {
            #expect(abs(firstPropensity[i] - expectedFirst(policy, i)) < 1e-12)
        }
    }

    func expectedFirst(_ policy: Exploration, _ i: Int) -> Double {
        let n = Double(Self.margins.count)
        switch policy {
        case .none: return i == 0 ? 1 : 0
        case .epsilonGreedy(let e): return (i == 0 ? 1 - e : 0) + e / n
        case .softmax(let t):
            let w = Self.margins.map { exp(($0 - Self.margins[0]) / t) }
            return w[i] / w.reduce(0, +)
        }
    }
}
