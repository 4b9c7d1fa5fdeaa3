import Events
import Learning
import Pipelines
import Testing
@testable import Replay

/// `feedloop replay --decisions` with `serving.learn_from_rankings`: the pipeline learns from the decision log as
/// the worker does — its counts and model are those of the worker's step (``Pipeline/processDecision``) fed the same
/// merged stream, decisions on a partition of their own — and its rewards agree with off-policy evaluation's.
@Suite struct ReplayLearnsFromRankingsTests {
    static let spec = OffPolicyReplayTests.spec + "\nserving: {learn_from_rankings: true}"

    @Test func replayLearnsTheDecisionsAsTheWorkersStepDoes() throws {
        let log = OffPolicyReplayTests.smallLog
        let (replay, _) = try OffPolicyReplayTests.replay(decisions: log.decisions, events: log.events, policy: .uniform, spec: Self.spec)

        // The worker's step over the merged stream: before each event, the decisions of its time or earlier.
        var pipeline = Pipeline(spec: try PipelineSpec.parse(yaml: Self.spec))
        let rankings = pipeline.partitionIndex(topic: "rankings", partition: 0)
        var parser = pipeline.makeDecisionParser()
        var sink = NullSink()
        var decisions = log.decisions[...]
        func ts(_ line: String) -> Int64 {
            let after = line.range(of: #""ts":"#)!.upperBound
            return Int64(line[after...].prefix { $0.isNumber })!
        }
        for event in log.events {
            while let next = decisions.first, ts(next) <= ts(event) {
                var bytes = Array(next.utf8)
                bytes.withUnsafeMutableBytes { pipeline.processDecision(UnsafeRawBufferPointer($0), partition: rankings, parser: &parser, sink: &sink) }
                decisions = decisions.dropFirst()
            }
            var bytes = Array(event.utf8)
            bytes.withUnsafeMutableBytes { pipeline.process(UnsafeRawBufferPointer($0), sink: &sink) }
        }
        pipeline.finish(sink: &sink)

        let offline = replay.pipeline.counters, online = pipeline.counters
        // Four valid decisions of one item each; six rewards decoded (the malformed id is a dead letter).
        #expect(offline.rankings == 4 && offline.rankingExamples == 4 && offline.rewards == 6)
        // r1's a and r3's b; r2's b (not shown), r3's b again, zz (unknown), r4's b (after its window).
        #expect(offline.rewardsAttributed == 2 && offline.rewardsUnknownRanking == 4)
        #expect(offline.rewardsAttributed == replay.counters.rewarded)  // the same rewards as the evaluation's
        for key in [\PipelineCounters.rankings, \.rankingExamples, \.rewards, \.rewardsAttributed, \.rewardsUnknownRanking,
                    \.events, \.rejected, \.labelled, \.positives, \.expiredNegatives, \.endOfInputNegatives] {
            #expect(offline[keyPath: key] == online[keyPath: key], "\(key)")
        }
        #expect(online.rankingsRejected == 1 && offline.rankingsRejected == 0)  // replay counts the bad line itself
        #expect(replay.pipeline.model.snapshotBytes() == pipeline.model.snapshotBytes())
    }

    @Test func withoutTheKeyReplayLearnsNoDecision() throws {
        let log = OffPolicyReplayTests.smallLog
        let (replay, _) = try OffPolicyReplayTests.replay(decisions: log.decisions, events: log.events, policy: .uniform)
        #expect(replay.pipeline.counters.rankings == 0 && replay.pipeline.counters.rewards == 0)
    }
}
