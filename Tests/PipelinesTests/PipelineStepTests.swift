import Events
import Learning
import Testing
@testable import Pipelines

/// The per-event step: delayed-feedback labels, overflow, rejects and determinism.
@Suite struct PipelineStepTests {
    static func spec(window: String = "1s", capacity: Int = 1024, ranking: String = "off", model: String = "type: logistic") throws -> PipelineSpec {
        try PipelineSpec.parse(yaml: """
            version: 1
            name: step
            features:
              bits: 16
              namespaces:
                - {name: u, field: user_id}
                - {name: i, field: item_id}
                - {name: G, field: context.genres, side: item}
              crosses: [[u, G]]
            label:
              examples: {click: 1.0, view: 0.5}
              positives: [purchase]
              attribution_window: \(window)
              buffer_capacity: \(capacity)
            model:
              \(model)
            optimizer: {type: ftrl, alpha: 0.1, l1: 0.0}
            evaluation:
              window: 2
              ranking: \(ranking)
            """)
    }

    static func event(_ type: String, user: String, item: String, ts: Int64) -> String {
        #"{"event_id":"e-\#(user)-\#(item)-\#(type)-\#(ts)","type":"\#(type)","user_id":"\#(user)","item_id":"\#(item)","ts":\#(ts),"context":{"genres":["Drama","Comedy"]}}"#
    }

    /// Records what the sink saw.
    struct RecordingSink: PipelineSink {
        var rejected: [String] = []
        var scored: [Double] = []
        var labelled: [LabelledExample] = []
        var processed = 0
        mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) { rejected.append(reason.code) }
        mutating func scored(_ event: borrowing EventView, probability: Double) { scored.append(probability) }
        mutating func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer) { labelled.append(example) }
        mutating func processed(_ event: borrowing EventView) { processed += 1 }
    }

    static func feed(_ pipeline: inout Pipeline, _ lines: [String], _ sink: inout RecordingSink) {
        for line in lines {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { pipeline.process(UnsafeRawBufferPointer($0), sink: &sink) }
        }
    }

    @Test func purchaseLabelsItsClickPositiveWithTheArrivalPrediction() throws {
        var p = Pipeline(spec: try Self.spec())
        var sink = RecordingSink()
        Self.feed(&p, [Self.event("click", user: "1", item: "a", ts: 1000), Self.event("purchase", user: "1", item: "a", ts: 1500)], &sink)
        #expect(sink.scored.count == 1)
        #expect(sink.labelled.count == 1)
        let example = try #require(sink.labelled.first)
        #expect(example.label)
        #expect(example.cause == .feedback)
        #expect(example.probability == sink.scored[0])
        #expect(p.counters.positives == 1)
        #expect(p.metrics.count == 1)
        #expect(p.model.version == 1)
    }

    @Test func windowPassingTheWatermarkLabelsNegative() throws {
        var p = Pipeline(spec: try Self.spec(window: "1s"))
        var sink = RecordingSink()
        Self.feed(&p, [
            Self.event("click", user: "1", item: "a", ts: 1000),
            Self.event("click", user: "2", item: "b", ts: 1900),  // window of the first still open (deadline 2000)
            Self.event("click", user: "3", item: "c", ts: 2001),  // closes the first only
            Self.event("purchase", user: "1", item: "a", ts: 2002),  // too late: unattributed
        ], &sink)
        #expect(sink.labelled.map(\.label) == [false])
        #expect(sink.labelled.first?.cause == .windowExpired)
        #expect(p.counters.unattributedFeedback == 1)
        #expect(p.join.pendingCount == 2)
        p.finish(sink: &sink)
        #expect(sink.labelled.count == 3)
        #expect(sink.labelled.suffix(2).allSatisfy { $0.cause == .endOfInput && !$0.label })
        #expect(p.counters.endOfInputNegatives == 2)
    }

    @Test func overflowLabelsTheOldestNegativeAndCountsIt() throws {
        var p = Pipeline(spec: try Self.spec(window: "1h", capacity: 2))
        var sink = RecordingSink()
        Self.feed(&p, (0..<5).map { Self.event("click", user: "u\($0)", item: "i", ts: 1000 + Int64($0)) }, &sink)
        #expect(sink.labelled.count == 3)
        #expect(sink.labelled.allSatisfy { $0.cause == .overflow && !$0.label })
        #expect(p.counters.overflowNegatives == 3)
        #expect(p.join.forcedByOverflow == 3)
        // The two newest are still pending and can still be labelled.
        Self.feed(&p, [Self.event("purchase", user: "u4", item: "i", ts: 1010)], &sink)
        #expect(sink.labelled.last?.label == true)
    }

    @Test func exampleWeightsComeFromTheEventType() throws {
        var p = Pipeline(spec: try Self.spec())
        var sink = RecordingSink()
        Self.feed(&p, [Self.event("view", user: "1", item: "a", ts: 1000), Self.event("purchase", user: "1", item: "a", ts: 1001)], &sink)
        #expect(sink.labelled.first?.weight == 0.5)
        Self.feed(&p, [Self.event("add_to_cart", user: "1", item: "a", ts: 1002)], &sink)
        #expect(p.counters.ignored == 1)
    }

    @Test func malformedInputIsRejectedWithItsReasonAndNothingElseChanges() throws {
        var p = Pipeline(spec: try Self.spec())
        var sink = RecordingSink()
        Self.feed(&p, ["not json", #"{"event_id":"x","type":"teleport","user_id":"1","item_id":"a","ts":1}"#, Self.event("click", user: "1", item: "a", ts: 5)], &sink)
        #expect(sink.rejected == ["not_json", "unknown_type"])
        #expect(p.counters.rejected == 2)
        #expect(p.counters.rejectedByReason == ["not_json": 1, "unknown_type": 1])
        #expect(sink.scored.count == 1)
        #expect(sink.processed == 1)
    }

    @Test func sameInputGivesBitIdenticalModels() throws {
        let spec = try Self.spec(window: "0s", ranking: "{k: 3, negatives: 5, seed: 1}", model: "type: fm\n  factors: 4\n  seed: 9")
        var lines: [String] = []
        var state: UInt64 = 1
        for t in 0..<400 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let user = "u\(state >> 60)", item = "i\((state >> 40) % 23)"
            lines.append(Self.event("click", user: user, item: item, ts: Int64(t) * 1000))
            if (state >> 33) % 3 == 0 { lines.append(Self.event("purchase", user: user, item: item, ts: Int64(t) * 1000)) }
        }
        var a = Pipeline(spec: spec), b = Pipeline(spec: spec)
        var sa = RecordingSink(), sb = RecordingSink()
        Self.feed(&a, lines, &sa)
        Self.feed(&b, lines, &sb)
        #expect(a.model.snapshotBytes() == b.model.snapshotBytes())
        #expect(sa.labelled == sb.labelled)
        #expect(a.ranking?.count == b.ranking?.count)
        #expect((a.ranking?.count ?? 0) > 0)
        #expect(a.ranking?.hitRate == b.ranking?.hitRate)
    }

    @Test func topItemsRanksTheCatalogForTheLastUser() throws {
        var p = Pipeline(spec: try Self.spec(window: "0s"))
        var sink = RecordingSink()
        var lines: [String] = []
        for t in 0..<200 {
            let item = "i\(t % 5)"
            lines.append(Self.event("click", user: "u\(t % 7)", item: item, ts: Int64(t) * 1000))
            if item == "i3" { lines.append(Self.event("purchase", user: "u\(t % 7)", item: item, ts: Int64(t) * 1000)) }
        }
        Self.feed(&p, lines, &sink)
        var top: [(item: Int, probability: Double)] = []
        p.topItems(k: 3, into: &top)
        #expect(top.count == 3)
        #expect(p.catalog.id(of: top[0].item) == "i3")
        #expect(top[0].probability >= top[1].probability && top[1].probability >= top[2].probability)
    }
}

/// The join/catalog hash map behaves like a Dictionary under random inserts, updates and deletes.
@Suite struct UInt64MapTests {
    @Test func matchesDictionaryUnderRandomOperations() {
        var map = UInt64Map()
        var reference: [UInt64: Int] = [:]
        var state: UInt64 = 42
        for step in 0..<200_000 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let key = (state >> 40) % 5000  // small key space: many collisions, updates and deletes
            switch (state >> 20) % 3 {
            case 0, 1:
                map[key] = step
                reference[key] = step
            default:
                #expect(map.removeValue(forKey: key) == reference.removeValue(forKey: key))
            }
            if step % 9973 == 0 {
                #expect(map.count == reference.count)
                for k in 0..<UInt64(5000) where map[k] != reference[k] {
                    Issue.record("key \(k): \(String(describing: map[k])) vs \(String(describing: reference[k]))")
                    return
                }
            }
        }
    }
}
