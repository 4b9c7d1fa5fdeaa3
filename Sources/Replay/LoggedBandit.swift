import Learning

/// A synthetic logged bandit with known reward probabilities, to check the off-policy estimators against the truth
/// (`feedloop bandit-log`, `bench/ope`, `LoggedBanditEstimationTests`).
///
/// The world: users belong to one of `segments` segments (the decision's context `{"segment": "s<c>"}`); each
/// decision offers `candidates` distinct items drawn uniformly from `items` items; the user clicks the item put
/// first with probability `p(c, a)`, fixed by the seed (uniform on [0.05, 0.55)). The logging policy is the
/// worker's ε-greedy (docs/serving.md) over its own belief `b(c, a) = p(c, a) + noise` (so it is not the best
/// policy): each position takes the best remaining item by belief with probability `1 − ε`, else a uniformly drawn
/// remaining one (the best included). An item's propensity is the probability that the policy put it in that
/// position given the items above it: `1 − ε + ε/r` for the best of the `r` remaining, `ε/r` for another; the
/// first position's is the probability of showing it first, `μ(a|x)`.
///
/// Because the world is known, the true values of two reference policies are exact (not sampled): ``uniformValue``
/// and ``loggedValue``. A seed gives the same world and the same log everywhere (``SplitMix64``).
public struct LoggedBandit: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var seed: UInt64
        public var segments = 20
        public var items = 12
        public var candidates = 5
        public var epsilon = 0.3
        public var users = 1000
        /// Time of the first decision (ms) and between decisions; a click comes `clickDelayMs` after its decision.
        public var startMs: Int64 = 1_796_000_000_000
        public var spacingMs: Int64 = 1000
        public var clickDelayMs: Int64 = 500

        public init(seed: UInt64) { self.seed = seed }
    }

    /// One logged decision and what the user did.
    public struct Decision: Sendable, Equatable {
        public var index: Int
        public var segment: Int
        public var user: Int
        /// The candidate items, in the order offered to the policy.
        public var candidates: [Int]
        /// The policy's ranking (a permutation of the candidates) and each position's propensity.
        public var ranking: [Int]
        public var propensities: [Double]
        /// Whether the user clicked the item put first (the reward).
        public var clicked: Bool
        public var timestamp: Int64
    }

    public let configuration: Configuration
    /// `p(c, a)`: click probability of item `a` put first for a user of segment `c`, `[c * items + a]`.
    public let clickProbability: [Double]
    /// The logging policy's belief, same layout.
    let belief: [Double]
    var rng: SplitMix64
    var produced = 0

    public init(_ configuration: Configuration) {
        precondition(configuration.candidates >= 1 && configuration.candidates <= configuration.items)
        precondition(configuration.epsilon >= 0 && configuration.epsilon <= 1 && configuration.segments >= 1)
        self.configuration = configuration
        var world = SplitMix64(seed: configuration.seed)
        let cells = configuration.segments * configuration.items
        let p = (0..<cells).map { _ in 0.05 + 0.5 * Self.unit(&world) }
        clickProbability = p
        belief = p.map { $0 + 0.15 * (Self.unit(&world) - 0.5) }
        rng = SplitMix64(seed: configuration.seed ^ 0x5EED_0F_DEC1_5105)
    }

    /// A uniform double on [0, 1) from 53 random bits.
    static func unit(_ g: inout SplitMix64) -> Double { Double(g.next() >> 11) * 0x1p-53 }

    /// The next decision of the log.
    public mutating func next() -> Decision {
        let c = configuration
        let segment = Int(rng.next() % UInt64(c.segments))
        let user = Int(rng.next() % UInt64(c.users))
        var pool = Array(0..<c.items)
        for k in 0..<c.candidates {
            let j = k + Int(rng.next() % UInt64(c.items - k))
            pool.swapAt(k, j)
        }
        let candidates = Array(pool[0..<c.candidates])
        let (ranking, propensities) = rank(candidates, segment: segment) { remaining in
            (Self.unit(&rng) < c.epsilon, Int(rng.next() % UInt64(remaining)))
        }
        let clicked = Self.unit(&rng) < clickProbability[segment * c.items + ranking[0]]
        defer { produced += 1 }
        return Decision(
            index: produced, segment: segment, user: user, candidates: candidates, ranking: ranking,
            propensities: propensities, clicked: clicked, timestamp: c.startMs + Int64(produced) * c.spacingMs)
    }

    /// The candidates in the logging policy's belief order (best first, ties by item).
    func beliefOrder(_ candidates: [Int], segment: Int) -> [Int] {
        let row = segment * configuration.items
        return candidates.sorted { belief[row + $0] > belief[row + $1] || (belief[row + $0] == belief[row + $1] && $0 < $1) }
    }

    /// The probability that the logging policy puts each candidate first (`μ(a|x)`), in `candidates` order.
    public func firstPropensities(_ candidates: [Int], segment: Int) -> [Double] {
        let greedy = beliefOrder(candidates, segment: segment)[0]
        let n = Double(candidates.count), e = configuration.epsilon
        return candidates.map { $0 == greedy ? 1 - e + e / n : e / n }
    }

    /// The ranking and each position's propensity, position by position: `draw(r)` says, with `r` items left,
    /// whether the position explores and which remaining item (in belief order) it then takes.
    func rank(_ candidates: [Int], segment: Int, draw: (_ remaining: Int) -> (explore: Bool, pick: Int)) -> ([Int], [Double]) {
        var remaining = beliefOrder(candidates, segment: segment)
        var ranking: [Int] = [], propensities: [Double] = []
        let e = configuration.epsilon
        while !remaining.isEmpty {
            let r = Double(remaining.count)
            let (explore, pick) = draw(remaining.count)
            let k = explore ? pick : 0
            ranking.append(remaining.remove(at: k))
            propensities.append(k == 0 ? 1 - e + e / r : e / r)
        }
        return (ranking, propensities)
    }

    // MARK: Truth

    /// The exact value of the uniform policy (a uniformly random candidate first): every item is equally likely
    /// to be a candidate, so the mean of `p` over segments and items.
    public var uniformValue: Double { clickProbability.reduce(0, +) / Double(clickProbability.count) }

    /// The exact value of the logging policy: `E_c E_S Σₐ μ(a|c,S) p(c,a)` over every candidate set `S`.
    public var loggedValue: Double {
        let c = configuration
        var total = 0.0, sets = 0
        var subset: [Int] = []
        func visit(from start: Int) {
            if subset.count == c.candidates {
                sets += 1
                for segment in 0..<c.segments {
                    let mu = firstPropensities(subset, segment: segment)
                    for (a, m) in zip(subset, mu) { total += m * clickProbability[segment * c.items + a] }
                }
                return
            }
            guard start < c.items, c.items - start >= c.candidates - subset.count else { return }
            for a in start..<c.items {
                subset.append(a)
                visit(from: a + 1)
                subset.removeLast()
            }
        }
        visit(from: 0)
        return total / Double(sets * c.segments)
    }

    // MARK: Files

    /// The decision as the worker's decision log publishes it (one JSON object, no newline).
    public func decisionLine(_ d: Decision) -> String {
        let items = zip(d.ranking, d.propensities).map { a, p in
            "{\"item_id\":\"i\(a)\",\"score\":\(belief[d.segment * configuration.items + a]),\"propensity\":\(p)}"
        }
        return "{\"schema\":1,\"ranking_id\":\"\(rankingID(d))\",\"ts\":\(d.timestamp),\"user_id\":\"u\(d.user)\","
            + "\"context\":{\"segment\":\"s\(d.segment)\"},\"candidates\":[\(d.candidates.map { "\"i\($0)\"" }.joined(separator: ","))],"
            + "\"items\":[\(items.joined(separator: ","))],\"policy\":\"epsilon_greedy(\(configuration.epsilon))\",\"pipeline\":\"bandit\",\"model_version\":0}"
    }

    /// The events the decision caused: a `view` of the item put first, and a `click` on it when the user clicked,
    /// both carrying the ranking's id and the item's position (0).
    public func eventLines(_ d: Decision) -> [String] {
        let item = "i\(d.ranking[0])"
        func event(_ type: String, _ ts: Int64) -> String {
            "{\"event_id\":\"\(type)-\(rankingID(d))\",\"type\":\"\(type)\",\"user_id\":\"u\(d.user)\",\"item_id\":\"\(item)\","
                + "\"ts\":\(ts),\"ranking_id\":\"\(rankingID(d))\",\"position\":0,\"context\":{\"segment\":\"s\(d.segment)\"}}"
        }
        var lines = [event("view", d.timestamp)]
        if d.clicked { lines.append(event("click", d.timestamp + configuration.clickDelayMs)) }
        return lines
    }

    public func rankingID(_ d: Decision) -> String { "r\(configuration.seed)-\(d.index)" }
}
