import Foundation
import Pipelines
import Synchronization
import Testing
@testable import Learning
@testable import Worker

/// The ranking API's consistent view under concurrent learning: a writer thread learns and publishes views while
/// reader threads rank on them. A view must never change under its readers — ranking the same query twice on one
/// view gives the same scores, and the model version a reader sees never goes back. Run it under the thread
/// sanitizer too (`swift test --sanitize=thread --filter ServingViewConcurrencyTests`): any read of memory the
/// writer writes is reported there.
@Suite struct ServingViewConcurrencyTests {
    static let spec = """
        version: 1
        name: concurrency
        features:
          bits: 16
          namespaces:
            - {name: u, field: user_id}
            - {name: i, field: item_id}
            - {name: a, field: context.age, transform: bucket, width: 10, side: user}
            - {name: G, field: context.genres, side: item}
          crosses: [[u, G], [i, a]]
        label:
          examples: {click: 1.0}
          positives: [purchase]
          attribution_window: 1s
        model:
          type: fm
          factors: 8
        optimizer: {type: ftrl, alpha: 0.2}
        factor_optimizer: {type: adagrad, learning_rate: 0.05}
        outputs: {candidates: 40}
        """

    static func stream(events: Int) -> [[UInt8]] {
        var state: UInt64 = 7
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        let genres = ["Drama", "Comedy", "Action", "Horror"]
        var lines: [[UInt8]] = []
        for t in 0..<events {
            let user = "u\(next() % 50)", n = next() % 200
            let context = #""age":\#(18 + next() % 50),"genres":["\#(genres[Int(n % 4)])"]"#
            lines.append(Array(#"{"event_id":"c\#(t)","type":"click","user_id":"\#(user)","item_id":"m\#(n)","ts":\#(t * 100),"context":{\#(context)}}"#.utf8))
            if n % 3 == 0 {
                lines.append(Array(#"{"event_id":"p\#(t)","type":"purchase","user_id":"\#(user)","item_id":"m\#(n)","ts":\#(t * 100 + 50),"context":{\#(context)}}"#.utf8))
            }
        }
        return lines
    }

    @Test func readersRankOnViewsThatNeverChangeWhileTheWriterLearns() async throws {
        let spec = try PipelineSpec.parse(yaml: Self.spec)
        let view = ServingView(intervalMs: 0)
        let flags = Flags()
        let lines = Self.stream(events: 12_000)
        let writer = Thread {
            var pipeline = Pipeline(spec: spec)
            var sink = NullSink()
            var clock: UInt64 = 1
            for (n, line) in lines.enumerated() {
                line.withUnsafeBytes { pipeline.process($0, sink: &sink) }
                if n % 200 == 0 {
                    clock += 1
                    if view.offer(pipeline, now: clock) { flags.published.add(1, ordering: .relaxed) }
                }
            }
            flags.done.store(true, ordering: .releasing)
        }
        writer.start()
        let results = try await withThrowingTaskGroup(of: (rankings: Int, mismatches: Int, regressions: Int).self) { group in
            for reader in 0..<2 {
                group.addTask {
                    var ranker = Ranker(spec: spec)
                    var first: [RankedPosition] = [], second: [RankedPosition] = [], pool: [Int32] = []
                    var query = RankQuery()
                    query.body = Array("\"u\(reader)\"".utf8)
                    query.user = 0..<query.body.count
                    query.k = 20
                    var rankings = 0, mismatches = 0, regressions = 0
                    var lastVersion: UInt64 = 0
                    while !flags.done.load(ordering: .acquiring) || rankings < 100 {
                        guard let v = view.view else { continue }
                        if v.model.version < lastVersion { regressions += 1 }
                        lastVersion = v.model.version
                        try ranker.rank(query, view: v, policy: .none, into: &first, pool: &pool)
                        try ranker.rank(query, view: v, policy: .none, into: &second, pool: &pool)
                        if first.map(\.score) != second.map(\.score) || first.map(\.item) != second.map(\.item) { mismatches += 1 }
                        rankings += 1
                    }
                    return (rankings, mismatches, regressions)
                }
            }
            var all: [(rankings: Int, mismatches: Int, regressions: Int)] = []
            for try await r in group { all.append(r) }
            return all
        }
        #expect(flags.published.load(ordering: .relaxed) >= 50)
        for r in results {
            #expect(r.rankings >= 100)
            #expect(r.mismatches == 0)
            #expect(r.regressions == 0)
        }
    }

    /// (On a thread of its own, like the writer above: the thread sanitizer's runtime faults on the pipeline's
    /// accesses from a test task's thread.)
    @Test func aViewIsPublishedFirstThenOnlyWhenTheModelChangedAndTheIntervalPassed() async throws {
        let spec = try PipelineSpec.parse(yaml: Self.spec)
        let outcome = try await offThePool { () -> [Bool] in
            let view = ServingView(intervalMs: 1000)
            var pipeline = Pipeline(spec: spec)
            var sink = NullSink()
            var checks: [Bool] = []
            checks.append(view.view == nil)
            checks.append(view.offer(pipeline, now: 1))  // the first offer always publishes (the API answers at once)
            checks.append(view.view?.takenAt == 1)
            checks.append(!view.offer(pipeline, now: 5_000_000_000))  // nothing changed
            let lines = Self.stream(events: 50)
            lines[0].withUnsafeBytes { pipeline.process($0, sink: &sink) }
            checks.append(!view.offer(pipeline, now: 900_000_000))  // changed, but within the interval
            checks.append(view.offer(pipeline, now: 1_000_000_001))
            checks.append(view.view?.events == pipeline.counters.events && view.view?.takenAt == 1_000_000_001)
            for line in lines.dropFirst() { line.withUnsafeBytes { pipeline.process($0, sink: &sink) } }
            checks.append(view.offer(pipeline, now: 3_000_000_000))
            checks.append(view.view?.model.version == pipeline.model.version && pipeline.model.version > 0)
            return checks
        }
        #expect(outcome == Array(repeating: true, count: 9), "\(outcome)")
    }

    /// Each new view goes into the table of the view replaced the time before once no reader holds that view (no
    /// new memory per view), never while one does; either way it holds the model as it was, bit for bit.
    @Test func aNewViewReusesTheTableOfAViewNoReaderHolds() async throws {
        let spec = try PipelineSpec.parse(yaml: Self.spec)
        let outcome = try await offThePool { () -> [String: Bool] in
            let view = ServingView(intervalMs: 0)
            var pipeline = Pipeline(spec: spec)
            var sink = NullSink()
            let lines = Self.stream(events: 600)
            var checks: [String: Bool] = [:]
            func learn(_ range: Range<Int>) { for line in lines[range] { line.withUnsafeBytes { pipeline.process($0, sink: &sink) } } }
            func sameTable() -> Bool {
                view.view!.model.table.map(\.bitPattern) == pipeline.model.table.map(\.bitPattern)
            }
            learn(0..<100)
            _ = view.offer(pipeline, now: 1)
            weak var first = view.view!.model.storage  // (a strong reference would hold the table itself)
            learn(100..<200)
            _ = view.offer(pipeline, now: 2)  // replaces the first: kept for the next copy
            checks["second is new"] = view.view!.model.storage !== first
            learn(200..<300)
            _ = view.offer(pipeline, now: 3)
            checks["third reuses the first's table"] = first != nil && view.view!.model.storage === first
            checks["third holds the model"] = sameTable()
            let reader = view.view!  // a request in flight on the third
            let readerTable = reader.model.table.map(\.bitPattern)
            learn(300..<400)
            _ = view.offer(pipeline, now: 4)  // retires the third, which the reader holds
            learn(400..<500)
            _ = view.offer(pipeline, now: 5)
            checks["fifth does not take the held table"] = view.view!.model.storage !== reader.model.storage
            checks["fifth holds the model"] = sameTable()
            checks["the reader's view is as it was"] = reader.model.table.map(\.bitPattern) == readerTable
                && reader.model.version < pipeline.model.version
            return checks
        }
        #expect(outcome.values.allSatisfy { $0 }, "\(outcome)")
    }

    final class Flags: Sendable {
        let done = Atomic<Bool>(false)
        let published = Atomic<Int>(0)
    }
}
