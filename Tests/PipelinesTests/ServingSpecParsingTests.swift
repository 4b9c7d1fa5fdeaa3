import Testing
@testable import Pipelines

/// `serving:` is parsed as strictly as the rest of a pipeline file: each mistake is named with its key and line.
@Suite struct ServingSpecParsingTests {
    func parse(_ serving: String) throws(PipelineFileError) -> PipelineSpec {
        try PipelineSpec.parse(yaml: PipelineSpecParsingTests.minimal + "\n" + serving, file: "bad.yaml")
    }

    func failure(_ serving: String) -> PipelineFileError? {
        do {
            _ = try parse(serving)
            return nil
        } catch {
            return error
        }
    }

    @Test func absentSectionMeansGreedyRankingsTopicAndOneSecondViews() throws {
        let spec = try PipelineSpec.parse(yaml: PipelineSpecParsingTests.minimal)
        #expect(spec.serving == ServingSpec(exploration: .none, rankingsTopic: "rankings", snapshotIntervalMs: 1000, maxCandidates: 1000, defaultK: 10))
    }

    @Test func everyKeyIsRead() throws {
        let spec = try parse("""
            serving:
              exploration: {type: epsilon_greedy, epsilon: 0.05}
              rankings_topic: shop.rankings
              snapshot_interval: 250ms
              max_candidates: 200
              k: 5
            """)
        #expect(spec.serving == ServingSpec(
            exploration: .epsilonGreedy(epsilon: 0.05), rankingsTopic: "shop.rankings", snapshotIntervalMs: 250, maxCandidates: 200, defaultK: 5))
        #expect(try parse("serving: {exploration: {type: softmax, temperature: 0.5}}").serving.exploration == .softmax(temperature: 0.5))
        #expect(try parse("serving: {exploration: {type: softmax}}").serving.exploration == .softmax(temperature: 1))
        #expect(try parse("serving: {exploration: {type: none}}").serving.exploration == .none)
    }

    /// `learn_from_rankings` (the decision log as an input): off unless `true`; no other spelling; never one of the
    /// event topics.
    @Test func learnFromRankingsIsOffByDefaultAndReadStrictly() throws {
        #expect(try PipelineSpec.parse(yaml: PipelineSpecParsingTests.minimal).serving.learnFromRankings == false)
        #expect(try parse("serving: {k: 5}").serving.learnFromRankings == false)
        #expect(try parse("serving: {learn_from_rankings: true}").serving.learnFromRankings == true)
        #expect(try parse("serving: {learn_from_rankings: false}").serving.learnFromRankings == false)
        for (serving, message) in [
            ("serving: {learn_from_rankings: yes please}", "expected true or false"),
            ("serving: {learn_from_rankings: 1}", "expected true or false"),
            ("serving: {learn_from_rankings: true, rankings_topic: events}", "also an input topic"),
        ] {
            let error = try #require(failure(serving), "accepted: \(serving)")
            #expect(error.message.contains(message) && error.line > 0, "\(error)")
        }
        // A topic that is an input is fine while the pipeline does not learn from it.
        #expect(try parse("serving: {learn_from_rankings: false, rankings_topic: events}").serving.rankingsTopic == "events")
    }

    @Test(arguments: [
        ("serving: {exploration: {type: thompson}}", "serving.exploration.type", "unknown exploration 'thompson'"),
        ("serving: {exploration: {type: softmax, epsilon: 0.1}}", "serving.exploration.epsilon", "unknown key"),
        ("serving: {exploration: {type: none, temperature: 2}}", "serving.exploration.temperature", "unknown key"),
        ("serving: {exploration: {type: epsilon_greedy}}", "serving.exploration.epsilon", "missing"),
        ("serving: {exploration: {type: epsilon_greedy, epsilon: 0}}", "serving.exploration.epsilon", "must be above 0"),
        ("serving: {exploration: {type: epsilon_greedy, epsilon: 1.5}}", "serving.exploration.epsilon", "between"),
        ("serving: {exploration: {type: softmax, temperature: 0}}", "serving.exploration.temperature", "between"),
        ("serving: {exploration: {epsilon: 0.1}}", "serving.exploration.type", "missing"),
        ("serving: {explore: {type: none}}", "serving.explore", "unknown key"),
        ("serving: {snapshot_interval: 5ms}", "serving.snapshot_interval", "at least 10ms"),
        ("serving: {snapshot_interval: soon}", "serving.snapshot_interval", "expected a duration"),
        ("serving: {max_candidates: 0}", "serving.max_candidates", "between"),
        ("serving: {k: 20, max_candidates: 10}", "serving.k", "must not exceed max_candidates"),
        ("serving: {rankings_topic: ''}", "serving.rankings_topic", "non-empty"),
    ])
    func mistakesAreNamed(serving: String, key: String, message: String) throws {
        let error = try #require(failure(serving), "accepted: \(serving)")
        #expect(error.key == key, "\(error)")
        #expect(error.message.contains(message), "\(error)")
        #expect(error.line > 0, "\(error)")
    }
}
