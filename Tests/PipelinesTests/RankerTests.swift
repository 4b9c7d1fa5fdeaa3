import Foundation
import Learning
import Testing
@testable import Pipelines

/// The ranking API's scorer: a ranking's scores are the score refresh's scores for the same user and context, an
/// unknown item is scored from its id alone and flagged, and a view never changes once taken.
@Suite struct RankerTests {
    /// A query whose body is the JSON the API would receive (ranges computed as the request parser does).
    static func query(user: String, context: [(String, String)], candidates: [String]?, k: Int) -> RankQuery {
        var q = RankQuery()
        var body = Array(#"{"user_id":"#.utf8)
        let userStart = body.count
        body += Array("\"\(user)\"".utf8)
        q.user = userStart..<body.count
        body += Array(#","context":{"#.utf8)
        for (n, (key, value)) in context.enumerated() {
            if n > 0 { body.append(UInt8(ascii: ",")) }
            let start = body.count
            body += Array("\"\(key)\":\(value)".utf8)
            q.context.append((key, start..<body.count))
        }
        body.append(UInt8(ascii: "}"))
        if let candidates {
            body += Array(#","candidates":["#.utf8)
            var tokens: [Range<Int>] = []
            for (n, c) in candidates.enumerated() {
                if n > 0 { body.append(UInt8(ascii: ",")) }
                let start = body.count
                body += Array("\"\(c)\"".utf8)
                tokens.append(start..<body.count)
                let idStart = q.candidateIDs.count
                q.candidateIDs += Array(c.utf8)
                q.candidateIDRanges.append(idStart..<q.candidateIDs.count)
            }
            body.append(UInt8(ascii: "]"))
            q.candidates = tokens
        }
        body.append(UInt8(ascii: "}"))
        q.body = body
        q.k = k
        q.timestampMs = 1_000
        return q
    }

    /// The user-side context of a CandidateScoringTests stream line (what its refresh scores with).
    static func userContext(of line: String) -> (user: String, context: [(String, String)]) {
        let object = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        let context = object["context"] as! [String: Any]
        let tags = (context["tags"] as! [String]).map { "\"\($0)\"" }.joined(separator: ",")
        return (object["user_id"] as! String, [("age", "\(context["age"]!)"), ("tags", "[\(tags)]")])
    }

    @Test(arguments: CandidateScoringTests.models)
    func scoresAreTheScoreRefreshOfTheSameUserAndContext(model: String) throws {
        let spec = try PipelineSpec.parse(yaml: CandidateScoringTests.spec(model: model))
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        var ranker = Ranker(spec: spec)
        var positions: [RankedPosition] = [], pool: [Int32] = []
        var checked = 0
        for (n, line) in CandidateScoringTests.stream(events: 2000, seed: 3).enumerated() {
            PipelineStepTests.feed(&p, [line], &sink)
            guard n % 101 == 100, line.contains("\"click\"") else { continue }
            var refresh: [(item: Int, probability: Double)] = []
            p.topItems(k: 1000, into: &refresh)
            let (user, context) = Self.userContext(of: line)
            let view = p.servingView(takenAt: UInt64(n))
            // The pool, as the refresh ranks it.
            try ranker.rank(Self.query(user: user, context: context, candidates: nil, k: 1000), view: view, policy: .none, into: &positions, pool: &pool)
            #expect(positions.count == refresh.count && !refresh.isEmpty)
            for (a, b) in zip(positions, refresh) {
                #expect(a.item == b.item && a.score.bitPattern == b.probability.bitPattern && a.propensity == 1)
            }
            #expect(Set(pool) == Set(refresh.map { Int32($0.item) }))
            // The same items named as candidates (reversed), plus one the catalog does not know.
            let ids = refresh.map { p.catalog.id(of: $0.item) }.reversed() + ["never-seen"]
            try ranker.rank(Self.query(user: user, context: context, candidates: Array(ids), k: 1000), view: view, policy: .none, into: &positions, pool: &pool)
            #expect(positions.count == refresh.count + 1)
            let unknown = try #require(positions.first { $0.item < 0 })
            #expect(ids[unknown.candidate] == "never-seen" && unknown.score > 0 && unknown.score < 1)
            let known = positions.filter { $0.item >= 0 }
            for (a, b) in zip(known, refresh) {
                #expect(a.item == b.item && a.score.bitPattern == b.probability.bitPattern)
                #expect(ids[a.candidate] == p.catalog.id(of: a.item))
            }
            checked += 1
        }
        #expect(checked >= 5)
    }

    @Test func anUnknownItemIsScoredFromItsIdAloneAsAnEventForItWouldBe() throws {
        let spec = try PipelineSpec.parse(yaml: CandidateScoringTests.spec)
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        PipelineStepTests.feed(&p, CandidateScoringTests.stream(events: 800, seed: 9), &sink)
        let view = p.servingView(takenAt: 1)
        // Reference: the row of a click on the new item, no item-side context.
        let line = #"{"event_id":"x","type":"click","user_id":"u3","item_id":"brand-new","ts":1000,"context":{"age":30,"tags":["x"]}}"#
        let reference = Array(line.utf8).withUnsafeBytes { bytes -> Double in
            let event = try! p.decoder.decode(bytes)
            p.featurizer.extract(event)
            return sigmoid(p.model.margin(p.featurizer.emit()))
        }
        var ranker = Ranker(spec: spec)
        var positions: [RankedPosition] = [], pool: [Int32] = []
        // Item-side context in the request (genres, price) is not the new item's: left out.
        let query = Self.query(
            user: "u3", context: [("age", "30"), ("tags", #"["x"]"#), ("genres", #"["Drama"]"#), ("price", "9.5")],
            candidates: ["brand-new"], k: 1)
        try ranker.rank(query, view: view, policy: .none, into: &positions, pool: &pool)
        #expect(positions.count == 1 && positions[0].item == -1)
        #expect(positions[0].score.bitPattern == reference.bitPattern)
    }

    @Test func aViewKeepsItsScoresWhileThePipelineLearns() throws {
        let spec = try PipelineSpec.parse(yaml: CandidateScoringTests.spec(model: CandidateScoringTests.models[1]))
        var p = Pipeline(spec: spec)
        var sink = PipelineStepTests.RecordingSink()
        let lines = CandidateScoringTests.stream(events: 3000, seed: 4)
        PipelineStepTests.feed(&p, Array(lines.prefix(1500)), &sink)
        let old = p.servingView(takenAt: 1)
        var ranker = Ranker(spec: spec)
        var before: [RankedPosition] = [], after: [RankedPosition] = [], pool: [Int32] = []
        let query = Self.query(user: "u7", context: [("age", "41")], candidates: nil, k: 50)
        try ranker.rank(query, view: old, policy: .none, into: &before, pool: &pool)
        PipelineStepTests.feed(&p, Array(lines.suffix(1500)), &sink)
        try ranker.rank(query, view: p.servingView(takenAt: 2), policy: .none, into: &after, pool: &pool)
        #expect(before.map(\.score) != after.map(\.score))  // the model moved on…
        try ranker.rank(query, view: old, policy: .none, into: &after, pool: &pool)
        #expect(before.map(\.score) == after.map(\.score) && before.map(\.item) == after.map(\.item))  // …the view did not
        #expect(old.model.version < p.model.version)
    }

    @Test func aContextTheDecoderRefusesIsARankError() throws {
        let spec = try PipelineSpec.parse(yaml: CandidateScoringTests.spec)
        var ranker = Ranker(spec: spec)
        var positions: [RankedPosition] = [], pool: [Int32] = []
        let view = Pipeline(spec: spec).servingView(takenAt: 1)
        do {
            try ranker.rank(Self.query(user: "u1", context: [("tags", "[1]")], candidates: ["a"], k: 1), view: view, policy: .none, into: &positions, pool: &pool)
            Issue.record("a number in a context array of strings was accepted")
        } catch {
            #expect(error.reason.contains("tags") && error.reason.contains("bad_context") && !error.reason.contains(" at byte "), "\(error.reason)")
        }
        // An empty catalog and no candidates: an empty ranking.
        try ranker.rank(Self.query(user: "u1", context: [], candidates: nil, k: 3), view: view, policy: .none, into: &positions, pool: &pool)
        #expect(positions.isEmpty)
    }
}
