import Events
import Learning
import Testing
@testable import Pipelines

/// Event time is per input partition: a partition that is far ahead (a backlog drained partition by partition,
/// uneven lag) never expires another partition's clicks, and every example gets the label it gets when each
/// partition's sequence is processed alone — whatever the interleaving.
@Suite struct PartitionEventTimeTests {
    /// Users 0..<users; each clicks `clicks` items over time, and buys a third of them `delay` ms after the click
    /// (inside the 1 s window). Events of user u go to partition u % partitions, each partition in time order.
    static func partitionedStream(partitions: Int, users: Int = 60, clicks: Int = 40) -> [[String]] {
        var perPartition = [[(ts: Int64, line: String)]](repeating: [], count: partitions)
        var state: UInt64 = 2026
        func next(_ n: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(n))
        }
        for u in 0..<users {
            var t: Int64 = 1_000_000 + Int64(u * 7)
            for c in 0..<clicks {
                t += Int64(200 + next(3_000))
                let item = "i\(next(30))"
                perPartition[u % partitions].append((t, PipelineStepTests.event("click", user: "u\(u)", item: item, ts: t)))
                if c % 3 == 0 {
                    let delay = Int64(100 + next(700))
                    perPartition[u % partitions].append((t + delay, PipelineStepTests.event("purchase", user: "u\(u)", item: item, ts: t + delay)))
                }
            }
        }
        return perPartition.map { $0.sorted { $0.ts < $1.ts }.map(\.line) }
    }

    /// What a run labelled: per cause the (item id, label) pairs, sorted; pending examples at the end.
    struct Labels: Equatable {
        var byCause: [String: [String]] = [:]
        var pending = 0
        var unattributed: UInt64 = 0
    }

    struct LabelSink: PipelineSink {
        var labels = Labels()
        mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) {}
        mutating func scored(_ event: borrowing EventView, probability: Double) {}
        mutating func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer) {
            labels.byCause[example.cause.rawValue, default: []].append("\(String(decoding: itemID, as: UTF8.self)):\(example.label)")
        }
        mutating func processed(_ event: borrowing EventView) {}
    }

    /// Runs `order` (partition, line) through one pipeline; `partitioned: false` applies every event as partition 0
    /// (one global event time, the behaviour before event time was per partition).
    static func run(_ order: [(partition: Int, line: String)], partitions: Int, partitioned: Bool = true) throws -> Labels {
        var pipeline = Pipeline(spec: try PipelineStepTests.spec(window: "1s", capacity: 100_000))
        let indices = (0..<partitions).map { pipeline.partitionIndex(topic: "events", partition: Int32($0)) }
        var sink = LabelSink()
        for (p, line) in order {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { pipeline.process(UnsafeRawBufferPointer($0), partition: partitioned ? indices[p] : 0, sink: &sink) }
        }
        var labels = sink.labels
        for key in labels.byCause.keys { labels.byCause[key]!.sort() }
        labels.pending = pipeline.join.pendingCount
        labels.unattributed = pipeline.counters.unattributedFeedback
        return labels
    }

    /// Each partition alone, the labels added up.
    static func separately(_ streams: [[String]]) throws -> Labels {
        var total = Labels()
        for (p, lines) in streams.enumerated() {
            let one = try run(lines.map { (p, $0) }, partitions: streams.count)
            for (cause, pairs) in one.byCause { total.byCause[cause, default: []] += pairs }
            total.pending += one.pending
            total.unattributed += one.unattributed
        }
        for key in total.byCause.keys { total.byCause[key]!.sort() }
        return total
    }

    @Test func aBacklogDrainedWithOnePartitionFarBehindExpiresNoClickOfItEarly() throws {
        let streams = Self.partitionedStream(partitions: 2)
        // Partition 0 got half-way through its backlog before partition 1 started (tens of seconds of event time
        // ahead, 20 windows); then both drain together, in bursts of 10 events each.
        let half = streams[0].count / 2
        var lagging: [(partition: Int, line: String)] = streams[0][..<half].map { (0, $0) }
        var a = half, b = 0
        while a < streams[0].count || b < streams[1].count {
            for _ in 0..<10 where a < streams[0].count { lagging.append((0, streams[0][a])); a += 1 }
            for _ in 0..<10 where b < streams[1].count { lagging.append((1, streams[1][b])); b += 1 }
        }
        let expected = try Self.separately(streams)
        let got = try Self.run(lagging, partitions: 2)
        #expect(got == expected)
        #expect(got.unattributed == 0, "a purchase found its click expired")
        #expect((got.byCause["feedback"]?.count ?? 0) == streams.joined().filter { $0.contains(#""purchase""#) }.count)
        // With one global event time the lagging partition's clicks expire on arrival, before their purchases.
        let global = try Self.run(lagging, partitions: 2, partitioned: false)
        #expect(global != expected && global.unattributed > 0, "the global watermark should have expired lagging clicks")
        print("lagging partition: \(global.unattributed) purchases found their click expired by the other partition's time with one global watermark, 0 per partition")
    }

    @Test(arguments: [2, 4])
    func everyInterleavingLabelsEveryExampleAlike(partitions: Int) throws {
        let streams = Self.partitionedStream(partitions: partitions)
        let expected = try Self.separately(streams)
        var state: UInt64 = UInt64(partitions)
        for round in 0..<5 {
            // A random merge that keeps each partition's order (what a consumer of several partitions sees).
            var cursors = [Int](repeating: 0, count: partitions)
            var order: [(partition: Int, line: String)] = []
            while order.count < streams.joined().count {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let p = Int((state >> 33) % UInt64(partitions))
                let burst = 1 + Int((state >> 13) % 200)
                for _ in 0..<burst where cursors[p] < streams[p].count {
                    order.append((p, streams[p][cursors[p]]))
                    cursors[p] += 1
                }
            }
            #expect(try Self.run(order, partitions: partitions) == expected, "round \(round)")
        }
    }

    /// A partition that moves to another member takes its pending clicks along: exported from the old owner's
    /// pipeline mid-stream and imported into the new owner's, each click is labelled exactly once across the two, as
    /// one pipeline would have labelled it.
    @Test func aMovedPartitionsPendingClicksAreLabelledOnceByTheNewOwner() throws {
        let streams = Self.partitionedStream(partitions: 2)
        let expected = try Self.separately(streams)
        let spec = try PipelineStepTests.spec(window: "1s", capacity: 100_000)
        var a = Pipeline(spec: spec), b = Pipeline(spec: spec)
        let a0 = a.partitionIndex(topic: "events", partition: 0), a1 = a.partitionIndex(topic: "events", partition: 1)
        // The new owner already owns other partitions: partition 1 gets another index there.
        _ = b.partitionIndex(topic: "events", partition: 7)
        let b1 = b.partitionIndex(topic: "events", partition: 1)
        var sinkA = LabelSink(), sinkB = LabelSink()
        func feed(_ p: inout Pipeline, _ line: String, _ index: Int, _ sink: inout LabelSink) {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { p.process(UnsafeRawBufferPointer($0), partition: index, sink: &sink) }
        }
        let cut = streams[1].count / 2
        for line in streams[0] { feed(&a, line, a0, &sinkA) }
        for line in streams[1][..<cut] { feed(&a, line, a1, &sinkA) }
        let pendingBefore = a.join.pendingCount(partition: a1)
        try #require(pendingBefore > 0, "nothing pending to move")
        let state = a.exportPartition(a1)
        #expect(a.join.pendingCount(partition: a1) == 0 && a.join.pendingCount == a.join.pendingCount(partition: a0))
        try b.importPartition(state, into: b1, sink: &sinkB)
        #expect(b.join.pendingCount(partition: b1) == pendingBefore)
        for line in streams[1][cut...] { feed(&b, line, b1, &sinkB) }

        var got = Labels()
        for sink in [sinkA, sinkB] { for (cause, pairs) in sink.labels.byCause { got.byCause[cause, default: []] += pairs } }
        for key in got.byCause.keys { got.byCause[key]!.sort() }
        got.pending = a.join.pendingCount + b.join.pendingCount
        got.unattributed = a.counters.unattributedFeedback + b.counters.unattributedFeedback
        #expect(got == expected)
        print("moved partition: \(pendingBefore) pending clicks handed over in \(state.count) bytes")

        // Another pipeline definition refuses the state.
        var other = Pipeline(spec: try PipelineStepTests.spec(window: "1s", capacity: 100_000, model: "type: fm\n  factors: 4"))
        #expect(throws: CheckpointError.self) { try other.importPartition(state, into: 0, sink: &sinkB) }
    }
}
