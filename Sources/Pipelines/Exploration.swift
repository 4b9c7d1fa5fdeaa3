import Foundation
import Learning

/// A ranking policy over scored candidates: how the k returned positions are filled from the candidates sorted by
/// score, and the probability of each choice (the propensity the decision log carries for off-policy evaluation).
///
/// Invariant: the propensity of the item at position j is the probability that the policy put *that* item at
/// position j given the items it put above it (positions fill top-down, without replacement); so position 1's
/// propensity is the probability of showing that item first, and the product over positions is the probability of
/// the whole list. With ``none`` every propensity is 1 (the greedy order is deterministic).
public enum Exploration: Sendable, Equatable {
    /// The greedy order: best score first.
    case none
    /// Each position: with probability 1 − ε the best remaining item, else one of the remaining drawn uniformly
    /// (the best included), so the best remaining has 1 − ε + ε/r and every other ε/r (r items remain).
    case epsilonGreedy(epsilon: Double)
    /// Each position: an item drawn from the remaining in proportion to exp(margin / temperature) (Plackett–Luce
    /// over the model's log-odds).
    case softmax(temperature: Double)

    /// The policy as the decision log and the API name it: `greedy`, `epsilon_greedy(0.05)`, `softmax(1.0)`.
    public var name: String {
        switch self {
        case .none: "greedy"
        case .epsilonGreedy(let epsilon): "epsilon_greedy(\(epsilon))"
        case .softmax(let temperature): "softmax(\(temperature))"
        }
    }

    /// Fills `picks` with the first `k` positions (fewer when there are fewer candidates): indices into `margins`
    /// and their propensities. `margins` must be sorted best first (descending); ties keep their order. `weights`
    /// is scratch (reused between calls).
    public func choose<R: RandomNumberGenerator>(
        k: Int, margins: [Double], rng: inout R, weights: inout [Double], into picks: inout [(index: Int, propensity: Double)]
    ) {
        picks.removeAll(keepingCapacity: true)
        let n = margins.count
        let k = min(k, n)
        guard k > 0 else { return }
        switch self {
        case .none:
            for j in 0..<k { picks.append((j, 1)) }
        case .epsilonGreedy(let epsilon):
            // `remaining` = candidate indices not yet placed, best first (weights reused as a used-flag array).
            weights.removeAll(keepingCapacity: true)
            weights.append(contentsOf: repeatElement(0, count: n))
            var best = 0  // the best index not yet placed
            for j in 0..<k {
                let r = n - j
                let explore = Double.random(in: 0..<1, using: &rng) < epsilon
                var chosen = best
                if explore {
                    // The u-th remaining item, in score order.
                    var u = Int.random(in: 0..<r, using: &rng)
                    chosen = best
                    while true {
                        if weights[chosen] == 0 {
                            if u == 0 { break }
                            u -= 1
                        }
                        chosen += 1
                    }
                }
                let propensity = (chosen == best ? 1 - epsilon : 0) + epsilon / Double(r)
                picks.append((chosen, propensity))
                weights[chosen] = 1
                while best < n, weights[best] != 0 { best += 1 }
            }
        case .softmax(let temperature):
            // Shifted by the best margin: exp never overflows, the best weighs 1.
            let top = margins[0].isFinite ? margins[0] : 0
            weights.removeAll(keepingCapacity: true)
            for m in margins { weights.append(m.isFinite ? exp((m - top) / temperature) : 0) }
            for j in 0..<k {
                // Summed afresh per position (placed items are -1): no drift from subtracting.
                var total = 0.0
                for w in weights where w > 0 { total += w }
                var chosen = -1
                let propensity: Double
                if total > 0 {
                    let target = Double.random(in: 0..<1, using: &rng) * total
                    var sum = 0.0
                    for i in 0..<n where weights[i] > 0 {
                        sum += weights[i]
                        chosen = i
                        if sum > target { break }
                    }
                    propensity = weights[chosen] / total
                } else {
                    // Every remaining weight underflowed to 0: uniform among the remaining.
                    var u = Int.random(in: 0..<(n - j), using: &rng)
                    for i in 0..<n where weights[i] >= 0 {
                        chosen = i
                        if u == 0 { break }
                        u -= 1
                    }
                    propensity = 1 / Double(n - j)
                }
                picks.append((chosen, propensity))
                weights[chosen] = -1  // placed
            }
        }
    }
}
