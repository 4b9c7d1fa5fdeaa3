import Learning
import Pipelines
import Testing
@testable import Replay

/// `replay --members N`: deterministic, one member is the plain replay, and members that exchange their increments
/// learn (nearly) what one model learns, where separate models per member do not.
@Suite struct MemberSimulationTests {
    static func run(_ spec: PipelineSpec, members: Int, syncExamples: Int, lines: [String]) -> MemberSimulation {
        var simulation = MemberSimulation(spec: spec, members: members, syncExamples: syncExamples, syncIntervalMs: 0)
        let (bytes, ranges) = LearnedNumbersRegressionTests.batch(lines)
        bytes.withUnsafeBytes { raw in ranges.withUnsafeBufferPointer { simulation.feed($0, bytes: raw) } }
        simulation.finish()
        return simulation
    }

    @Test func oneMemberIsThePlainReplay() throws {
        let spec = try LearnedNumbersRegressionTests.movielensFTRL()
        let lines = LearnedNumbersRegressionTests.lines
        let one = Self.run(spec, members: 1, syncExamples: 1000, lines: lines)
        let plain = LearnedNumbersRegressionTests.replay(spec, lines)
        #expect(one.metrics.logloss == plain.metrics.logloss && one.metrics.auc == plain.metrics.auc)
        #expect(one.members[0].model.snapshotBytes() == plain.model.snapshotBytes())
        #expect(one.exchanges == 0)
    }

    /// On the first 30,000 MovieLens events (`scripts/test` fetches them; the test fails without them).
    @Test func membersThatExchangeLearnWhatOneModelLearnsAndTheRunIsDeterministic() throws {
        let spec = try LearnedNumbersRegressionTests.movielensFTRL()
        let text = try String(contentsOfFile: LearnedNumbersRegressionTests.movielensPath, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: true).prefix(30_000).map(String.init)
        let one = Self.run(spec, members: 1, syncExamples: 0, lines: lines)
        let separate = Self.run(spec, members: 3, syncExamples: 0, lines: lines)
        let exchanging = Self.run(spec, members: 3, syncExamples: 50, lines: lines)
        let again = Self.run(spec, members: 3, syncExamples: 50, lines: lines)
        print("members test: one \(one.metrics.logloss) / \(one.metrics.auc), three separate \(separate.metrics.logloss) / \(separate.metrics.auc), three exchanging every 50 examples \(exchanging.metrics.logloss) / \(exchanging.metrics.auc) (\(exchanging.exchanges) exchanges)")
        #expect(exchanging.examplesPerMember.reduce(0, +) == one.examplesPerMember[0])
        #expect(exchanging.examplesPerMember.allSatisfy { $0 > 0 })
        #expect(exchanging.exchanges > 0 && exchanging.slotsExchanged > 0)
        // Separate models lose quality; exchanging every 50 examples keeps nearly all of it.
        #expect(separate.metrics.logloss - one.metrics.logloss > 0.005, "separate models should be worse")
        #expect(abs(exchanging.metrics.logloss - one.metrics.logloss) < 0.002)
        #expect(abs(exchanging.metrics.auc - one.metrics.auc) < 0.002)
        #expect(exchanging.metrics.logloss == again.metrics.logloss && exchanging.metrics.auc == again.metrics.auc)
        #expect(exchanging.members[1].model.snapshotBytes() == again.members[1].model.snapshotBytes())
    }
}
