import Foundation
import Kafka
import Pipelines
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension WorkerIntegrationTests {
    /// Exactly-once model state: a worker killed with SIGKILL at random moments between checkpoints and restarted
    /// (same checkpoint directory, same group) ends with the byte-identical model of an uninterrupted run.
    @Test func workerKilledWithSigkillAndRestartedEndsWithTheUninterruptedModel() async throws {
        let scenario = try WorkerScenario("sigkill")
        let lines = try WorkerTestEnvironment.eventLines(24_000)
        try await scenario.createTopics(partitions: 1)
        // The input arrives in four parts, one before each run of the crashing worker, so that every run has events
        // of its own to process: a release worker drains all 24,000 in a fraction of a second, and with the whole
        // stream produced up front the first run could finish it before it was killed (the next run then had nothing
        // left, and exited by itself).
        let parts = stride(from: 0, to: lines.count, by: 6_000).map { Array(lines[$0..<min($0 + 6_000, lines.count)]) }

        // Kills at random moments: each after the restarted worker wrote a new checkpoint (it made progress), a
        // random 0–60 ms later: in the middle of its part (a release build drains the 5,000 events after its first
        // checkpoint in ~40 ms, a debug build in several hundred), or while it waits idle after it. A restart offset
        // that is not a multiple of 6,000 in the printed line shows a kill that landed mid-part.
        var kills: [String] = []
        var restored: [Int64] = []
        for round in 0..<3 {
            _ = try scenario.produce(parts[round])
            let before = scenario.checkpointFiles("crash-checkpoints")
            let worker = try scenario.startWorker(run: "crash-\(round)", group: "crashing", checkpoints: "crash-checkpoints")
            try await scenario.waitForNewCheckpoint(in: "crash-checkpoints", after: before, writtenBy: worker, timeout: .seconds(120))
            let delay = Int.random(in: 0...60)
            try await Task.sleep(for: .milliseconds(delay))
            worker.send(SIGKILL)
            let termination = try await worker.waitForExit(timeout: .seconds(10))
            try #require(termination == .signalled(SIGKILL), "round \(round): \(termination)\n\(worker.logTail())")
            #expect(!FileManager.default.fileExists(atPath: scenario.summaryPath("crash-\(round)")), "a killed worker wrote a summary")
            let start = worker.restoredOffset() ?? 0
            if round > 0 {
                #expect(worker.log().contains("restored checkpoint"), "round \(round) did not restore a checkpoint")
                #expect(start > restored.last!, "round \(round) restored offset \(start), not past the previous round's")
            }
            restored.append(start)
            kills.append("started at offset \(start), killed \(delay) ms after writing \(scenario.checkpointFiles("crash-checkpoints").last ?? "?")")
        }
        print("sigkill test (\(lines.count) events): " + kills.joined(separator: "; "))
        _ = try scenario.produce(parts[3])

        // The uninterrupted run reads the same complete topic with its own group and checkpoints.
        let baseline = try await scenario.runWorkerToCompletion(run: "baseline", group: "baseline", checkpoints: "baseline-checkpoints")
        #expect(baseline.events == lines.count)

        let final = try await scenario.runWorkerToCompletion(run: "crash-final", group: "crashing", checkpoints: "crash-checkpoints")
        let finalStart = ChildProcess.restoredOffset(in: (try? String(contentsOfFile: scenario.path("crash-final.log"), encoding: .utf8)) ?? "")
        #expect(finalStart.map { $0 > restored.last! } == true, "the final run restored offset \(finalStart ?? -1)")
        print("sigkill test: the final run restarted at offset \(finalStart ?? -1)")
        #expect(final.events == lines.count, "cumulative events after restarts")
        #expect(final.examples == baseline.examples && final.labelled == baseline.labelled)
        #expect(final.modelVersion == baseline.modelVersion)
        #expect(final.positions == [.init(topic: scenario.inputTopic, partition: 0, offset: Int64(lines.count))])
        let crashed = try scenario.snapshot("crash-final"), uninterrupted = try scenario.snapshot("baseline")
        #expect(crashed == uninterrupted, "final snapshots differ (\(crashed.count) vs \(uninterrupted.count) bytes)")
    }

    /// SIGTERM drains: exit 0, a final checkpoint matching the summary; a restart finishes the stream and ends
    /// with the uninterrupted model.
    @Test func sigtermDrainsCheckpointsAndARestartFinishesWithTheUninterruptedModel() async throws {
        let scenario = try WorkerScenario("sigterm")
        let lines = try WorkerTestEnvironment.eventLines(20_000)
        try await scenario.createTopics(partitions: 1)
        _ = try scenario.produce(lines)
        let baseline = try await scenario.runWorkerToCompletion(run: "baseline", group: "baseline", checkpoints: "baseline-checkpoints")
        #expect(baseline.events == lines.count)

        // SIGTERM mid-run: after the worker's first checkpoint, a random 0–800 ms later.
        let worker = try scenario.startWorker(run: "terminated", group: "terminated", checkpoints: "checkpoints")
        try await scenario.waitForNewCheckpoint(in: "checkpoints", after: [], writtenBy: worker, timeout: .seconds(120))
        let delay = Int.random(in: 0...800)
        try await Task.sleep(for: .milliseconds(delay))
        worker.send(SIGTERM)
        let termination = try await worker.waitForExit(timeout: .seconds(60))
        try #require(termination == .exited(0), "SIGTERM: \(termination)\n\(worker.logTail())")
        #expect(worker.log().contains("draining"))

        let drained = try scenario.summary("terminated")
        print("sigterm test: SIGTERM \(delay) ms after the first checkpoint; drained summary has \(drained.events) of \(lines.count) events")
        #expect(drained.events > 0 && drained.events <= lines.count)
        #expect(drained.positions == [.init(topic: scenario.inputTopic, partition: 0, offset: Int64(drained.events))],
                "the drained position must be exactly the events applied")

        // The newest checkpoint is the drained state: same positions, same counters, same model as the snapshot.
        let spec = try ReferenceRun.workerSpec(pipelinePath: scenario.pipelinePath)
        let store = try CheckpointStore(directory: scenario.path("checkpoints"))
        let restored = try #require(try store.restoreNewest(spec: spec), "no checkpoint after SIGTERM")
        #expect(restored.positions == [InputPosition(topic: scenario.inputTopic, partition: 0, offset: Int64(drained.events))])
        #expect(restored.pipeline.counters.events == UInt64(drained.events))
        #expect(restored.pipeline.model.snapshotBytes() == (try scenario.snapshot("terminated")))

        let resumed = try await scenario.runWorkerToCompletion(run: "resumed", group: "terminated", checkpoints: "checkpoints")
        #expect(resumed.events == lines.count, "cumulative events after the restart")
        #expect(resumed.examples == baseline.examples && resumed.modelVersion == baseline.modelVersion)
        #expect(resumed.positions == [.init(topic: scenario.inputTopic, partition: 0, offset: Int64(lines.count))])
        #expect(try scenario.snapshot("resumed") == (try scenario.snapshot("baseline")), "final snapshots differ")
    }
}

extension WorkerIntegrationTests {
    /// The newest checkpoint is unreadable (a disk fault) while the group's committed offsets — this worker's own —
    /// are past the older checkpoint it restores: the worker restarts at the restored checkpoint's offsets, not at
    /// max(committed, checkpoint), so the events between are learned again and the model equals an uninterrupted
    /// run's.
    @Test func anUnreadableNewestCheckpointDoesNotSkipTheEventsAfterTheOlderOne() async throws {
        let scenario = try WorkerScenario("older-checkpoint")
        let lines = try WorkerTestEnvironment.eventLines(8_000)
        try await scenario.createTopics(partitions: 1)
        // Two parts, so that a checkpoint before 6,000 exists whatever the poll batches (up to 4,096 events).
        _ = try scenario.produce(Array(lines[..<3_000]))
        _ = try await scenario.runWorkerToCompletion(run: "first-part", group: "g", checkpoints: "checkpoints")
        _ = try scenario.produce(Array(lines[3_000..<6_000]))
        let first = try await scenario.runWorkerToCompletion(run: "first", group: "g", checkpoints: "checkpoints")
        #expect(first.events == 6_000)
        // Corrupt every checkpoint at offset 6,000 (the last periodic one and the shutdown one; the group's commit
        // says 6,000 too), so the worker falls back to an older one.
        let spec = try ReferenceRun.workerSpec(pipelinePath: scenario.pipelinePath)
        var corrupted: [String] = []
        for file in scenario.checkpointFiles("checkpoints").reversed() {
            let path = scenario.path("checkpoints/" + file)
            var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
            let (_, positions) = try Pipeline.restore(spec: spec, from: bytes, path: path)
            guard positions.first?.offset == 6_000 else { break }
            bytes[bytes.count / 2] ^= 0xFF
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            corrupted.append(file)
        }
        try #require(corrupted.count < scenario.checkpointFiles("checkpoints").count, "no older checkpoint to fall back to")
        _ = try scenario.produce(Array(lines[6_000...]))

        let second = try await scenario.runWorkerToCompletion(run: "second", group: "g", checkpoints: "checkpoints")
        let log = try String(contentsOfFile: scenario.path("second.log"), encoding: .utf8)
        let restored = try #require(ChildProcess.restoredOffset(in: log), "no checkpoint restored")
        print("older-checkpoint test: \(corrupted) corrupted; restored the one at offset \(restored) of 6000")
        #expect(restored < 6_000)
        #expect(log.contains("skipping checkpoint"))
        #expect(second.events == lines.count, "events applied \(second.events), produced \(lines.count)")
        let reference = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines)
        #expect(try scenario.snapshot("second") == reference.snapshot, "events were skipped or applied twice")
    }
}
