import Foundation
import Events
import Kafka
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Faults from outside the process, as an operator meets them: messages far larger than any producer limit, a
/// fetch that stops answering, a SIGTERM while the broker is gone. None of them may stop the worker for good,
/// hide from `/healthz`, hang its shutdown, or lose or double-apply an event.
extension WorkerIntegrationTests {
    /// Messages of ~1 MB (just under the producer's 1,000,000-byte limit, over it with the dead letter's headers),
    /// 3 MB and 10 MB among good events: each gets a bounded dead letter that identifies it (source offset, size,
    /// SHA-256, first bytes), the original stays readable at its offset, the worker drains and exits 0, and the
    /// model is exactly the one learned from the good events alone.
    @Test func messagesOfOneThreeAndTenMegabytesGetBoundedDeadLettersAndTheWorkerDrains() async throws {
        let scenario = try WorkerScenario("huge")
        let good = try WorkerTestEnvironment.eventLines(1_500)
        let sizes = [999_900, 3_000_000, 10_000_000]
        var values: [[UInt8]] = []
        var hugeAt: [Int: [UInt8]] = [:]
        for (i, line) in good.enumerated() {
            if i > 0 && i % 400 == 0 && i / 400 <= sizes.count {
                var bytes = [UInt8](repeating: UInt8(ascii: "x"), count: sizes[i / 400 - 1])
                bytes[0] = UInt8(i / 400)  // each distinct
                hugeAt[values.count] = bytes
                values.append(bytes)
            }
            values.append(line)
        }
        try #require(hugeAt.count == sizes.count)
        try await scenario.createTopics(partitions: 1)
        let reports = try scenario.produce(values, keys: values.map { _ in Array("huge".utf8) }, properties: ["message.max.bytes": "12000000"])

        let summary = try await scenario.runWorkerToCompletion(run: "worker", group: "g", checkpoints: "checkpoints")
        #expect(summary.events == values.count)
        #expect(summary.rejected == sizes.count)
        #expect(summary.rejectedByReason == ["oversized": sizes.count])
        #expect(summary.examples == EventLine.clickCount(good), "every good click learned")
        #expect(summary.published.deadLetters == sizes.count)
        #expect(summary.published.deadLettersTruncated == sizes.count)
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: good)
        #expect(try scenario.snapshot("worker") == reference.snapshot, "the model differs from the good events' alone")

        let letters = try scenario.readAll(scenario.deadLetterTopic, expected: sizes.count)
        #expect(letters.count == sizes.count)
        for letter in letters {
            func header(_ name: String) -> String? {
                letter.headers.first { $0.name == name }.map { String(decoding: $0.value ?? [], as: UTF8.self) }
            }
            #expect(header("feedloop.truncated") == "true")
            #expect(header("feedloop.reason") == "oversized")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(letter.value ?? [])) as? [String: Any])
            let source = try #require(object["source"] as? [String: Any])
            let offset = try #require(source["offset"] as? Int)
            let index = try #require(reports.firstIndex { $0.offset == Int64(offset) })
            let original = try #require(hugeAt[index], "a dead letter for input \(index), which was not a huge message")
            #expect(object["original_bytes"] as? Int == original.count)
            #expect(object["sha256"] as? String == original.withUnsafeBytes { SHA256.hex($0) })
            #expect(header("feedloop.sha256") == original.withUnsafeBytes { SHA256.hex($0) })
            let head = (object["head_base64"] as? String).flatMap { Data(base64Encoded: $0) }
            #expect(head.map(Array.init) == Array(original.prefix(4096)))
            #expect(letter.key == Array("huge".utf8))
        }

        // The original stays retrievable from the input topic by the dead letter's offset.
        let tenMB = try #require(hugeAt.first { $0.value.count == 10_000_000 })
        let consumer = try KafkaConsumer(
            configuration: scenario.configuration(group: "wt-\(WorkerTestEnvironment.runID)-huge-reader"), logger: WorkerTestEnvironment.logger)
        defer { try? consumer.close() }
        try consumer.assign([KafkaTopicPartitionOffset(
            topic: scenario.inputTopic, partition: 0, offset: KafkaOffset(reports[tenMB.key].offset!))])
        var fetched: [KafkaMessage] = []
        let deadline = ContinuousClock.now + .seconds(60)
        while fetched.isEmpty && ContinuousClock.now < deadline { fetched = try consumer.poll(timeout: .milliseconds(200), maxMessages: 1) }
        #expect(fetched.first?.value == tenMB.value, "the 10 MB original is not readable at its offset")
    }

    /// 50 idle connections to the worker's health port leave `/healthz` answering in well under 100 ms; then a
    /// fetch that stops answering while input waits (the broker frozen with SIGSTOP; small fetches keep most of
    /// the input on the broker) turns `/healthz` to 503 with the reason within `--stall-after` + 5 s. The idle exit
    /// does not take the silence for the end of the input: it waits, says why, and drains everything once the
    /// broker answers again.
    @Test func aFrozenFetchTurnsHealthzTo503AndTheIdleExitWaitsUntilCaughtUp() async throws {
        let broker = try await DedicatedBroker(logPath: WorkerTestEnvironment.runDirectory + "/stall-tansu.log")
        defer { broker.stop() }
        let scenario = try WorkerScenario("stall", brokers: broker.address)
        let lines = try WorkerTestEnvironment.eventLines(40_000)
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(lines)
        let stallAfter = 3.0
        let worker = try scenario.startWorker(
            run: "stall", group: "g", checkpoints: "checkpoints", exitWhenIdle: 2,
            extraArguments: [
                "--progress-seconds", "0.2", "--stall-after", "\(Int(stallAfter))s", "--kafka-property", "fetch.message.max.bytes=2048",
                "--kafka-property", "queued.max.messages.kbytes=16",
            ])
        let port = try await worker.metricsPort()
        // 50 idle connections to the worker process leave /healthz answering at once (the health server is not
        // one-connection-at-a-time).
        let idle = try await offThePool { try (0..<50).map { _ in try RawHTTPConnection(port: port) } }
        let timings = try await offThePool {
            try (0..<5).map { _ in
                let start = ContinuousClock.now
                let connection = try RawHTTPConnection(port: port)
                try connection.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = try connection.response()
                return (response.status, ContinuousClock.now - start)
            }
        }
        let median = timings.map(\.1).sorted()[timings.count / 2]
        print("stall test: GET /healthz of the worker process with \(idle.count) idle connections open: median \(median)")
        #expect(timings.allSatisfy { $0.0 == 200 } && median < .milliseconds(100), "\(timings)")
        try await Self.whileAssignedAndBusy(worker) { broker.suspend() }
        let frozenAt = ContinuousClock.now
        var body = ""
        try await waitUntil("/healthz to answer 503", timeout: .seconds(stallAfter + 30), interval: .milliseconds(200)) {
            body = try Self.httpGetAnyStatus(port: port, path: "/healthz")
            return body.contains(" 503 ")
        }
        let detected = ContinuousClock.now - frozenAt
        print("stall test: /healthz 503 after \(detected) (--stall-after \(stallAfter) s): \(body.components(separatedBy: "\r\n\r\n").last ?? "")")
        #expect(detected <= .seconds(stallAfter + 5), "the watchdog took \(detected)")
        #expect(body.contains("consumer stalled") && body.contains("\(scenario.inputTopic)[0] lag"), "\(body)")
        let metrics = try Self.httpGet(port: port, path: "/metrics")
        #expect(metrics.split(separator: "\n").contains { $0.hasPrefix("feedloop_stalled") && $0.hasSuffix(" 1") || $0.hasSuffix(" 1.0") }, "\(metrics)")
        // Past --exit-when-idle with input waiting: still running, and saying why.
        try await Task.sleep(for: .seconds(3))
        #expect(worker.isRunning, "the worker took a frozen fetch for the end of its input:\n\(worker.logTail())")
        // It waits either in the loop (idle but not caught up) or for its outputs' deliveries before a checkpoint.
        #expect(["not caught up: waiting", "waiting for output deliveries"].contains { worker.log().contains($0) }, "\(worker.logTail())")
        #expect(worker.log().contains("consumer stalled"), "no warning logged")
        broker.resume()

        let termination = try await worker.waitForExit(timeout: .seconds(180))
        try #require(termination == .exited(0), "\(termination)\n\(worker.logTail())")
        #expect(worker.log().contains("consumer progresses again"))
        let summary = try scenario.summary("stall")
        #expect(summary.events == lines.count, "exited before the end of its input")
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines)
        #expect(try scenario.snapshot("stall") == reference.snapshot)
    }

    /// SIGTERM after the broker is killed under load ends the worker within `--shutdown-timeout`, non-zero and
    /// without a final checkpoint it could not complete. The restarted worker loses nothing: on a broker that holds
    /// the same log (a new Tansu, memory storage, given the same events at the same offsets — what a durable broker
    /// would hold after a restart) it resumes from its last checkpoint and ends with the uninterrupted model.
    @Test func sigtermWithTheBrokerKilledEndsWithinTheShutdownTimeoutAndTheRestartLosesNothing() async throws {
        let first = try await DedicatedBroker(logPath: WorkerTestEnvironment.runDirectory + "/shutdown-tansu-1.log")
        defer { first.stop() }
        let scenario = try WorkerScenario("shutdown", brokers: first.address)
        let lines = try WorkerTestEnvironment.eventLines(40_000)
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(lines)
        let timeout = 8.0
        let worker = try scenario.startWorker(
            run: "shutdown", group: "g", checkpoints: "checkpoints", exitWhenIdle: nil,
            extraArguments: [
                "--progress-seconds", "0.2", "--shutdown-timeout", "\(Int(timeout))s", "--kafka-property", "fetch.message.max.bytes=4096",
                "--kafka-property", "queued.max.messages.kbytes=32",
            ])
        try await Self.whileAssignedAndBusy(worker) { first.stop() }
        try await Task.sleep(for: .milliseconds(500))
        worker.send(SIGTERM)
        let signalled = ContinuousClock.now
        let termination = try await worker.waitForExit(timeout: .seconds(timeout + 30))
        let took = ContinuousClock.now - signalled
        let log = worker.log()
        let how = log.contains("stopping without a checkpoint") ? "no final checkpoint (outputs undelivered)"
            : log.contains("did not stop within") ? "backstop" : "other"
        print("shutdown test: exit \(termination) \(took) after SIGTERM (--shutdown-timeout \(timeout) s): \(how)")
        #expect(took <= .seconds(timeout + 1.5), "SIGTERM took \(took)")
        #expect(termination != .exited(0), "a stop that could not deliver its outputs must not exit 0")
        #expect(how != "other", "\(worker.logTail())")

        // The same log on a new broker; the restart resumes from the last checkpoint the worker completed.
        let second = try await DedicatedBroker(logPath: WorkerTestEnvironment.runDirectory + "/shutdown-tansu-2.log")
        defer { second.stop() }
        let moved = scenario.moved(to: second.address)
        try await moved.createTopics(partitions: 1)
        _ = try moved.produce(lines)
        let restart = try await moved.runWorkerToCompletion(run: "restart", group: "g", checkpoints: "checkpoints")
        #expect(restart.events == lines.count)
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines)
        #expect(UInt64(restart.examples) == reference.counters.examples)
        #expect(try moved.snapshot("restart") == reference.snapshot, "the restart lost or double-applied events")
    }

    /// Runs `fault` (freezing or killing the broker) as soon as the worker reports its first events (progress lines
    /// every 0.2 s), while most of the input is still on the broker: the worker is held with SIGSTOP meanwhile, so
    /// it cannot drain the topic first (small fetches and a 16–32 KiB prefetch queue keep what it holds locally to
    /// a few thousand events).
    static func whileAssignedAndBusy(_ worker: ChildProcess, _ fault: () -> Void) async throws {
        try await worker.waitForLog("a progress line with events > 0", timeout: .seconds(120)) {
            (ChildProcess.lastProgressEvents(in: $0) ?? 0) > 0
        }
        worker.send(SIGSTOP)
        fault()
        worker.send(SIGCONT)
    }

}
