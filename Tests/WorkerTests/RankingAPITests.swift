import Foundation
import Kafka
import Learning
import Testing

/// The ranking API of a real worker against the real broker: answers from the live model with the pipeline's
/// exploration policy, every ranking in the decision log exactly as docs/serving.md specifies it, JSON 4xx with a
/// reason for every request it refuses, and 10,000 random and malformed bodies that never crash it or stop it
/// learning.
@Suite(.serialized) struct RankingAPITests {
    /// movielens-ftrl with ε-greedy exploration, the test's rankings topic and views every 100 ms.
    static func scenario(_ purpose: String) throws -> (WorkerScenario, rankingsTopic: String) {
        let rankings = "wt-\(WorkerTestEnvironment.runID)-\(purpose)-rankings"
        let scenario = try WorkerScenario(purpose) { yaml in
            yaml + """

                serving:
                  exploration: {type: epsilon_greedy, epsilon: 0.1}
                  rankings_topic: \(rankings)
                  snapshot_interval: 100ms
                  max_candidates: 200
                """
        }
        return (scenario, rankings)
    }

    static let validBody = #"{"user_id":"259","context":{"gender":"M","age":21,"occupation":"student"},"candidates":["50","181","100","nope-1"],"k":3}"#

    @Test func ranksFromTheLiveModelAndLogsEveryDecisionExactly() async throws {
        let (scenario, rankingsTopic) = try Self.scenario("ranking-api")
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(try WorkerTestEnvironment.eventLines(20_000))
        let worker = try scenario.startWorker(
            run: "serve", group: "g", checkpoints: "ckpt", exitWhenIdle: nil,
            extraArguments: ["--serve-port", "0", "--serve-max-body", "4096"])
        let port = try await worker.servePort()
        try await worker.waitForProgress(atLeast: 20_000, timeout: .seconds(120))
        try await Task.sleep(for: .milliseconds(300))  // a view of the whole stream (100 ms interval)
        let client = RankingAPIClient(port: port)

        // Answers.
        var answers: [[String: Any]] = []
        for _ in 0..<20 {
            let r = try await offThePool { try client.post("/v1/rank", Self.validBody) }
            try #require(r.status == 200, "\(r.status) \(r.body)")
            #expect(r.headers["content-type"] == "application/json")
            answers.append(try #require(RankingAPIClient.object(r)))
        }
        for answer in answers {
            let items = try #require(answer["items"] as? [[String: Any]])
            #expect(items.count == 3)
            #expect(Set(items.map { $0["item_id"] as! String }).isSubset(of: ["50", "181", "100", "nope-1"]))
            for item in items {
                let score = try #require(item["score"] as? Double), propensity = try #require(item["propensity"] as? Double)
                #expect(score > 0 && score < 1 && propensity > 0 && propensity <= 1)
                #expect((item["unknown"] as? Bool == true) == (item["item_id"] as? String == "nope-1"))
            }
            #expect(answer["policy"] as? String == "epsilon_greedy(0.1)")
            #expect((answer["model_version"] as? Int ?? 0) > 10_000)
        }
        // The greedy first item is the best known one most of the time: 1 − ε + ε/4.
        let firsts = answers.map { ($0["items"] as! [[String: Any]])[0] }
        let best = Dictionary(grouping: firsts, by: { $0["item_id"] as! String }).max { $0.value.count < $1.value.count }!
        #expect(best.value.count >= 12)
        #expect(abs((best.value[0]["propensity"] as! Double) - (0.9 + 0.1 / 4)) < 1e-6)
        let recommendations = try await offThePool { try client.get("/v1/users/259/recommendations?k=5") }
        try #require(recommendations.status == 200, "\(recommendations.body)")
        let recommended = try #require(RankingAPIClient.object(recommendations))
        #expect((recommended["items"] as? [[String: Any]])?.count == 5)

        // The decision log: one message per ranking, key = user id, exactly the documented fields.
        let logged = try scenario.readAll(rankingsTopic, expected: 21)
        #expect(logged.count == 21)
        let ids = Set(answers.map { $0["ranking_id"] as! String } + [recommended["ranking_id"] as! String])
        for message in logged {
            #expect(message.key.map { String(decoding: $0, as: UTF8.self) } == "259")
            let entry = try #require((try? JSONSerialization.jsonObject(with: Data(message.value ?? []))) as? [String: Any], "\(message.text)")
            #expect(Set(entry.keys) == ["schema", "ranking_id", "ts", "user_id", "context", "candidates", "items", "policy", "pipeline", "model_version"])
            #expect(entry["schema"] as? Int == 1 && entry["user_id"] as? String == "259")
            #expect(ids.contains(entry["ranking_id"] as? String ?? ""))
            #expect(entry["pipeline"] as? String == "movielens-ftrl" && entry["policy"] as? String == "epsilon_greedy(0.1)")
            #expect(abs((entry["ts"] as? Double ?? 0) / 1000 - Date().timeIntervalSince1970) < 600)
            let items = try #require(entry["items"] as? [[String: Any]])
            for item in items { #expect(Set(item.keys) == ["item_id", "score", "propensity"]) }
            if let answer = answers.first(where: { $0["ranking_id"] as? String == entry["ranking_id"] as? String }) {
                #expect(entry["candidates"] as? [String] == ["50", "181", "100", "nope-1"])
                #expect((entry["context"] as? [String: Any])?["occupation"] as? String == "student")
                let answered = (answer["items"] as! [[String: Any]]).map { [$0["item_id"] as! String, "\($0["score"]!)", "\($0["propensity"]!)"] }
                #expect(items.map { [$0["item_id"] as! String, "\($0["score"]!)", "\($0["propensity"]!)"] } == answered)
            } else {
                #expect((entry["candidates"] as? [String])?.count ?? 0 >= 5)  // the pool
                #expect(items.count == 5)
            }
        }

        // Refusals: JSON 4xx with a reason.
        let many = "[" + (0..<201).map { "\"i\($0)\"" }.joined(separator: ",") + "]"
        let refusals: [(path: String, body: String?, status: Int, reason: String)] = [
            ("/v1/rank", #"{"user_id":"1","#, 400, "malformed JSON"),
            ("/v1/rank", #"{"user_id":"1"} x"#, 400, "unexpected data after the object"),
            ("/v1/rank", #"["user_id"]"#, 400, "expected a JSON object"),
            ("/v1/rank", #"{"user_id":"1","device":"tv"}"#, 400, "unknown field 'device'"),
            ("/v1/rank", #"{"user_id":"1","user_id":"2"}"#, 400, "appears twice"),
            ("/v1/rank", #"{"context":{}}"#, 400, "user_id: missing"),
            ("/v1/rank", #"{"user_id":7}"#, 400, "user_id: expected a string"),
            ("/v1/rank", #"{"user_id":"1","candidates":[]}"#, 400, "candidates: empty list"),
            ("/v1/rank", #"{"user_id":"1","candidates":\#(many)}"#, 400, "more than 200"),
            ("/v1/rank", #"{"user_id":"1","candidates":["a",1]}"#, 400, "expected a string item id"),
            ("/v1/rank", #"{"user_id":"1","candidates":["a","a"]}"#, 400, "candidates[1]: 'a' appears twice"),
            ("/v1/rank", #"{"user_id":"1","candidates":["50","181","50"]}"#, 400, "candidates[2]: '50' appears twice"),
            ("/v1/rank", #"{"user_id":"1","k":0}"#, 400, "k: expected an integer in 1...1000"),
            ("/v1/rank", #"{"user_id":"1","k":1001}"#, 400, "k: expected an integer"),
            ("/v1/rank", #"{"user_id":"1","k":2.5}"#, 400, "k: expected an integer"),
            ("/v1/rank", #"{"user_id":"1","k":"3"}"#, 400, "malformed JSON"),
            ("/v1/rank", #"{"user_id":"1","context":{"genres":[1]}}"#, 400, "genres"),
            ("/v1/rank", #"{"user_id":"1","context":"#.padding(toLength: 5000, withPad: " ", startingAt: 0) + "{}}", 413, "request body over 4096 bytes"),
            ("/v1/users/259/recommendations?k=0", nil, 400, "k: expected an integer"),
            ("/v1/users/259/recommendations?k=3&x=1", nil, 400, "unknown query parameter 'x'"),
            ("/v1/users/259/recommendation", nil, 404, "no such endpoint"),
            ("/v1/rank", nil, 404, "no such endpoint"),
        ]
        for refusal in refusals {
            let r = try await offThePool { try refusal.body.map { try client.post(refusal.path, $0) } ?? client.get(refusal.path) }
            #expect(r.status == refusal.status, "\(refusal.path) \(refusal.body ?? ""): \(r.status) \(r.body)")
            #expect(r.headers["content-type"] == "application/json", "\(refusal.path): \(r.headers)")
            let reason = RankingAPIClient.object(r)?["error"] as? String ?? ""
            #expect(reason.contains(refusal.reason), "\(refusal.body ?? refusal.path): \(r.body)")
        }
        worker.send(SIGTERM)
        #expect(try await worker.waitForExit(timeout: .seconds(60)) == .exited(0), "\(worker.logTail())")
    }

    @Test func tenThousandRandomAndMalformedBodiesGetJSONAnswersWhileTheWorkerLearns() async throws {
        let (scenario, _) = try Self.scenario("ranking-fuzz")
        try await scenario.createTopics(partitions: 1)
        let lines = try WorkerTestEnvironment.eventLines(60_000)
        _ = try scenario.produce(Array(lines.prefix(10_000)))
        let worker = try scenario.startWorker(
            run: "fuzz", group: "g", checkpoints: "ckpt", exitWhenIdle: nil, extraArguments: ["--serve-port", "0", "--serve-max-body", "8192"])
        let port = try await worker.servePort()
        try await worker.waitForProgress(atLeast: 10_000, timeout: .seconds(120))
        // The rest of the stream arrives while the requests do.
        let producing = Task { try await offThePool { try scenario.produce(Array(lines.suffix(50_000))) } }
        let client = RankingAPIClient(port: port)
        let outcome = try await offThePool { () -> (statuses: [Int: Int], bad: [String]) in
            var rng = SplitMix64(seed: 20261206)
            var statuses: [Int: Int] = [:], bad: [String] = []
            for n in 0..<10_000 {
                let body = FuzzBodies.next(&rng, n)
                let r = try client.post("/v1/rank", body)
                statuses[r.status, default: 0] += 1
                let json = RankingAPIClient.object(r)
                let ok = (200..<300).contains(r.status) ? json?["items"] != nil : (400..<500).contains(r.status) && json?["error"] is String
                if !ok || r.headers["content-type"] != "application/json", bad.count < 5 {
                    bad.append("\(r.status) \(r.body.prefix(200)) for \(String(decoding: body.prefix(200), as: UTF8.self))")
                }
            }
            return (statuses, bad)
        }
        _ = try await producing.value
        #expect(outcome.bad.isEmpty, "\(outcome.bad)")
        #expect(outcome.statuses.values.reduce(0, +) == 10_000)
        #expect((outcome.statuses[200] ?? 0) >= 500 && (outcome.statuses[400] ?? 0) >= 5_000, "\(outcome.statuses)")
        // It kept learning: the whole stream gets in, and it still answers.
        try await worker.waitForProgress(atLeast: 60_000, timeout: .seconds(120))
        let after = try await offThePool { try client.post("/v1/rank", Self.validBody) }
        #expect(after.status == 200, "\(after.body)")
        worker.send(SIGTERM)
        #expect(try await worker.waitForExit(timeout: .seconds(60)) == .exited(0), "\(worker.logTail())")
    }
}

/// Request bodies for the fuzz test: valid ones, mutations of valid ones (flipped, inserted, deleted bytes,
/// truncations), random bytes, random JSON of the wrong shape, deep nesting, odd numbers and escapes.
enum FuzzBodies {
    static let seeds = [
        RankingAPITests.validBody,
        #"{"user_id":"42","k":5}"#,
        #"{"user_id":"7","context":{"gender":"F","age":35,"genres":["Drama"]},"candidates":["1","2","3"]}"#,
        #"{"user_id":"\u00e9\ud83d\ude00","context":{"occupation":"x\n\"y"},"candidates":["a\u0000b","c"],"k":1}"#,
    ]
    static let fragments = ["{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud800", "null", "true", "-", "0", "1e999", "-0.0e-5",
                            "\u{0}", "\u{7f}", "\u{ff}", "\"k\":", "\"user_id\":", "\"candidates\":[", "\"context\":{", "é", "😀"]

    static func next(_ rng: inout SplitMix64, _ n: Int) -> [UInt8] {
        var body = Array(seeds[Int.random(in: 0..<seeds.count, using: &rng)].utf8)
        switch n % 8 {
        case 0:
            return body  // valid
        case 1:  // flipped bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                body[Int.random(in: 0..<body.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        case 2:  // truncated
            body = Array(body.prefix(Int.random(in: 0..<body.count, using: &rng)))
        case 3:  // inserted fragments
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let f = Array(fragments[Int.random(in: 0..<fragments.count, using: &rng)].utf8)
                body.insert(contentsOf: f, at: Int.random(in: 0...body.count, using: &rng))
            }
        case 4:  // random bytes
            body = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 5:  // deep nesting
            let depth = Int.random(in: 1...3000, using: &rng)
            let open = Bool.random(using: &rng) ? "[" : "{\"a\":"
            body = Array((#"{"user_id":"1","context":{"x":"# + String(repeating: open, count: depth)).utf8)
        case 6:  // a field of the wrong type or value
            let values = ["null", "true", "-1", "1e3", "0.5", "\"\"", "[]", "{}", "[\"\"]", "99999999999999999999", "\"\\u0000\""]
            let fields = ["user_id", "context", "candidates", "k", "other"]
            body = Array(#"{"user_id":"1","\#(fields.randomElement(using: &rng)!)":\#(values.randomElement(using: &rng)!)}"#.utf8)
        default:  // deleted bytes
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !body.isEmpty {
                body.remove(at: Int.random(in: 0..<body.count, using: &rng))
            }
        }
        return body
    }
}
