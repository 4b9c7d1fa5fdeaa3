import Events
import Learning
import Persistence
import Testing
@testable import Pipelines

/// Rewards close the loop (`serving.learn_from_rankings`): a logged ranking's shown items become pending examples
/// keyed by (ranking, item), on its rankings partition's own event time; feedback carrying the `ranking_id` labels
/// the right one positive; the others expire negative; rewards that find no example are counted; the pending
/// ranking examples survive a checkpoint.
@Suite struct RankingRewardTests {
    static func spec(learn: Bool = true) throws -> PipelineSpec {
        try PipelineSpec.parse(yaml: """
            version: 1
            name: rewards
            features:
              bits: 16
              namespaces:
                - {name: u, field: user_id}
                - {name: i, field: item_id}
                - {name: s, field: context.segment, side: user}
                - {name: G, field: context.genres, side: item}
              crosses: [[s, i]]
            label:
              examples: {view: 1.0}
              positives: [click, purchase]
              attribution_window: 1s
              buffer_capacity: 64
            model: {type: logistic}
            optimizer: {type: ftrl, alpha: 0.1, l1: 0.0}
            serving: {learn_from_rankings: \(learn)}
            """)
    }

    static func decision(_ id: String, ts: Int64, user: String = "u1", items: [String]) -> String {
        let list = items.map { "\"\($0)\"" }.joined(separator: ",")
        let shown = items.map { #"{"item_id":"\#($0)","score":0.5,"propensity":1}"# }.joined(separator: ",")
        return #"{"schema":1,"ranking_id":"\#(id)","ts":\#(ts),"user_id":"\#(user)","context":{"segment":"s1"},"candidates":[\#(list)],"items":[\#(shown)],"policy":"none","pipeline":"rewards","model_version":0}"#
    }

    static func event(_ type: String, user: String = "u1", item: String, ts: Int64, ranking: String? = nil, position: Int? = nil) -> String {
        #"{"event_id":"e-\#(user)-\#(item)-\#(ts)","type":"\#(type)","user_id":"\#(user)","item_id":"\#(item)","ts":\#(ts),"#
            + (ranking.map { #""ranking_id":"\#($0)","# } ?? "") + (position.map { #""position":\#($0),"# } ?? "")
            + #""context":{"segment":"s1","genres":["g-\#(item)"]}}"#
    }

    /// What was labelled: label, item id, cause.
    struct Sink: PipelineSink {
        var labelled: [(label: Bool, item: String, cause: LabelCause, probability: Double)] = []
        var rejected: [String] = []
        mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) { rejected.append(reason.code) }
        mutating func scored(_ event: borrowing EventView, probability: Double) {}
        mutating func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer) {
            labelled.append((example.label, String(decoding: itemID, as: UTF8.self), example.cause, example.probability))
        }
        mutating func processed(_ event: borrowing EventView) {}
    }

    /// A pipeline with an events partition and a rankings partition, and the catalog knowing items a…d (views of
    /// another user at time 0, labelled at once by ``Pipeline/finish(sink:)``: nothing is pending).
    struct Loop {
        var pipeline: Pipeline
        var parser: DecisionParser
        var sink = Sink()
        let events: Int, rankings: Int

        init(spec: PipelineSpec) {
            pipeline = Pipeline(spec: spec)
            parser = pipeline.makeDecisionParser()
            events = pipeline.partitionIndex(topic: "events", partition: 0)
            rankings = pipeline.partitionIndex(topic: "rankings", partition: 0)
        }

        mutating func event(_ line: String) {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { pipeline.process(UnsafeRawBufferPointer($0), partition: events, sink: &sink) }
        }

        /// An event of another input partition (number 1: not co-partitioned with the rankings partition 0).
        mutating func eventElsewhere(_ line: String) {
            var bytes = Array(line.utf8)
            let other = pipeline.partitionIndex(topic: "events", partition: 1)
            bytes.withUnsafeMutableBytes { pipeline.process(UnsafeRawBufferPointer($0), partition: other, sink: &sink) }
        }

        mutating func decision(_ line: String) {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes {
                pipeline.processDecision(UnsafeRawBufferPointer($0), partition: rankings, parser: &parser, sink: &sink)
            }
        }
    }

    static func loop(learn: Bool = true) throws -> Loop {
        var loop = Loop(spec: try spec(learn: learn))
        for item in ["a", "b", "c", "d"] { loop.event(event("view", user: "other", item: item, ts: 0)) }
        loop.pipeline.finish(sink: &loop.sink)
        loop.sink = Sink()
        return loop
    }

    @Test func aRankingsShownItemsBecomeExamplesAndARewardLabelsTheRightOne() throws {
        var loop = try Self.loop()
        loop.decision(Self.decision("r1", ts: 1000, items: ["a", "b", "c"]))
        #expect(loop.pipeline.counters.rankings == 1 && loop.pipeline.counters.rankingExamples == 3)
        #expect(loop.pipeline.join.pendingCount(partition: loop.rankings) == 3)
        #expect(loop.sink.labelled.isEmpty)
        loop.event(Self.event("click", item: "b", ts: 1200, ranking: "r1", position: 2))
        #expect(loop.sink.labelled.count == 1)
        let positive = try #require(loop.sink.labelled.first)
        #expect(positive.label && positive.item == "b" && positive.cause == .feedback)
        let c = loop.pipeline.counters
        #expect(c.rewards == 1 && c.rewardsAttributed == 1 && c.rewardsUnknownRanking == 0 && c.positives == 1)
        #expect(loop.pipeline.metrics.count == 5)  // the 4 setup views and the reward's example
        // The click has no (user, item) example of its own: that path counts it as before.
        #expect(c.unattributedFeedback == 1)
        #expect(loop.pipeline.join.pendingCount(partition: loop.rankings) == 2)
    }

    @Test func shownItemsWithoutARewardExpireNegativeOnTheRankingsOwnEventTime() throws {
        var loop = try Self.loop()
        loop.decision(Self.decision("r1", ts: 1000, items: ["a", "b", "c"]))
        loop.event(Self.event("click", item: "b", ts: 1200, ranking: "r1"))
        // Another events partition running ahead closes no window of this rankings partition.
        loop.eventElsewhere(Self.event("view", user: "u9", item: "d", ts: 50_000))
        #expect(loop.pipeline.join.pendingCount(partition: loop.rankings) == 2)
        // The next ranking, past r1's deadline (1000 + 1 s): a and c expire negative.
        loop.decision(Self.decision("r2", ts: 2001, user: "u2", items: ["d"]))
        let negatives = loop.sink.labelled.filter { !$0.label }
        #expect(negatives.count == 2 && negatives.allSatisfy { $0.cause == .windowExpired })
        #expect(negatives.map(\.item) == ["a", "c"])  // in the ranking's order
        #expect(loop.pipeline.join.pendingCount(partition: loop.rankings) == 1)  // r2's d
        #expect(loop.pipeline.counters.expiredNegatives >= 2)
    }

    /// The rankings partition is quiet (no newer ranking), but its co-partitioned events partition — where the
    /// rewards of its rankings arrive — has passed the window: no reward in it can still come, the shown items
    /// expire negative.
    @Test func aQuietRankingsPartitionsWindowsCloseOnItsEventsPartitionsTime() throws {
        var loop = try Self.loop()
        loop.decision(Self.decision("r1", ts: 1000, items: ["a", "b", "c"]))
        loop.event(Self.event("click", item: "b", ts: 1200, ranking: "r1"))
        loop.event(Self.event("view", user: "u9", item: "d", ts: 1999))  // within r1's window: nothing closes
        #expect(loop.pipeline.join.pendingCount(partition: loop.rankings) == 2)
        loop.event(Self.event("view", user: "u9", item: "d", ts: 2001))  // past 1000 + 1 s
        let negatives = loop.sink.labelled.filter { !$0.label }
        #expect(negatives.map(\.item) == ["a", "c"] && negatives.allSatisfy { $0.cause == .windowExpired })
        #expect(loop.pipeline.join.pendingCount(partition: loop.rankings) == 0)
    }

    @Test func rewardsOfUnknownOrExpiredRankingsAreCounted() throws {
        var loop = try Self.loop()
        loop.decision(Self.decision("r1", ts: 1000, items: ["a", "b"]))
        loop.event(Self.event("click", item: "a", ts: 1100, ranking: "zz"))      // unknown ranking
        loop.event(Self.event("click", item: "d", ts: 1100, ranking: "r1"))      // an item r1 did not show
        loop.event(Self.event("click", item: "a", ts: 1200, ranking: "r1"))      // the reward
        loop.event(Self.event("purchase", item: "a", ts: 1300, ranking: "r1"))   // again: already labelled
        loop.decision(Self.decision("r2", ts: 5000, items: ["c"]))               // r1's b expires
        loop.event(Self.event("click", item: "b", ts: 5100, ranking: "r1"))      // expired
        loop.event(Self.event("view", item: "c", ts: 5200, ranking: "r2"))       // a view is no reward
        // The unmatched rewards after the decision log partition's clock (1000) are held for a decision that could
        // still come; r2 (5000) gives up the first three, the end of the input the last.
        #expect(loop.pipeline.counters.rewardsUnknownRanking == 3 && loop.pipeline.heldRewardCount == 1)
        loop.pipeline.finish(sink: &loop.sink)
        let c = loop.pipeline.counters
        #expect(c.rewards == 5 && c.rewardsAttributed == 1 && c.rewardsUnknownRanking == 4)
        #expect(loop.sink.labelled.filter { $0.label }.map(\.item) == ["a"])
    }

    /// A reward after its ranking's window does not label: its own event time (on the co-partitioned events
    /// partition) closes the window first, the example expires negative and the reward is counted. At the deadline
    /// itself it still labels.
    @Test func aRewardAfterTheWindowIsCountedAndTheExampleExpiresNegative() throws {
        var loop = try Self.loop()
        loop.decision(Self.decision("r1", ts: 1000, items: ["a"]))
        loop.event(Self.event("click", item: "a", ts: 2001, ranking: "r1"))  // deadline 2000
        #expect(loop.pipeline.counters.rewardsAttributed == 0)
        #expect(loop.sink.labelled.map(\.label) == [false] && loop.sink.labelled.map(\.item) == ["a"])
        #expect(loop.pipeline.join.pendingCount(partition: loop.rankings) == 0)
        loop.decision(Self.decision("r2", ts: 2001, items: ["b"]))
        loop.event(Self.event("click", item: "b", ts: 3001, ranking: "r2"))  // deadline 3001
        #expect(loop.pipeline.counters.rewardsAttributed == 1)
        #expect(loop.sink.labelled.map(\.label) == [false, true])
        loop.decision(Self.decision("r3", ts: 3002, items: ["c"]))  // the late reward's decision did not come: counted
        #expect(loop.pipeline.counters.rewardsUnknownRanking == 1)
    }

    @Test func withoutLearnFromRankingsARankingIDChangesNothing() throws {
        var on = try Self.loop(learn: false)
        var off = try Self.loop(learn: false)
        on.event(Self.event("view", item: "a", ts: 1000))
        off.event(Self.event("view", item: "a", ts: 1000))
        on.event(Self.event("click", item: "a", ts: 1100, ranking: "r1", position: 1))
        off.event(Self.event("click", item: "a", ts: 1100))
        #expect(on.pipeline.counters == off.pipeline.counters)
        #expect(on.pipeline.counters.rewards == 0 && on.pipeline.counters.positives == 1)
        #expect(on.pipeline.model.snapshotBytes() == off.pipeline.model.snapshotBytes())
    }

    @Test func aBadDecisionRecordIsRejectedWithItsReason() throws {
        var loop = try Self.loop()
        loop.decision(#"{"schema":1,"ranking_id":"r1","ts":1000,"user_id":"u1","candidates":["a"],"items":[{"item_id":"z","propensity":1}]}"#)
        loop.decision("not json")
        #expect(loop.sink.rejected == ["not_a_candidate", "not_json"])
        #expect(loop.pipeline.counters.rankingsRejected == 2 && loop.pipeline.counters.rankings == 0)
        #expect(loop.pipeline.counters.rejected == 0)  // the event counters are the events'
    }

    /// The decision log partition lags: a reward is read before its ranking's decision. It is held, and labels the
    /// item's example as the decision makes it; the other shown items expire negative as usual.
    @Test func aRewardReadBeforeItsDecisionLabelsTheExampleTheDecisionMakes() throws {
        var loop = try Self.loop()
        loop.event(Self.event("click", item: "b", ts: 1200, ranking: "r1"))
        #expect(loop.pipeline.counters.rewardsUnknownRanking == 0 && loop.pipeline.heldRewardCount == 1)
        loop.decision(Self.decision("r1", ts: 1000, items: ["a", "b", "c"]))
        #expect(loop.sink.labelled.map(\.label) == [true] && loop.sink.labelled.map(\.item) == ["b"])
        let c = loop.pipeline.counters
        #expect(c.rewards == 1 && c.rewardsAttributed == 1 && c.rewardsUnknownRanking == 0)
        #expect(loop.pipeline.heldRewardCount == 0)
        loop.event(Self.event("view", user: "u9", item: "d", ts: 2001))
        #expect(loop.sink.labelled.map(\.item) == ["b", "a", "c"])
    }

    /// A held reward whose decision does not come by the time the decision log partition's own clock passes the
    /// reward's time is counted as an unknown ranking; so is one past its ranking's window, and every one still held
    /// at the end of the input.
    @Test func heldRewardsWhoseDecisionDoesNotComeAreCounted() throws {
        var loop = try Self.loop()
        loop.event(Self.event("click", item: "a", ts: 1200, ranking: "zz"))   // never decided
        loop.event(Self.event("click", item: "b", ts: 5000, ranking: "r1"))   // after r1's window (1000 + 1 s)
        loop.event(Self.event("click", item: "c", ts: 9000, ranking: "r8"))   // still held at the end
        #expect(loop.pipeline.heldRewardCount == 3)
        loop.decision(Self.decision("r1", ts: 1000, items: ["b"]))  // takes b's: outside the window
        #expect(loop.pipeline.counters.rewardsUnknownRanking == 1 && loop.pipeline.heldRewardCount == 2)
        loop.decision(Self.decision("r2", ts: 1300, items: ["d"]))  // the clock passes zz's reward (1200)
        #expect(loop.pipeline.counters.rewardsUnknownRanking == 2 && loop.pipeline.heldRewardCount == 1)
        loop.pipeline.finish(sink: &loop.sink)
        let c = loop.pipeline.counters
        #expect(c.rewards == 3 && c.rewardsAttributed == 0 && c.rewardsUnknownRanking == 3 && loop.pipeline.heldRewardCount == 0)
        #expect(loop.sink.labelled.allSatisfy { !$0.label })
    }

    /// A reward is not held once the decision log partition's clock is past its time: its decision would have come.
    @Test func aRewardAfterTheRankingsClockIsNotHeld() throws {
        var loop = try Self.loop()
        loop.decision(Self.decision("r1", ts: 3000, items: ["a"]))
        loop.event(Self.event("click", item: "b", ts: 2500, ranking: "r0"))
        #expect(loop.pipeline.counters.rewardsUnknownRanking == 1 && loop.pipeline.heldRewardCount == 0)
    }

    @Test func heldRewardsRoundTripThroughACheckpoint() throws {
        let spec = try Self.spec()
        var loop = try Self.loop()
        loop.event(Self.event("click", item: "b", ts: 1200, ranking: "r1"))
        let bytes = loop.pipeline.checkpointBytes(positions: [])
        var restored = loop
        restored.pipeline = try Pipeline.restore(spec: spec, from: bytes).0
        #expect(restored.pipeline.heldRewardCount == 1)
        for var l in [loop, restored] {
            l.sink = Sink()
            l.decision(Self.decision("r1", ts: 1000, items: ["a", "b"]))
            #expect(l.sink.labelled.map(\.label) == [true] && l.pipeline.counters.rewardsAttributed == 1)
        }
        // Format 6 (before held rewards) restores with none held.
        var w = BinaryWriter()
        loop.pipeline.writeCheckpoint(positions: [], into: &w, format: 6)
        #expect(try Pipeline.restore(spec: spec, from: w.bytes).0.heldRewardCount == 0)
    }

    /// A decision log partition moves to another member: the rewards held for its decisions go with its state, the
    /// former owner counts none of them, and the new owner labels the example the decision makes. A state of version
    /// 1 (before held rewards) is read with none held.
    @Test func heldRewardsFollowTheirPartitionToAnotherMember() throws {
        var a = try Self.loop()
        a.event(Self.event("click", item: "b", ts: 1200, ranking: "r1"))
        a.event(Self.event("click", item: "c", ts: 1300, ranking: "r1"))
        #expect(a.pipeline.heldRewardCount(partition: a.rankings) == 2)
        let copy = a.pipeline.exportPartition(a.rankings, removing: false)
        #expect(a.pipeline.heldRewardCount == 2)  // a copy leaves them held
        let state = a.pipeline.exportPartition(a.rankings)
        #expect(state == copy)
        #expect(a.pipeline.heldRewardCount == 0 && a.pipeline.counters.rewardsUnknownRanking == 0)

        var b = try Self.loop()
        try b.pipeline.importPartition(state, into: b.rankings, sink: &b.sink)
        #expect(b.pipeline.heldRewardCount(partition: b.rankings) == 2 && b.pipeline.counters.rewardsUnknownRanking == 0)
        b.decision(Self.decision("r1", ts: 1000, items: ["a", "b", "c"]))
        #expect(b.sink.labelled.map(\.label) == [true, true] && b.sink.labelled.map(\.item) == ["b", "c"])
        #expect(b.pipeline.counters.rewardsAttributed == 2 && b.pipeline.heldRewardCount == 0)

        // Version 1: the same bytes without the held rewards' section (a count and 16 bytes each) at the end.
        var v1 = Array(state.dropLast(8 + 16 * 2))
        v1[4] = 1
        var c = try Self.loop()
        try c.pipeline.importPartition(v1, into: c.rankings, sink: &c.sink)
        #expect(c.pipeline.heldRewardCount == 0 && c.pipeline.counters.rewardsUnknownRanking == 0)

        // A member that drops the partition (another owns it, from its own copy) counts none either.
        var d = try Self.loop()
        d.event(Self.event("click", item: "b", ts: 1200, ranking: "r1"))
        d.pipeline.dropPartition(d.rankings)
        #expect(d.pipeline.heldRewardCount == 0 && d.pipeline.counters.rewardsUnknownRanking == 0)
    }

    @Test func pendingRankingExamplesRoundTripThroughACheckpoint() throws {
        let spec = try Self.spec()
        var loop = try Self.loop()
        loop.decision(Self.decision("r1", ts: 1000, items: ["a", "b", "c"]))
        loop.event(Self.event("click", item: "c", ts: 1100, ranking: "r1"))
        let bytes = loop.pipeline.checkpointBytes(positions: [InputPosition(topic: "rankings", partition: 0, offset: 1)])
        let (restoredPipeline, positions) = try Pipeline.restore(spec: spec, from: bytes)
        #expect(positions == [InputPosition(topic: "rankings", partition: 0, offset: 1)])
        // Format 5 (before the decision log's counters) restores with them at zero.
        var w = BinaryWriter()
        loop.pipeline.writeCheckpoint(positions: [], into: &w, format: 5)
        let (older, _) = try Pipeline.restore(spec: spec, from: w.bytes)
        #expect(older.counters.rankingExamples == 0 && older.counters.events == loop.pipeline.counters.events)
        #expect(older.join.pendingCount == loop.pipeline.join.pendingCount)
        var restored = loop
        restored.pipeline = restoredPipeline
        restored.sink = Sink()
        loop.sink = Sink()
        #expect(restored.pipeline.counters == loop.pipeline.counters)
        #expect(restored.pipeline.join.pendingCount(partition: restored.rankings) == 2)
        var probabilities: [[Double]] = []
        for var l in [loop, restored] {
            l.event(Self.event("click", item: "a", ts: 1200, ranking: "r1"))
            l.decision(Self.decision("r2", ts: 3000, items: ["d"]))
            #expect(l.sink.labelled.map(\.label) == [true, false] && l.sink.labelled.map(\.item) == ["a", "b"])
            #expect(l.pipeline.counters.rewardsAttributed == 2)
            probabilities.append(l.sink.labelled.map(\.probability))
        }
        // The restored examples carry the predictions of their arrival, bit for bit.
        #expect(probabilities[0] == probabilities[1])
    }
}
