import Foundation
import Kafka
import Testing

extension WorkerIntegrationTests {
    /// Events in → scores and adjustments out, every message checked against the input that caused it.
    @Test func producedEventsComeBackAsScoresAndAdjustmentsTracedToTheirSourceEvents() async throws {
        let scenario = try WorkerScenario("roundtrip")
        let lines = try WorkerTestEnvironment.eventLines(5_000)
        try await scenario.createTopics(partitions: 1)
        let reports = try scenario.produce(lines)
        #expect(reports.map(\.offset) == (0..<Int64(lines.count)).map { $0 }, "one partition, offsets in input order")

        let summary = try await scenario.runWorkerToCompletion(run: "worker", group: "g", checkpoints: "checkpoints")
        #expect(summary.events == lines.count)
        #expect(summary.rejected == 0 && summary.rejectedByReason.isEmpty)
        #expect(summary.examples == EventLine.clickCount(lines))
        #expect(summary.positions == [.init(topic: scenario.inputTopic, partition: 0, offset: Int64(lines.count))])
        #expect(summary.published.deadLetters == 0)
        try #require(summary.published.scores > 0 && summary.published.adjustments > 0)

        // The worker's model is the pipeline's model over the same events (same code offline and online).
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines)
        #expect(try scenario.snapshot("worker") == reference.snapshot, "worker snapshot differs from the in-process pipeline")
        #expect(summary.modelVersion == Int(reference.counters.labelled))

        let events = lines.compactMap(EventLine.object)
        try #require(events.count == lines.count)
        let items = Set(events.compactMap { $0["item_id"] as? String })

        // scores: key = user id; the user's top-K items, best first, probabilities in (0, 1), traced to the event.
        let scores = try scenario.readAll(scenario.scoresTopic, expected: summary.published.scores)
        #expect(scores.count == summary.published.scores)
        var scoredUsers: Set<String> = []
        var coalescedRefreshes = 0
        var refreshesAfterPurchase = 0
        for message in scores {
            let json = try #require(EventLine.object(message.value ?? []), "scores value is not JSON: \(message.text)")
            let key = String(decoding: message.key ?? [], as: UTF8.self)
            #expect(json["schema"] as? Int == 1)
            #expect(json["user_id"] as? String == key)
            #expect(json["pipeline"] as? String == "movielens-ftrl")
            #expect(json["model_version"] is Int)
            let source = try #require(json["source"] as? [String: Any], "no source: \(message.text)")
            #expect(source["topic"] as? String == scenario.inputTopic && source["partition"] as? Int == 0)
            let offset = try #require(source["offset"] as? Int)
            try #require(offset >= 0 && offset < events.count, "source offset \(offset) out of range")
            #expect(events[offset]["user_id"] as? String == key, "the event at the source offset is another user's")
            // One refresh per user run: it covers the events first_offset...offset, all of them this user's.
            let first = try #require(source["first_offset"] as? Int, "no first_offset: \(message.text)")
            try #require(first <= offset)
            #expect(events[first...offset].allSatisfy { $0["user_id"] as? String == key }, "refresh spans another user's event")
            if first < offset { coalescedRefreshes += 1 }
            // What the user bought in the run is not recommended back (suppress_item went out for it).
            let bought = Set(events[first...offset].filter { $0["type"] as? String == "purchase" }.compactMap { $0["item_id"] as? String })
            let recommended = (json["items"] as? [[String: Any]] ?? []).compactMap { $0["item_id"] as? String }
            #expect(bought.isDisjoint(with: recommended), "user \(key) bought \(bought) in the run, recommended \(recommended)")
            if !bought.isEmpty { refreshesAfterPurchase += 1 }
            #expect((source["ts"] as? Int64) == (events[offset]["ts"] as? Int64))
            let ranked = try #require(json["items"] as? [[String: Any]], "no items: \(message.text)")
            #expect(!ranked.isEmpty && ranked.count <= 10)
            let probabilities = ranked.compactMap { $0["score"] as? Double }
            #expect(probabilities.count == ranked.count)
            #expect(probabilities.allSatisfy { $0 > 0 && $0 < 1 }, "scores outside (0, 1): \(probabilities)")
            #expect(probabilities == probabilities.sorted(by: >), "items not sorted by score: \(probabilities)")
            let ids = ranked.compactMap { $0["item_id"] as? String }
            #expect(ids.count == ranked.count && Set(ids).count == ids.count && Set(ids).isSubset(of: items))
            scoredUsers.insert(key)
        }
        #expect(coalescedRefreshes > 0, "no refresh covered more than one event of its user's run")
        #expect(refreshesAfterPurchase > 0, "no refresh followed a purchase: the exclusion went untested")
        // --refresh-interval 1h: at most one refresh per user per hour of event time.
        var refreshTimes: [String: [Int64]] = [:]
        for message in scores {
            guard let json = EventLine.object(message.value ?? []), let user = json["user_id"] as? String,
                  let ts = (json["source"] as? [String: Any])?["ts"] as? Int64 else { continue }
            refreshTimes[user, default: []].append(ts)
        }
        #expect(Set(refreshTimes.keys) == scoredUsers)
        for (user, times) in refreshTimes {
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            #expect(gaps.allSatisfy { $0 >= 3_600_000 }, "user \(user) refreshed less than 1 h (event time) apart: \(times)")
        }

        // adjustments: item_bias (key = item id) per item whose bias moved in a poll batch, suppress_item (key = user
        // id) per purchase.
        let adjustments = try scenario.readAll(scenario.adjustmentsTopic, expected: summary.published.adjustments)
        #expect(adjustments.count == summary.published.adjustments)
        var kinds: [String: Int] = [:]
        var biasUpdates = 0
        for message in adjustments {
            let json = try #require(EventLine.object(message.value ?? []), "adjustments value is not JSON: \(message.text)")
            let key = String(decoding: message.key ?? [], as: UTF8.self)
            let kind = try #require(json["kind"] as? String)
            kinds[kind, default: 0] += 1
            #expect(json["schema"] as? Int == 1)
            let source = try #require(json["source"] as? [String: Any])
            let offset = try #require(source["offset"] as? Int)
            try #require(offset >= 0 && offset < events.count)
            switch kind {
            case "item_bias":
                #expect(json["item_id"] as? String == key && items.contains(key))
                let old = try #require(json["old"] as? Double), new = try #require(json["new"] as? Double)
                #expect(old != new && old.isFinite && new.isFinite)
                #expect(json["label"] is Bool)
                let updates = try #require(json["updates"] as? Int), positives = try #require(json["positives"] as? Int)
                #expect(updates >= 1 && positives >= 0 && positives <= updates)
                #expect(json["reason"] as? String != nil && json["predicted"] is Double)
                biasUpdates += updates
            case "suppress_item":
                #expect(json["user_id"] as? String == key)
                #expect(events[offset]["type"] as? String == "purchase")
                #expect(events[offset]["user_id"] as? String == key)
                #expect(events[offset]["item_id"] as? String == json["item_id"] as? String)
            default:
                Issue.record("unknown adjustment kind \(kind): \(message.text)")
            }
        }
        let purchases = events.filter { $0["type"] as? String == "purchase" }.count
        #expect(kinds["suppress_item"] == purchases)
        #expect((kinds["item_bias"] ?? 0) > 0)
        // Coalesced: fewer messages than updates, and no update counted twice.
        #expect(biasUpdates <= summary.labelled && (kinds["item_bias"] ?? 0) < biasUpdates)
    }
}
