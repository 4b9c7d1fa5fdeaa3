import Foundation
import Kafka
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension WorkerGroupTests {
    /// A broker that stops answering for 15 s mid-run (SIGSTOP) neither kills the worker nor breaks exactly-once:
    /// it logs the outage, recovers when the broker returns, and ends with the model of an uninterrupted run.
    @Test func workerRidesOutAFrozenBrokerAndEndsWithTheUninterruptedModel() async throws {
        let outage: Duration = .seconds(15)
        let brokerLog = WorkerTestEnvironment.runDirectory + "/outage-tansu.log"
        try FileManager.default.createDirectory(atPath: WorkerTestEnvironment.runDirectory, withIntermediateDirectories: true)
        let broker = try await DedicatedBroker(logPath: brokerLog)
        defer { broker.stop() }
        let scenario = try WorkerScenario("outage", brokers: broker.address)
        let lines = try WorkerTestEnvironment.eventLines(20_000)
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(lines)

        // No idle exit: during the outage there is no input either. SIGTERM once it has caught up.
        let worker = try scenario.startWorker(run: "outage", group: "outage", checkpoints: "outage-checkpoints", exitWhenIdle: nil)
        let target = Int(Double(lines.count) * Double.random(in: 0.15..<0.4))
        try await worker.waitForProgress(atLeast: target, timeout: .seconds(120))
        let beforeOutage = worker.log().utf8.count
        let eventsAtOutage = worker.lastProgressEvents() ?? -1
        broker.suspend()
        let outageEnd = ContinuousClock.now + outage
        var aliveThroughout = true
        while ContinuousClock.now < outageEnd {
            aliveThroughout = aliveThroughout && worker.isRunning
            try await Task.sleep(for: .milliseconds(250))
        }
        aliveThroughout = aliveThroughout && worker.isRunning
        broker.resume()
        #expect(aliveThroughout, "the worker died while the broker was frozen:\n\(worker.logTail())")

        try await worker.waitForProgress(atLeast: lines.count, timeout: .seconds(180))
        worker.send(SIGTERM)
        let termination = try await worker.waitForExit(timeout: .seconds(60))
        try #require(termination == .exited(0), "\(termination)\n\(worker.logTail())")
        let duringAndAfter = String(decoding: Array(worker.log().utf8.dropFirst(beforeOutage)), as: UTF8.self)
        let outageLines = duringAndAfter.split(separator: "\n").filter {
            let line = $0.lowercased()
            return ["timed out", "timeout", "disconnect", "connection", "transport", "session"].contains { line.contains($0) }
        }
        print("outage test: froze the broker at \(eventsAtOutage) of \(lines.count) events for \(outage); \(outageLines.count) error lines, first: \(outageLines.first ?? "none")")
        #expect(!outageLines.isEmpty, "no connection/timeout errors logged during the outage:\n\(duringAndAfter.prefix(4000))")

        let summary = try scenario.summary("outage")
        #expect(summary.events == lines.count, "events applied \(summary.events), produced \(lines.count)")
        #expect(summary.positions == [.init(topic: scenario.inputTopic, partition: 0, offset: Int64(lines.count))])

        // The uninterrupted run: same broker, same input topic, its own group and checkpoints.
        let baseline = try await scenario.runWorkerToCompletion(run: "baseline", group: "baseline", checkpoints: "baseline-checkpoints")
        #expect(baseline.events == lines.count)
        #expect(summary.examples == baseline.examples && summary.modelVersion == baseline.modelVersion)
        #expect(try scenario.snapshot("outage") == (try scenario.snapshot("baseline")), "final snapshots differ")
    }
}
