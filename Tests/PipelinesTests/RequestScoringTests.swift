import Events
import Testing
@testable import Pipelines

/// `Pipeline.probabilities(of:for:into:)`, the score off-policy evaluation gives a decision's candidates: a known item
/// scores what the score refresh gives it, bit for bit; an unknown one from its id, without the request's item-side
/// context; and scoring changes nothing.
@Suite struct RequestScoringTests {
    static func withRequest<R>(_ line: String, _ p: Pipeline, _ body: (EventView) -> R) -> R {
        var decoder = EventDecoder(contextKeys: p.contextKeys)
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBytes { raw in body(try! decoder.decode(UnsafeRawBufferPointer(raw))) }
    }

    @Test(arguments: CandidateScoringTests.models)
    func aKnownItemScoresWhatTheScoreRefreshGivesIt(model: String) throws {
        var p = Pipeline(spec: try PipelineSpec.parse(yaml: CandidateScoringTests.spec(model: model)))
        var sink = PipelineStepTests.RecordingSink()
        let lines = CandidateScoringTests.stream(events: 1500, seed: 9)
        PipelineStepTests.feed(&p, lines, &sink)
        var refreshed: [(item: Int, probability: Double)] = []
        p.topItems(k: p.catalog.count, into: &refreshed)
        #expect(refreshed.count > 10)
        let before = p.model.snapshotBytes()
        let catalog = p.catalog
        // Every refreshed item, and an unknown one in the middle.
        let ids = refreshed.map { catalog.id(of: $0.item) }
        var scored: [Double] = []
        let unknown = Self.withRequest(lines.last!, p) { request in
            p.probabilities(of: Array(ids[..<5]) + ["never-seen"] + Array(ids[5...]), for: request, into: &scored)
        }
        scored.remove(at: 5)
        #expect(unknown == 1 && scored.count == refreshed.count)
        for (i, (x, y)) in zip(scored, refreshed).enumerated() { #expect(x.bitPattern == y.probability.bitPattern, "item \(y.item) at \(i): \(x) vs \(y.probability)") }
        #expect(p.model.snapshotBytes() == before && p.catalog.count == catalog.count)
    }

    @Test func anUnknownItemIsScoredFromItsIdWithoutTheRequestsItemSideContext() throws {
        var p = Pipeline(spec: try PipelineSpec.parse(yaml: CandidateScoringTests.spec(model: "logistic")))
        var sink = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&p, CandidateScoringTests.stream(events: 1500, seed: 9), &sink)
        let with = #"{"event_id":"r","type":"click","user_id":"u3","item_id":"-","ts":9999999,"context":{"age":30,"tags":["t1"],"genres":["g1","g2"],"price":4.5}}"#
        let without = #"{"event_id":"r","type":"click","user_id":"u3","item_id":"-","ts":9999999,"context":{"age":30,"tags":["t1"]}}"#
        func score(_ line: String, _ id: String) -> (probability: Double, unknown: Int) {
            var result: [Double] = []
            let unknown = Self.withRequest(line, p) { request in p.probabilities(of: [id], for: request, into: &result) }
            return (result[0], unknown)
        }
        let a = score(with, "never-seen"), b = score(without, "never-seen")
        #expect(a.unknown == 1 && a.probability.bitPattern == b.probability.bitPattern)
        // A known item takes its catalog features whatever the request's item-side context.
        let known = p.catalog.id(of: 0)
        let c = score(with, known), d = score(without, known)
        #expect(c.unknown == 0 && c.probability.bitPattern == d.probability.bitPattern)
    }
}
