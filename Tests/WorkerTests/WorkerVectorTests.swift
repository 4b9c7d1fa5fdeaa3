import Foundation
import Kafka
import Testing

extension WorkerIntegrationTests {
    /// `outputs.vectors: on` (two-tower MF): every score refresh comes with the user's tower, and every item that
    /// learned in a poll batch with its tower, on the adjustments topic, keyed and traced like the other messages.
    @Test func mfWorkerPublishesUserAndItemTowers() async throws {
        let scenario = try WorkerScenario("vectors", template: "pipelines/movielens-mf.yaml") { yaml in
            yaml.replacingOccurrences(
                of: "outputs:\n",
                with: "outputs:\n  scores_topic: scores\n  adjustments_topic: adjustments\n  dlq_topic: events.dlq\n  vectors: on\n")
        }
        let lines = try WorkerTestEnvironment.eventLines(3_000)
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(lines)
        let summary = try await scenario.runWorkerToCompletion(run: "worker", group: "g", checkpoints: "checkpoints")
        #expect(summary.events == lines.count)
        try #require(summary.published.scores > 0)
        // The model is the pipeline's over the same events: publishing towers reads the model, never changes it.
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines)
        #expect(try scenario.snapshot("worker") == reference.snapshot)

        let events = lines.compactMap(EventLine.object)
        let items = Set(events.compactMap { $0["item_id"] as? String })
        let adjustments = try scenario.readAll(scenario.adjustmentsTopic, expected: summary.published.adjustments)
        var users = 0, itemVectors = 0, nonZero = 0
        for message in adjustments {
            let json = try #require(EventLine.object(message.value ?? []), "not JSON: \(message.text)")
            let key = String(decoding: message.key ?? [], as: UTF8.self)
            guard let kind = json["kind"] as? String, kind == "user_vector" || kind == "item_vector" else { continue }
            #expect(json["schema"] as? Int == 1 && json["pipeline"] as? String == "movielens-mf")
            let vector = try #require(json["vector"] as? [Double], "no vector: \(message.text)")
            #expect(vector.count == 16 && vector.allSatisfy(\.isFinite), "\(message.text)")
            #expect((json["linear"] as? Double)?.isFinite == true, "\(message.text)")
            if vector.contains(where: { $0 != 0 }) { nonZero += 1 }
            let source = try #require(json["source"] as? [String: Any])
            let offset = try #require(source["offset"] as? Int)
            try #require(offset >= 0 && offset < events.count)
            if kind == "user_vector" {
                users += 1
                #expect(json["user_id"] as? String == key)
                #expect(events[offset]["user_id"] as? String == key, "user_vector traced to another user's event")
            } else {
                itemVectors += 1
                #expect(json["item_id"] as? String == key && items.contains(key))
                #expect((json["updates"] as? Int ?? 0) >= 1)
            }
        }
        #expect(users == summary.published.scores, "one user_vector per score refresh")
        #expect(itemVectors > 0)
        #expect(nonZero == users + itemVectors, "a tower of all zeros")
    }
}
