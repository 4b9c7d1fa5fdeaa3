import Learning
import Pipelines
import Testing
@testable import Replay

/// `replay --members N`: deterministic, one member is the plain replay, and members that exchange their increments
/// learn (nearly) what one model learns, where separate models per member do not.
@Suite struct MemberSimulationTests {
    static func run(
        _ spec: PipelineSpec, members: Int, syncExamples: Int, ramp: Double = 0, delay: UInt64 = 0, lines: [String]
    ) -> MemberSimulation {
        var simulation = MemberSimulation(
            spec: spec, members: members,
            sync: SyncSpec(enabled: true, every: syncExamples, intervalMs: 0, maxStalenessMs: 0, ramp: ramp), syncDelayEvents: delay)
        let (bytes, ranges) = LearnedNumbersRegressionTests.batch(lines)
        bytes.withUnsafeBytes { raw in ranges.withUnsafeBufferPointer { simulation.feed($0, bytes: raw) } }
        simulation.finish()
        return simulation
    }

    /// The first `count` lines of the MovieLens events (`scripts/test` fetches them; the tests fail without them).
    static func movielensLines(_ count: Int) throws -> [String] {
        let text = try String(contentsOfFile: LearnedNumbersRegressionTests.movielensPath, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: true).prefix(count).map(String.init)
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

    /// On the first 30,000 MovieLens events.
    @Test func membersThatExchangeLearnWhatOneModelLearnsAndTheRunIsDeterministic() throws {
        let spec = try LearnedNumbersRegressionTests.movielensFTRL()
        let lines = try Self.movielensLines(30_000)
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

    /// `--sync-delay`: increments that arrive D events after they were taken. Nothing arriving before the end is
    /// what separate models learn, to the bit; a delay costs quality between that and none; every increment still
    /// arrives, once (at the end at the latest); and the run is deterministic.
    @Test func delayedIncrementsCostQualityAndStillAllArrive() throws {
        let spec = try LearnedNumbersRegressionTests.movielensFTRL()
        let lines = try Self.movielensLines(30_000)
        let separate = Self.run(spec, members: 3, syncExamples: 0, lines: lines)
        let atOnce = Self.run(spec, members: 3, syncExamples: 50, lines: lines)
        let delayed = Self.run(spec, members: 3, syncExamples: 50, delay: 3_000, lines: lines)
        let again = Self.run(spec, members: 3, syncExamples: 50, delay: 3_000, lines: lines)
        let never = Self.run(spec, members: 3, syncExamples: 50, delay: UInt64(lines.count), lines: lines)
        print("members delay test: separate \(separate.metrics.logloss), at once \(atOnce.metrics.logloss), 3,000 events later \(delayed.metrics.logloss), at the end \(never.metrics.logloss)")
        #expect(never.metrics.logloss == separate.metrics.logloss && never.metrics.auc == separate.metrics.auc)
        #expect(atOnce.metrics.logloss < delayed.metrics.logloss && delayed.metrics.logloss < separate.metrics.logloss)
        #expect(delayed.metrics.logloss == again.metrics.logloss)
        #expect(delayed.members[2].model.snapshotBytes() == again.members[2].model.snapshotBytes())
        // A replica's version counts the updates it holds, its own and those of every increment added: the same as
        // when every increment arrives at once, so each arrived exactly once.
        for run in [delayed, never] {
            #expect(run.examplesPerMember == atOnce.examplesPerMember)
            #expect(run.members.map(\.model.version) == atOnce.members.map(\.model.version))
        }
    }

    /// `sync.ramp`: a young model is exchanged sooner (its replicas diverge fastest in the first examples), at the
    /// cost of a few more exchanges.
    @Test func theRampExchangesSoonerWhileTheModelIsYoung() throws {
        let spec = try LearnedNumbersRegressionTests.movielensMF()
        let lines = try Self.movielensLines(30_000)
        let one = Self.run(spec, members: 1, syncExamples: 0, lines: lines)
        let plain = Self.run(spec, members: 3, syncExamples: 1000, lines: lines)
        let ramped = Self.run(spec, members: 3, syncExamples: 1000, ramp: 0.05, lines: lines)
        print("members ramp test: one \(one.metrics.logloss), every 1000 \(plain.metrics.logloss) (\(plain.exchanges) exchanges), with a ramp of 0.05 \(ramped.metrics.logloss) (\(ramped.exchanges))")
        #expect(ramped.metrics.logloss - one.metrics.logloss < (plain.metrics.logloss - one.metrics.logloss) / 2)
        #expect(ramped.metrics.auc > plain.metrics.auc)
        // The model's ~19,000 examples keep it young here (the ramp reaches 1000 at 20,000): per member about
        // 1/(3 · 0.05) ≈ 7 exchanges of 10 examples, then each 1.15 times the last up to ~950: ln(95) / ln(1.15) ≈ 33.
        #expect(ramped.exchanges > plain.exchanges && ramped.exchanges <= 3 * 45)
        #expect(ramped.examplesPerMember == plain.examplesPerMember)
    }
}
