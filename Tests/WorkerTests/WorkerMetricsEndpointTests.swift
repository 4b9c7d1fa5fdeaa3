import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension WorkerIntegrationTests {
    /// The Prometheus endpoint of a running worker reports what it did: events, dead letters, checkpoints and their
    /// duration, model version, lag, and the event → score delay, in the text exposition format.
    @Test func metricsEndpointReportsWhatTheRunningWorkerDid() async throws {
        let scenario = try WorkerScenario("metrics")
        var lines = try WorkerTestEnvironment.eventLines(3_000)
        lines.insert(Array(#"{"type":"click"}"#.utf8), at: 1_500)  // one dead letter
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(lines)

        let worker = try scenario.startWorker(run: "worker", group: "g", checkpoints: "checkpoints", exitWhenIdle: nil)
        var port = 0
        try await worker.waitForLog("the metrics address", timeout: .seconds(60)) { log in
            guard let range = log.range(of: "metrics on http://127.0.0.1:") else { return false }
            port = Int(log[range.upperBound...].prefix { $0.isNumber }) ?? 0
            return port > 0
        }
        try await worker.waitForProgress(atLeast: lines.count, timeout: .seconds(120))
        // The lag gauge is set with the progress line; one more second makes sure it reflects the end of the input.
        try await Task.sleep(for: .seconds(2))
        let text = try Self.httpGet(port: port, path: "/metrics")
        let health = try Self.httpGet(port: port, path: "/healthz")
        worker.send(SIGTERM)
        let termination = try await worker.waitForExit(timeout: .seconds(60))
        try #require(termination == .exited(0), "\(termination)\n\(worker.logTail())")

        func value(_ name: String) -> Double? {
            for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
                return line.split(separator: " ").last.flatMap { Double($0) }
            }
            return nil
        }
        #expect(value("feedloop_events_total") == Double(lines.count), "\(text)")
        #expect(value("feedloop_dead_letters_total") == 1)
        #expect((value("feedloop_checkpoints_total") ?? 0) >= 1, "a checkpoint after the batches that passed 1000 events")
        #expect((value("feedloop_checkpoint_seconds_count") ?? 0) == value("feedloop_checkpoints_total"))
        #expect((value("feedloop_checkpoint_seconds_sum") ?? -1) > 0)
        #expect((value("feedloop_model_version") ?? 0) > 0)
        #expect(value("feedloop_consumer_lag") == 0)
        #expect((value("feedloop_progressive_auc") ?? 0) > 0.5)
        // Every score refresh records its delay from the input message's Kafka timestamp.
        let scraped = try #require(value("feedloop_event_to_score_seconds_count"), "\(text)")
        let summary = try scenario.summary("worker")
        #expect(scraped > 0 && scraped <= Double(summary.published.scores))
        #expect((value("feedloop_event_to_score_delivered_seconds_count") ?? 0) > 0, "\(text)")
        #expect(text.contains("# TYPE feedloop_events_total counter"))
        // The catalog's fill, and the loop's liveness (it turns at least every 100 ms while idle).
        #expect((value("feedloop_catalog_items") ?? 0) > 0, "\(text)")
        #expect(value("feedloop_catalog_refused_items") == 0, "\(text)")
        // The label join: nothing forced out by overflow, and every purchase had its click pending.
        #expect(value("feedloop_pending_examples") != nil, "\(text)")
        #expect(value("feedloop_label_overflow_negatives") == 0, "\(text)")
        #expect(value("feedloop_unattributed_feedback") == 0, "\(text)")
        #expect(health.hasSuffix("\r\n\r\nok\n"), "\(health)")
        // The exit summary has the same refreshes' delays: inside the worker and from the event's timestamp.
        let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scenario.summaryPath("worker")))) as? [String: Any]
        let delays = try #require(raw?["score_delay"] as? [String: [String: Any]], "no score_delay in the summary")
        let inWorker = try #require(delays["in_worker"]), fromEvent = try #require(delays["from_event_timestamp"])
        #expect(inWorker["count"] as? Int == summary.published.scores)
        #expect(fromEvent["count"] as? Int == summary.published.scores)
        // Every score's delivery report (served before the final checkpoint) records event → score delivered; per
        // message that is at or after the hand-over to the producer, so each quantile is too.
        let delivered = try #require(delays["delivered_from_event_timestamp"])
        #expect(delivered["count"] as? Int == summary.published.scores)
        for q in ["p50_ms", "p99_ms", "max_ms"] {
            let handed = try #require(fromEvent[q] as? Double), acked = try #require(delivered[q] as? Double)
            #expect(acked >= handed, "\(q): delivered \(acked) ms before handed over \(handed) ms")
        }
        let p50 = try #require(inWorker["p50_ms"] as? Double), p99 = try #require(inWorker["p99_ms"] as? Double)
        let worst = try #require(inWorker["max_ms"] as? Double)
        #expect(0 < p50 && p50 <= p99 && p99 <= worst)
    }

    /// A metrics port already taken ends the worker with exit status 1 at once, before the worker starts (no
    /// "starting worker" line: it waits for the HTTP server to listen).
    @Test func aMetricsPortInUseEndsTheProcessWithExit1BeforeTheWorkerStarts() async throws {
        let scenario = try WorkerScenario("metrics-port-in-use")
        // A listening socket of this test holds the port.
        let holder = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(holder >= 0)
        defer { close(holder) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(holder, $0, length) == 0 && getsockname(holder, $0, &length) == 0 }
        }
        try #require(bound && listen(holder, 1) == 0)
        let port = Int(UInt16(bigEndian: address.sin_port))

        let worker = try ChildProcess(
            name: "worker on a taken port", executable: scenario.binary,
            arguments: ["worker", "--pipeline", scenario.pipelinePath, "--brokers", scenario.brokers,
                        "--checkpoint-dir", scenario.path("checkpoints"), "--metrics-port", String(port)],
            logPath: scenario.path("worker.log"))
        let termination = try await worker.waitForExit(timeout: .seconds(30))
        #expect(termination == .exited(1), "\(termination)\n\(worker.logTail())")
        #expect(worker.log().contains("Address already in use"), "\(worker.logTail())")
        #expect(!worker.log().contains("starting worker"), "\(worker.logTail())")
    }

    /// A GET on 127.0.0.1 (the test needs no HTTP client library); requires status 200.
    static func httpGet(port: Int, path: String) throws -> String {
        let text = try httpGetAnyStatus(port: port, path: path)
        try #require(text.hasPrefix("HTTP/1.") && text.contains(" 200 "), "response: \(text.prefix(200))")
        return text
    }

    /// The whole response (status line, headers, body) of a GET on 127.0.0.1, on a connection of its own that asks
    /// the server to close it after the response. Blocks: call it on a server in another process.
    static func httpGetAnyStatus(port: Int, path: String) throws -> String {
        let connection = try RawHTTPConnection(port: port)
        try connection.send("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        let (closed, response) = connection.readUntilClosed()
        try #require(closed, "the server did not close the connection after its response")
        return String(decoding: response, as: UTF8.self)
    }
}
