import Events
import Foundation
import Learning
import Pipelines
import Testing
@testable import Replay

/// `feedloop replay --decisions`: the decision log and the events merged by time, rewards attributed by ranking id,
/// everything else counted, and the estimates of a small log equal to the values computed by hand.
@Suite struct OffPolicyReplayTests {
    static let spec = """
        version: 1
        name: bandit-test
        features:
          bits: 16
          namespaces:
            - {name: i, field: item_id}
            - {name: s, field: context.segment, side: user}
          crosses: [[s, i]]
        label:
          examples: {view: 1.0}
          positives: [click]
          attribution_window: 1m
          allowed_lateness: 0s
          buffer_capacity: 1024
        model: {type: logistic}
        optimizer: {type: ftrl, alpha: 0.1, beta: 1.0, l1: 0.0, l2: 0.0}
        """

    static func decision(_ id: String, ts: Int, candidates: [String], first: String, propensity: Double) -> String {
        let list = candidates.map { "\"\($0)\"" }.joined(separator: ",")
        return #"{"schema":1,"ranking_id":"\#(id)","ts":\#(ts),"user_id":"u1","context":{"segment":"s1"},"candidates":[\#(list)],"#
            + #""items":[{"item_id":"\#(first)","score":0.5,"propensity":\#(propensity)}],"policy":"epsilon_greedy","pipeline":"p","model_version":3}"#
    }

    static func event(_ type: String, item: String, ts: Int, ranking: String?) -> String {
        #"{"event_id":"e\#(ts)\#(item)","type":"\#(type)","user_id":"u1","item_id":"\#(item)","ts":\#(ts),"#
            + (ranking.map { #""ranking_id":\#($0),"# } ?? "") + #""context":{"segment":"s1"}}"#
    }

    /// Writes the two logs and replays them with `policy`.
    static func replay(
        decisions: [String], events: [String], policy: TargetPolicy, spec: String = spec, choices: Bool = false
    ) throws -> (OffPolicyReplay, [DeadLetterFile.Record]) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ope-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = dir.appendingPathComponent("decisions.jsonl").path, e = dir.appendingPathComponent("events.jsonl").path
        let letters = dir.appendingPathComponent("dlq.jsonl").path
        try (decisions.joined(separator: "\n") + "\n").write(toFile: d, atomically: true, encoding: .utf8)
        try (events.joined(separator: "\n") + "\n").write(toFile: e, atomically: true, encoding: .utf8)
        var replay = OffPolicyReplay(spec: try PipelineSpec.parse(yaml: spec), policy: policy)
        if choices { replay.choices = [] }
        var eventLetters: DeadLetterFile? = nil
        var decisionLetters: DeadLetterFile? = try DeadLetterFile(path: letters)
        try replay.run(decisions: d, events: e, deadLetters: &eventLetters, decisionDeadLetters: &decisionLetters)
        return (replay, try DeadLetterFile.read(path: letters))
    }

    /// Four decisions, rewards of every kind, one bad decision line. No view events, so the model learns nothing
    /// and predicts 0.5 for every candidate (the direct method is 0.5; `model` takes the first candidate of a tie).
    static let smallLog = (
        decisions: [
            decision("r1", ts: 1000, candidates: ["a", "b"], first: "a", propensity: 0.5),
            decision("r2", ts: 2000, candidates: ["a", "b", "c", "d"], first: "c", propensity: 0.25),
            decision("bad", ts: 2500, candidates: ["a"], first: "a", propensity: 0),
            decision("r3", ts: 3000, candidates: ["b", "c"], first: "b", propensity: 0.8),
            decision("r4", ts: 4000, candidates: ["a", "b"], first: "b", propensity: 0.2),
        ],
        events: [
            event("click", item: "a", ts: 1500, ranking: "\"r1\""),  // reward of r1
            event("click", item: "b", ts: 2100, ranking: "\"r2\""),  // another item of r2: no reward
            event("click", item: "b", ts: 3100, ranking: "\"r3\""),  // reward of r3
            event("click", item: "b", ts: 3200, ranking: "\"r3\""),  // repeated
            event("click", item: "a", ts: 3300, ranking: "\"zz\""),  // unknown ranking
            event("click", item: "a", ts: 3400, ranking: "5"),       // malformed ranking id: the decoder rejects it
            event("click", item: "a", ts: 3500, ranking: nil),       // not from a ranking
            event("click", item: "b", ts: 65000, ranking: "\"r4\""), // after r4's window (4000 + 60000)
        ])

    @Test func uniformPolicyOnASmallLogMatchesTheHandComputedEstimates() throws {
        let (replay, letters) = try Self.replay(decisions: Self.smallLog.decisions, events: Self.smallLog.events, policy: .uniform)
        let e = replay.estimator
        // w = (1/n)/μ: 1, 1, 0.625, 2.5; rewards 1, 0, 1, 0.
        #expect(e.decisions == 4 && e.matched == 4)
        #expect(abs(e.ips.value - 1.625 / 4) < 1e-12)
        #expect(abs(e.snips.value - 1.625 / 5.125) < 1e-12)
        // DR terms 0.5 + w(r − 0.5): 1, 0, 0.8125, −0.75.
        #expect(abs(e.dr.value - 1.0625 / 4) < 1e-12)
        #expect(abs(e.directMethod.value - 0.5) < 1e-12)
        let c = replay.counters
        #expect(c.rewarded == 2 && c.otherItemRewards == 1 && c.repeatedRewards == 1 && c.unknownRankingRewards == 1)
        // The event decoder reads `ranking_id` strictly: the malformed one is a dead letter, not a bad reference.
        #expect(c.badRankingReferences == 0 && c.feedbackWithoutRanking == 1 && c.lateRewards == 1)
        #expect(replay.pipeline.counters.rejectedByReason == ["wrong_type": 1])
        #expect(c.decisionsRejected == 1 && c.decisionsRejectedByReason == ["bad_propensity": 1])
        #expect(c.firstRejections.count == 1 && c.firstRejections[0].hasSuffix(
            "decisions.jsonl:3: bad_propensity [items[0].propensity]: must be in (0, 1], got 0.0"))
        #expect(letters.count == 1 && letters[0].reason == "bad_propensity" && letters[0].field == "items[0].propensity")
        #expect(letters[0].detail.hasPrefix("line 3: ") && String(decoding: letters[0].input, as: UTF8.self) == Self.smallLog.decisions[2])
    }

    @Test func modelPolicyTakesItsGreedyChoiceAndLoggedPolicyIsTheMeanReward() throws {
        let (model, _) = try Self.replay(decisions: Self.smallLog.decisions, events: Self.smallLog.events, policy: .model)
        // Ties take the first candidate: a (= logged, w 2), a (≠ c), b (= logged, w 1.25), a (≠ b).
        #expect(model.estimator.matched == 2)
        #expect(abs(model.estimator.ips.value - 3.25 / 4) < 1e-12)
        #expect(abs(model.estimator.snips.value - 1) < 1e-12)
        #expect(abs(model.estimator.dr.value - 3.625 / 4) < 1e-12)
        let (logged, _) = try Self.replay(decisions: Self.smallLog.decisions, events: Self.smallLog.events, policy: .logged)
        for estimate in [logged.estimator.ips, logged.estimator.snips, logged.estimator.dr] {
            #expect(abs(estimate.value - 0.5) < 1e-12)
        }
    }

    /// Events of the decision's own millisecond come after it: the model scores the candidates before learning
    /// them. 300 views of `a` at the decision's time, each clicked: with look-ahead the model would prefer `a`.
    @Test func aDecisionIsScoredBeforeTheEventsOfItsTimeAreLearned() throws {
        var events: [String] = []
        for k in 0..<300 {
            events.append(Self.event("view", item: "a", ts: 5000, ranking: nil).replacingOccurrences(of: "e5000a", with: "v\(k)"))
            events.append(Self.event("click", item: "a", ts: 5000, ranking: nil).replacingOccurrences(of: "e5000a", with: "c\(k)"))
        }
        let late = Self.decision("later", ts: 5001, candidates: ["b", "a"], first: "a", propensity: 0.5)
        let now = Self.decision("now", ts: 5000, candidates: ["b", "a"], first: "a", propensity: 0.5)
        let (replay, _) = try Self.replay(decisions: [now, late], events: events, policy: .model)
        // `now` ties at 0.5 and takes b; `later` has learned a and takes it.
        #expect(replay.estimator.decisions == 2 && replay.estimator.matched == 1)
        #expect(replay.pipeline.counters.positives == 300)
    }

    /// The three renderings carry the estimates, each with its interval, and every count.
    @Test func theReportsCarryEachEstimateWithItsIntervalAndTheCounts() throws {
        let (replay, _) = try Self.replay(decisions: Self.smallLog.decisions, events: Self.smallLog.events, policy: .uniform)
        var report = ReplayReport(pipeline: replay.pipeline, file: "p.yaml", input: "events.jsonl", seconds: 1, peakRSSBytes: 0)
        report.ope = OffPolicyReport(replay, decisionsFile: "decisions.jsonl")
        let json = try JSONSerialization.jsonObject(with: try ReportRendering.json([report])) as! [String: Any]
        let ope = json["ope"] as! [String: Any]
        #expect(ope["policy"] as? String == "uniform" && ope["decisions"] as? Int == 4 && ope["matched"] as? Int == 4)
        #expect(abs((ope["ips"] as! Double) - replay.estimator.ips.value) < 1e-12)
        for (key, interval) in [("ci_low", \OffPolicyEstimate.low), ("ci_high", \OffPolicyEstimate.high)] {
            let bounds = ope[key] as! [String: Double]
            #expect(abs(bounds["ips"]! - replay.estimator.ips[keyPath: interval]) < 1e-12)
            #expect(abs(bounds["snips"]! - replay.estimator.snips[keyPath: interval]) < 1e-12)
            #expect(abs(bounds["dr"]! - replay.estimator.dr[keyPath: interval]) < 1e-12)
        }
        let rewards = ope["rewards"] as! [String: Any]
        #expect(rewards["types"] as? [String] == ["click"] && rewards["window_ms"] as? Int == 60000)
        #expect(rewards["unknown_ranking"] as? Int == 1 && rewards["late"] as? Int == 1 && rewards["on_other_items"] as? Int == 1)
        #expect(ope["decisions_rejected_by_reason"] as? [String: Int] == ["bad_propensity": 1])
        let text = ReportRendering.table([report])
        #expect(text.contains("off-policy value of policy 'uniform'"))
        let ips = text.split(separator: "\n").first { $0.hasPrefix("IPS ") } ?? ""
        #expect(ips.contains(String(format: "%.4f  [%.4f, %.4f]", replay.estimator.ips.value, replay.estimator.ips.low, replay.estimator.ips.high)))
        #expect(text.contains("1 for unknown rankings") && text.contains("1 lines rejected [bad_propensity=1]"))
        let html = ReportRendering.html([report])
        #expect(html.contains("Off-policy value of policy <code>uniform</code>"))
        #expect(html.contains(String(format: "<td>DR</td><td>%.4f</td><td>%.4f</td><td>%.4f</td>", replay.estimator.dr.value, replay.estimator.dr.low, replay.estimator.dr.high)))
    }
}

/// The `model` policy on the synthetic bandit, through the whole replay with the pipeline's own model: its value
/// on the decisions replayed — the click probability of the item it chose, averaged — is known from the world, and
/// each estimate lies within 3 standard errors of it (`bench/ope` measures the 95% coverage over 50 seeds).
@Suite struct ModelPolicyOnTheLoggedBanditTests {
    /// `count` decisions of the synthetic bandit of `seed` and their events, as JSON lines, with each ranking's segment.
    static func logs(seed: UInt64, count: Int) -> (bandit: LoggedBandit, decisions: [String], events: [String], segments: [String: Int]) {
        var bandit = LoggedBandit(.init(seed: seed))
        var decisions: [String] = [], events: [String] = [], segments: [String: Int] = [:]
        for _ in 0..<count {
            let d = bandit.next()
            decisions.append(bandit.decisionLine(d))
            events += bandit.eventLines(d)
            segments[bandit.rankingID(d)] = d.segment
        }
        return (bandit, decisions, events, segments)
    }

    /// The replay's pipeline with a join that holds every open decision's example.
    static let spec = OffPolicyReplayTests.spec.replacingOccurrences(of: "buffer_capacity: 1024", with: "buffer_capacity: 65536")

    @Test func modelPolicyEstimatesAreNearItsRealizedValue() throws {
        let (bandit, decisions, events, segments) = Self.logs(seed: 1, count: 20_000)
        let spec = Self.spec
        let (replay, _) = try OffPolicyReplayTests.replay(decisions: decisions, events: events, policy: .model, spec: spec, choices: true)
        let choices = try #require(replay.choices)
        #expect(choices.count == 20_000)
        let items = bandit.configuration.items
        #expect(choices.allSatisfy { $0.first.count == 1 && $0.first[0].probability == 1 })
        let truth = choices.map { choice in
            bandit.clickProbability[segments[choice.rankingID]! * items + Int(choice.first[0].itemID.dropFirst())!]
        }.reduce(0, +) / Double(choices.count)
        let e0 = replay.estimator
        print("model policy: realized value \(truth); IPS \(e0.ips.value) ± \(e0.ips.standardError), SNIPS \(e0.snips.value) ± \(e0.snips.standardError), DR \(e0.dr.value) ± \(e0.dr.standardError); direct method \(e0.directMethod.value); logged \(bandit.loggedValue)")
        for (name, estimate) in [("ips", e0.ips), ("snips", e0.snips), ("dr", e0.dr)] {
            #expect(abs(estimate.value - truth) < 3 * estimate.standardError, "\(name)")
        }
    }
}

/// `--policy served`: the pipeline's exploration over its model, as the ranking API serves it. Its probability of
/// putting each candidate first is the API's own (checked against ``Exploration/choose`` by drawing), and on the
/// synthetic bandit IPS and DR of an ε-greedy pipeline are exactly the mixture (1 − ε) · model + ε · uniform — both
/// are linear in the target probabilities — while the estimates lie near the value the world gives the drawn choices.
@Suite struct ServedPolicyTests {
    static func first(_ exploration: Exploration, margins: [Double]) -> [Double] {
        let predictions = margins.map { 1 / (1 + exp(-$0)) }
        return TargetPolicy.served.evaluate(
            predictions: predictions, margins: margins, loggedIndex: 0, propensity: 1, exploration: exploration).first!
    }

    @Test func firstPositionProbabilitiesAreTheRankingAPIs() {
        let margins = [0.3, 1.2, -0.5, 1.2, .nan, 0.0]
        for exploration in [Exploration.none, .epsilonGreedy(epsilon: 0.2), .softmax(temperature: 0.7)] {
            let pi = Self.first(exploration, margins: margins)
            #expect(abs(pi.reduce(0, +) - 1) < 1e-12)
            // The API's draws: it orders by margin (ties in candidate order, NaN last) and explores position 1.
            let order = margins.indices.sorted {
                let a = margins[$0].isNaN ? -Double.infinity : margins[$0], b = margins[$1].isNaN ? -Double.infinity : margins[$1]
                return a > b || (a == b && $0 < $1)
            }
            let sorted = order.map { margins[$0].isNaN ? -Double.infinity : margins[$0] }
            var rng = SystemRandomNumberGenerator(), weights: [Double] = [], picks: [(index: Int, propensity: Double)] = []
            var counts = [Int](repeating: 0, count: margins.count)
            let draws = 200_000
            for _ in 0..<draws {
                exploration.choose(k: 1, margins: sorted, rng: &rng, weights: &weights, into: &picks)
                let candidate = order[picks[0].index]
                counts[candidate] += 1
                // The propensity the API logs for the item it put first is the policy's probability of it.
                #expect(abs(picks[0].propensity - pi[candidate]) < 1e-12)
            }
            for i in margins.indices {
                let f = Double(counts[i]) / Double(draws)
                #expect(abs(f - pi[i]) < 5 * (pi[i] * (1 - pi[i]) / Double(draws)).squareRoot() + 1e-9, "\(exploration) candidate \(i)")
            }
        }
        // Without exploration it is the greedy choice: the first of the highest scores.
        #expect(Self.first(.none, margins: [0.3, 1.2, -0.5, 1.2]) == [0, 1, 0, 0])
    }

    @Test func anEpsilonGreedyPipelinesEstimatesAreTheMixtureOfModelAndUniform() throws {
        let (bandit, decisions, events, segments) = ModelPolicyOnTheLoggedBanditTests.logs(seed: 3, count: 5_000)
        let base = ModelPolicyOnTheLoggedBanditTests.spec
        let epsilon = 0.25
        let explored = base + "\nserving: {exploration: {type: epsilon_greedy, epsilon: \(epsilon)}}\n"
        let model = try OffPolicyReplayTests.replay(decisions: decisions, events: events, policy: .model, spec: base).0.estimator
        let uniform = try OffPolicyReplayTests.replay(decisions: decisions, events: events, policy: .uniform, spec: base).0.estimator
        let (served, _) = try OffPolicyReplayTests.replay(decisions: decisions, events: events, policy: .served, spec: explored, choices: true)
        let e = served.estimator
        #expect(abs(e.ips.value - ((1 - epsilon) * model.ips.value + epsilon * uniform.ips.value)) < 1e-9)
        #expect(abs(e.dr.value - ((1 - epsilon) * model.dr.value + epsilon * uniform.dr.value)) < 1e-9)
        #expect(abs(e.directMethod.value - ((1 - epsilon) * model.directMethod.value + epsilon * uniform.directMethod.value)) < 1e-9)
        // Without exploration, served is model.
        let greedy = try OffPolicyReplayTests.replay(decisions: decisions, events: events, policy: .served, spec: base).0.estimator
        #expect(greedy.ips.value == model.ips.value && greedy.dr.value == model.dr.value && greedy.snips.value == model.snips.value)
        // The world's value of the drawn first item, Σ π(a) p(a), averaged over the decisions: within 3 standard errors.
        let items = bandit.configuration.items
        let choices = try #require(served.choices)
        let truth = choices.map { c in
            c.first.reduce(0) { $0 + $1.probability * bandit.clickProbability[segments[c.rankingID]! * items + Int($1.itemID.dropFirst())!] }
        }.reduce(0, +) / Double(choices.count)
        for (name, estimate) in [("ips", e.ips), ("snips", e.snips), ("dr", e.dr)] {
            #expect(abs(estimate.value - truth) < 3 * estimate.standardError, "\(name)")
        }
    }
}
