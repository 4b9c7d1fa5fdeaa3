import Foundation
import Kafka
import Testing

/// Rewards close the loop through a real worker and the real broker (`serving.learn_from_rankings`): rankings
/// served by the API are read back from the decision log as pending examples, clicks carrying the returned
/// `ranking_id` label the clicked item's example positive, the other shown items expire negative, and a click
/// naming a ranking nobody served is counted.
@Suite(.serialized) struct RankingRewardsTests {
    /// movielens-ftrl with impressions as the examples, clicks and purchases as the rewards, the given attribution
    /// window, learning from the test's rankings topic.
    static func scenario(_ purpose: String, window: String) throws -> (WorkerScenario, rankingsTopic: String) {
        let rankings = "wt-\(WorkerTestEnvironment.runID)-\(purpose)-rankings"
        let scenario = try WorkerScenario(purpose) { yaml in
            yaml.replacingOccurrences(of: "examples: {click: 1.0}", with: "examples: {view: 1.0}")
                .replacingOccurrences(of: "positives: [purchase]", with: "positives: [click, purchase]")
                .replacingOccurrences(of: "attribution_window: 0s", with: "attribution_window: \(window)")
                + """

                serving:
                  rankings_topic: \(rankings)
                  snapshot_interval: 100ms
                  learn_from_rankings: true
                """
        }
        return (scenario, rankings)
    }

    static func event(_ type: String, user: String, item: String, ts: Int64, ranking: String? = nil, position: Int? = nil) -> [UInt8] {
        Array((#"{"event_id":"\#(type)-\#(user)-\#(item)-\#(ts)","type":"\#(type)","user_id":"\#(user)","item_id":"\#(item)","ts":\#(ts),"#
            + (ranking.map { #""ranking_id":"\#($0)","# } ?? "") + (position.map { #""position":\#($0),"# } ?? "")
            + #""context":{"gender":"F","age":30,"occupation":"writer","genres":["Drama"]}}"#).utf8)
    }

    static func rank(_ client: RankingAPIClient, _ user: String) async throws -> (id: String, items: [String]) {
        let body = #"{"user_id":"\#(user)","context":{"gender":"M","age":25},"candidates":["a","b","c","d"],"k":3}"#
        let r = try await offThePool { try client.post("/v1/rank", body) }
        try #require(r.status == 200, "\(r.status) \(r.body)")
        let answer = try #require(RankingAPIClient.object(r))
        let items = try #require(answer["items"] as? [[String: Any]]).map { $0["item_id"] as! String }
        return (try #require(answer["ranking_id"] as? String), items)
    }

    static func summary(_ scenario: WorkerScenario, _ run: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scenario.summaryPath(run)))) as? [String: Any])
    }

    /// Exactly once across a crash: the pending examples of the rankings read before the last checkpoint come back
    /// with it, the decision log resumes at the checkpoint's offset (no ranking read twice), and the rewards that
    /// arrive after the crash label them.
    @Test func aWorkerKilledAfterReadingRankingsLabelsTheirRewardsAfterItsRestart() async throws {
        let (scenario, _) = try Self.scenario("rewards-crash", window: "10m")
        try await scenario.createTopics(partitions: 1)
        let t0 = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try scenario.produce(["a", "b", "c", "d"].map { Self.event("view", user: "other", item: $0, ts: t0 + 3_600_000) })
        let first = try scenario.startWorker(
            run: "first", group: "g", checkpoints: "ckpt", exitWhenIdle: nil,
            extraArguments: ["--serve-port", "0", "--checkpoint-seconds", "1"])
        let port = try await first.servePort()
        try await first.waitForProgress(atLeast: 4, timeout: .seconds(120))
        try await Task.sleep(for: .milliseconds(300))
        let client = RankingAPIClient(port: port)
        let r1 = try await Self.rank(client, "u1"), r2 = try await Self.rank(client, "u2")
        try await first.waitForLog("both rankings read", timeout: .seconds(60)) { $0.contains("ranking_examples=6") }
        // One more event, produced after the decisions were read: the checkpoint that covers it covers them.
        let before = scenario.checkpointFiles("ckpt")
        _ = try scenario.produce([Self.event("view", user: "other2", item: "a", ts: t0 + 3_600_000)])
        try await scenario.waitForNewCheckpoint(in: "ckpt", after: before, writtenBy: first, timeout: .seconds(60))
        first.send(SIGKILL)
        #expect(try await first.waitForExit(timeout: .seconds(10)) == .signalled(SIGKILL))

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try scenario.produce([
            Self.event("click", user: "u1", item: r1.items[0], ts: now, ranking: r1.id),
            Self.event("click", user: "u2", item: r2.items[2], ts: now, ranking: r2.id),
        ])
        let second = try scenario.startWorker(run: "second", group: "g", checkpoints: "ckpt", exitWhenIdle: 3)
        #expect(try await second.waitForExit(timeout: .seconds(120)) == .exited(0), "\(second.logTail())")
        #expect(second.log().contains("restored checkpoint"), "\(second.logTail())")
        let summary = try Self.summary(scenario, "second")
        func count(_ key: String) -> Int { summary[key] as? Int ?? -1 }
        #expect(count("rankings") == 2 && count("ranking_examples") == 6, "\(summary)")
        #expect(count("rewards") == 2 && count("rewards_attributed") == 2 && count("rewards_unknown_ranking") == 0, "\(summary)")
        // r1's and r2's other 4 shown items and the 5 views wait.
        #expect(count("positives") == 2 && count("pending") == 9 && count("events") == 7, "\(summary)")
    }

    @Test func clicksOnServedRankingsLabelTheirExamplesAndTheRestExpireNegative() async throws {
        let (scenario, rankings) = try Self.scenario("rewards", window: "5s")
        try await scenario.createTopics(partitions: 1)
        let t0 = Int64(Date().timeIntervalSince1970 * 1000)
        // The catalog learns the items from another user's views (pending on the events partition meanwhile: an
        // hour ahead, so that no later event closes their windows).
        _ = try scenario.produce(["a", "b", "c", "d"].map { Self.event("view", user: "other", item: $0, ts: t0 + 3_600_000) })
        let worker = try scenario.startWorker(
            run: "rewards", group: "g", checkpoints: "ckpt", exitWhenIdle: nil, extraArguments: ["--serve-port", "0"])
        let port = try await worker.servePort()
        try await worker.waitForProgress(atLeast: 4, timeout: .seconds(120))
        try await Task.sleep(for: .milliseconds(300))  // a published view
        let client = RankingAPIClient(port: port)
        func rank(_ user: String) async throws -> (id: String, items: [String]) { try await Self.rank(client, user) }
        let r1 = try await rank("u1"), r2 = try await rank("u2")
        let served = ContinuousClock.now
        #expect(r1.items.count == 3 && r2.items.count == 3)
        try await worker.waitForLog("both rankings read", timeout: .seconds(60)) { $0.contains("ranking_examples=6") }

        // Rewards: u1 clicks r1's first item, u2 r2's second; one click names a ranking nobody served.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        _ = try scenario.produce([
            Self.event("click", user: "u1", item: r1.items[0], ts: now, ranking: r1.id, position: 1),
            Self.event("click", user: "u2", item: r2.items[1], ts: now, ranking: r2.id, position: 2),
            Self.event("click", user: "u1", item: r1.items[2], ts: now, ranking: "nobody-1"),
        ])
        try await worker.waitForProgress(atLeast: 7, timeout: .seconds(60))
        // A later ranking moves the rankings partition's event time past r1's and r2's windows (5 s).
        try await Task.sleep(until: served + .milliseconds(5300))
        _ = try await rank("u3")
        try await worker.waitForLog("the third ranking read", timeout: .seconds(60)) { $0.contains("ranking_examples=9") }
        // The same counts on /metrics (gauges recorded after each batch).
        let metrics = try WorkerIntegrationTests.httpGet(port: try await worker.metricsPort(), path: "/metrics")
        func gauge(_ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + "{") || $0.hasPrefix(name + " ") }
                .flatMap { $0.split(separator: " ").last.flatMap { Double($0) } }
        }
        #expect(gauge("feedloop_rankings_read") == 3 && gauge("feedloop_ranking_examples") == 9, "\(metrics)")
        #expect(gauge("feedloop_rewards") == 3 && gauge("feedloop_rewards_attributed") == 2, "\(metrics)")
        #expect(gauge("feedloop_rewards_unknown_ranking") == 1 && gauge("feedloop_rankings_rejected") == 0, "\(metrics)")
        worker.send(SIGTERM)
        #expect(try await worker.waitForExit(timeout: .seconds(60)) == .exited(0), "\(worker.logTail())")

        let summary = try Self.summary(scenario, "rewards")
        func count(_ key: String) -> Int { summary[key] as? Int ?? -1 }
        #expect(count("rankings") == 3 && count("ranking_examples") == 9 && count("rankings_rejected") == 0)
        #expect(count("rewards") == 3 && count("rewards_attributed") == 2 && count("rewards_unknown_ranking") == 1)
        // Positives for the two rewarded items; the four other items r1 and r2 showed expired negative; r3's three
        // and the four views wait.
        #expect(count("positives") == 2 && count("expired_negatives") == 4 && count("labelled") == 6)
        #expect(count("pending") == 7)
        // The decision log is an input at its own position.
        let positions = try #require(summary["positions"] as? [[String: Any]])
        #expect(positions.contains { $0["topic"] as? String == rankings && $0["offset"] as? Int == 3 }, "\(positions)")
    }
}
