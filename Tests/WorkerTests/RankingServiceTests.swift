import Foundation
import Learning
import Pipelines
import Testing
@testable import Worker

/// The ranking API's routes on a real HTTP server in this process, without a broker (no decision log): 503 until
/// the loop published a view, then answers whose scores are the ranker's on that view.
@Suite struct RankingServiceTests {
    @Test func answers503UntilAViewExistsThenTheRankersScores() async throws {
        let spec = try PipelineSpec.parse(yaml: ServingViewConcurrencyTests.spec)
        let view = ServingView(intervalMs: 0)
        let service = RankingService(spec: spec, view: view, producer: nil, logger: WorkerTestEnvironment.quietLogger)
        let body = #"{"user_id":"u1","context":{"age":30},"candidates":["m3","m6","m9","unseen"],"k":4}"#
        try await InProcessHTTPServer.with(jsonErrors: true, routes: service.register(on:)) { port in
            let client = RankingAPIClient(port: port)
            let before = try await offThePool { try client.post("/v1/rank", body) }
            #expect(before.status == 503 && RankingAPIClient.object(before)?["error"] as? String == "the model is not loaded yet")
            // The loop's part: learn a stream and publish a view (on a thread of its own, as the worker does).
            let published = try await offThePool { () -> ModelView? in
                var pipeline = Pipeline(spec: spec)
                var sink = NullSink()
                for line in ServingViewConcurrencyTests.stream(events: 3000) { line.withUnsafeBytes { pipeline.process($0, sink: &sink) } }
                view.offer(pipeline, now: 1)
                return view.view
            }
            let current = try #require(published)
            let answer = try await offThePool { try client.post("/v1/rank", body) }
            try #require(answer.status == 200, "\(answer.body)")
            let json = try #require(RankingAPIClient.object(answer))
            let items = try #require(json["items"] as? [[String: Any]])
            #expect(json["model_version"] as? Int == Int(current.model.version) && json["policy"] as? String == "greedy")
            // The same query through a ranker of the test's own, on the same view.
            var ranker = Ranker(spec: spec)
            var query = RankQuery(), positions: [RankedPosition] = [], pool: [Int32] = []
            try RankRequestParser.parse(Array(body.utf8), maxCandidates: 100, defaultK: 10, into: &query)
            try ranker.rank(query, view: current, policy: .none, into: &positions, pool: &pool)
            let ids = ["m3", "m6", "m9", "unseen"]
            #expect(items.map { $0["item_id"] as! String } == positions.map { ids[$0.candidate] })
            #expect(items.map { Float($0["score"] as! Double) } == positions.map { Float($0.score) })
            #expect(items.allSatisfy { $0["propensity"] as? Double == 1 })
            #expect(items.filter { $0["unknown"] as? Bool == true }.map { $0["item_id"] as! String } == ["unseen"])
            let pooled = try await offThePool { try client.get("/v1/users/u1/recommendations?k=3") }
            #expect(pooled.status == 200 && (RankingAPIClient.object(pooled)?["items"] as? [Any])?.count == 3, "\(pooled.body)")
        }
    }
}
