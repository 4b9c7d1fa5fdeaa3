import Foundation
import Learning
import Pipelines
import Testing

/// One model across a consumer group (`sync:`): each member learns on its partitions, publishes its increments and
/// applies the others', so that every replica ends holding every example's learning exactly once.
extension WorkerGroupTests {
    static func syncScenario(_ purpose: String) throws -> WorkerScenario {
        try WorkerScenario(purpose) { $0 + "\nsync: {every: 200, interval: 300ms}\n" }
    }

    /// What every test of the exchange checks once the members stopped: every event and click once across them,
    /// labelled as one pipeline replaying the partitions labels them, every labelled example learned exactly once
    /// in every replica (a replica's version counts the updates it holds: its own and those of the increments it
    /// applied), every member's records applied by every other, and the replicas equal but for float rounding.
    static func expectOneModel(
        _ scenario: WorkerScenario, runs: [String], checkpoints: [String], lines: [[UInt8]], partitions: [Int32]
    ) throws -> [WorkerSummary] {
        let summaries = try runs.map { try scenario.summary($0) }
        let replay = try ReferenceRun.run(pipelinePath: scenario.pipelinePath, lines: lines, partitions: partitions)
        let labelled = summaries.reduce(0) { $0 + $1.labelled }
        print("sync test \(scenario.purpose): events \(summaries.map(\.events)), labelled \(summaries.map(\.labelled)) (replay \(replay.counters.labelled)), versions \(summaries.map(\.modelVersion)), own records \(summaries.map { $0.sync?.ownSequence ?? 0 }), learned elsewhere \(summaries.map { $0.sync?.examplesLearnedElsewhere ?? -1 }), logloss \(summaries.map { $0.logloss ?? .nan }) over \(summaries.map(\.progressiveExamples)) examples")
        #expect(summaries.reduce(0) { $0 + $1.examples } == EventLine.clickCount(lines), "every click once across the group")
        #expect(UInt64(labelled) == replay.counters.labelled)
        #expect(UInt64(summaries.reduce(0) { $0 + $1.positives }) == replay.counters.positives)
        for s in summaries {
            // The progressive metrics cover the examples since the last restore, and are absent when there are none.
            #expect((s.logloss == nil) == (s.progressiveExamples == 0) && s.progressiveExamples <= s.labelled)
            let sync = try #require(s.sync, "no sync section in the summary")
            #expect(s.modelVersion == labelled, "member \(sync.member): its model holds \(s.modelVersion) updates, the group labelled \(labelled)")
            for other in summaries where other.sync?.member != sync.member {
                let o = try #require(other.sync)
                #expect(sync.applied[o.member] == o.ownSequence, "\(sync.member) applied \(sync.applied[o.member] ?? 0) of \(o.member)'s \(o.ownSequence) records")
            }
        }
        // Every member's candidate pool counts every purchase once: the pools rank the same items as one pipeline's.
        let spec = try ReferenceRun.workerSpec(pipelinePath: scenario.pipelinePath)
        let expected = Self.purchaseCounts(replay.catalog)
        for dir in checkpoints {
            let restored = try #require(try CheckpointStore(directory: scenario.path(dir)).restoreNewest(spec: spec))
            let counts = Self.purchaseCounts(restored.pipeline.catalog)
            let wrong = expected.filter { counts[$0.key] != $0.value }.count + counts.filter { expected[$0.key] == nil }.count
            #expect(wrong == 0, "\(dir): \(wrong) of \(expected.count) items counted differently from one pipeline's pool")
        }
        let models = try runs.map { try Model(snapshotBytes: scenario.snapshot($0)) }
        for (i, m) in models.enumerated().dropFirst() {
            let d = models[0].largestRelativeDifference(from: m)
            #expect(d < 1e-4, "replica \(runs[i]) differs from \(runs[0]) by \(d)")
        }
        return summaries
    }

    /// Three members drain a 6-partition backlog together and end with one model.
    @Test func threeMembersOfAGroupLearnOneModel() async throws {
        let scenario = try Self.syncScenario("sync-three")
        let lines = try WorkerTestEnvironment.eventLines(24_000)
        try await scenario.createTopics(partitions: 6)
        let reports = try scenario.produce(lines)
        let runs = ["a", "b", "c"]
        // The members leave one at a time (idle exits 3 s apart): the local broker (Tansu) has been seen never to
        // finish the rebalance when two members leave at the same moment, leaving the third without partitions.
        let idle: [String: Double] = ["a": 8, "b": 11, "c": 14]
        let members = try runs.map {
            try scenario.startWorker(run: $0, group: "g", checkpoints: "checkpoints-\($0)", exitWhenIdle: idle[$0]!)
        }
        for m in members {
            let termination = try await m.waitForExit(timeout: .seconds(180))
            try #require(termination == .exited(0), "\(termination)\n\(m.logTail())")
        }
        let summaries = try Self.expectOneModel(
            scenario, runs: runs, checkpoints: runs.map { "checkpoints-\($0)" }, lines: lines, partitions: reports.map(\.partition))
        #expect(summaries.allSatisfy { $0.events > 0 }, "every member should have had work")
        // Each other member's record applied has its delay from publish to apply measured (no member restarted, so
        // every record this process applied is another member's).
        for s in summaries {
            let run = try #require(s.sync?.run)
            #expect(run.applyDelay.count == run.appliedRecords && run.appliedRecords > 0)
            #expect(run.applyDelay.p50 > 0 && run.applyDelay.p50 <= run.applyDelay.max && run.applyDelay.max < 60_000)
        }
    }

    /// Exactly once through crashes: two members are killed with SIGKILL after publishing increments their
    /// checkpoints do not hold, and restart; a third joins mid-stream. Whoever continues a killed member's
    /// partitions goes over the events its published increments cover without learning them again.
    @Test func killsAndAJoinLeaveOneModelThatLearnedEveryExampleOnce() async throws {
        let scenario = try Self.syncScenario("sync-kill")
        let lines = try WorkerTestEnvironment.eventLines(30_000)
        let chunks = stride(from: 0, to: lines.count, by: 6_000).map { Array(lines[$0..<min(lines.count, $0 + 6_000)]) }
        try await scenario.createTopics(partitions: 6)
        // No periodic checkpoint: a killed member's increments then always reach past its last checkpoint.
        let rare = ["--checkpoint-events", "10000000", "--checkpoint-seconds", "3600"]
        // Idle exits 3 s apart, so that the members leave one at a time (see threeMembersOfAGroupLearnOneModel).
        let idle: [String: Double] = ["checkpoints-a": 25, "checkpoints-b": 28, "checkpoints-c": 31]
        func start(_ run: String, _ checkpoints: String) throws -> ChildProcess {
            try scenario.startWorker(
                run: run, group: "g", checkpoints: checkpoints, exitWhenIdle: idle[checkpoints]!, extraArguments: rare)
        }
        var reports = try scenario.produce(chunks[0])
        let a1 = try start("a1", "checkpoints-a")
        let b1 = try start("b1", "checkpoints-b")
        try await a1.waitForProgress(atLeast: 1_500, timeout: .seconds(120))
        try await Task.sleep(for: .seconds(1))  // at least one publish after the progress seen
        a1.send(SIGKILL)
        _ = try await a1.waitForExit(timeout: .seconds(10))
        let a2 = try start("a2", "checkpoints-a")

        reports += try scenario.produce(chunks[1])
        let c = try start("c", "checkpoints-c")
        try await c.waitForLog("C's partition assignment", timeout: .seconds(90)) { log in
            log.split(separator: "\n").contains { $0.contains("partitions assigned") && $0.contains("\(scenario.inputTopic)[") }
        }
        let before = WorkerScenarioProgress.events(in: b1.log())
        reports += try scenario.produce(chunks[2])
        try await b1.waitForProgress(atLeast: before + 1_000, timeout: .seconds(120))
        try await Task.sleep(for: .seconds(1))
        b1.send(SIGKILL)
        _ = try await b1.waitForExit(timeout: .seconds(10))
        let b2 = try start("b2", "checkpoints-b")
        reports += try scenario.produce(chunks[3])
        reports += try scenario.produce(chunks[4])

        for m in [a2, b2, c] {
            let termination = try await m.waitForExit(timeout: .seconds(240))
            try #require(termination == .exited(0), "\(termination)\n\(m.logTail())")
        }
        let summaries = try Self.expectOneModel(
            scenario, runs: ["a2", "b2", "c"], checkpoints: ["checkpoints-a", "checkpoints-b", "checkpoints-c"], lines: lines,
            partitions: reports.map(\.partition))
        #expect(summaries.reduce(0) { $0 + ($1.sync?.examplesLearnedElsewhere ?? 0) } > 0, "no event was gone over without learning")
    }
}

extension WorkerGroupTests {
    /// A record in flight when its member is killed lands after the member's next run claimed its partitions and read
    /// the topic to its end, and after that run learned again some of the events the record covers
    /// (`FEEDLOOP_FAULT_HOLD_RECORD`: "a" writes its run's third record to a file instead of sending it and kills
    /// itself with SIGKILL; `FEEDLOOP_FAULT_LAND_HELD_RECORD`: its next run sends that record just before its own
    /// first, which bears the same sequence number). Every member drops the earlier run's record, and the group's
    /// model holds every example once.
    @Test func aRecordInFlightAtAKillThatLandsAfterTheRestartIsDroppedByEveryMember() async throws {
        let scenario = try Self.syncScenario("sync-in-flight")
        let lines = try WorkerTestEnvironment.eventLines(24_000)
        try await scenario.createTopics(partitions: 2)
        let held = scenario.path("held-record")
        let idle: [String: Double] = ["checkpoints-a": 14, "checkpoints-b": 20]
        func start(_ run: String, _ checkpoints: String, _ environment: [String: String] = [:]) throws -> ChildProcess {
            try scenario.startWorker(run: run, group: "g", checkpoints: checkpoints, exitWhenIdle: idle[checkpoints]!, environment: environment)
        }
        let a1 = try start("a1", "checkpoints-a", ["FEEDLOOP_FAULT_HOLD_RECORD": held])
        let b = try start("b", "checkpoints-b")
        for (m, name) in [(a1, "a1"), (b, "b")] {
            try await m.waitForLog("\(name)'s partition assignment", timeout: .seconds(90)) { log in
                log.split(separator: "\n").contains { $0.contains("partitions assigned") && $0.contains("\(scenario.inputTopic)[") }
            }
        }
        // Half the events before the kill; the rest once a2 owns a partition, so that a2 has events to learn and
        // publishes (b alone could drain a whole backlog before a2 joins, and a2 would never send a record).
        var reports = try scenario.produce(Array(lines[..<12_000]))
        let killed = try await a1.waitForExit(timeout: .seconds(120))
        try #require(killed == .signalled(SIGKILL), "a1 should have killed itself holding a record: \(killed)\n\(a1.logTail())")
        #expect(FileManager.default.fileExists(atPath: held))
        let a2 = try start("a2", "checkpoints-a", ["FEEDLOOP_FAULT_LAND_HELD_RECORD": held])
        try await a2.waitForLog("a2's partition assignment", timeout: .seconds(90)) { log in
            log.split(separator: "\n").contains { $0.contains("partitions assigned") && $0.contains("\(scenario.inputTopic)[") }
        }
        reports += try scenario.produce(Array(lines[12_000...]))
        for m in [a2, b] {
            let termination = try await m.waitForExit(timeout: .seconds(180))
            try #require(termination == .exited(0), "\(termination)\n\(m.logTail())")
        }
        #expect(a2.log().contains("landed the increments record held in"), "\(a2.logTail())")
        #expect(b.log().contains("published by an earlier run of that member"), "b did not drop the earlier run's record:\n\(b.logTail())")
        _ = try Self.expectOneModel(
            scenario, runs: ["a2", "b"], checkpoints: ["checkpoints-a", "checkpoints-b"], lines: lines, partitions: reports.map(\.partition))
    }
}

extension WorkerGroupTests {
    /// A frozen member (SIGSTOP past the session timeout) is dropped by the group and its partitions go to the other
    /// one, which learns their events again from the last commit. The frozen member's replica holds learning of
    /// some of them that it has not published: as it thaws it must publish nothing more — neither because its next
    /// poll reports the assignment lost, nor before that. Its loop stops fenced, as after a `kill -9`, and starts
    /// again from its last checkpoint in the same process; the group's model holds every example once.
    @Test func aMemberFrozenPastItsSessionRestartsFromItsCheckpointAndTheGroupLearnsEveryExampleOnce() async throws {
        let a = try await Self.freezeAMember("sync-stall", environment: [:])
        let log = a.log()
        // The fence's own message (``WorkerLoop/fence(_:)``), whichever check fenced it: the stall check or the lost
        // assignment (a checkpoint's wait for deliveries also logs the error, "fenced: …", but only on that path).
        #expect(
            log.contains("Stopping without publishing or a checkpoint") && log.contains("restarting the worker from its last checkpoint"),
            "\(a.logTail())")
    }

    /// The same freeze of a member that does not learn it was dropped (`FEEDLOOP_FAULT_UNAWARE_OF_LOSS=1`: its stall
    /// check is off and it ignores the lost assignment, as a member cut off from the coordinator would be): thawed,
    /// it goes on as if it still owned its partitions, and what it publishes covers partitions the other member
    /// claimed before — every member drops those records — until it reads that claim and restarts from its checkpoint.
    @Test func theClaimsFenceAThawedMemberThatDoesNotKnowItWasDropped() async throws {
        let a = try await Self.freezeAMember("sync-claim", environment: ["FEEDLOOP_FAULT_UNAWARE_OF_LOSS": "1"])
        let log = a.log()
        #expect(log.contains("the lost assignment is ignored"), "\(a.logTail())")
        #expect(log.contains(" claimed ") && log.contains("of this member: the group dropped this member"), "\(a.logTail())")
        #expect(log.contains("restarting the worker from its last checkpoint"), "\(a.logTail())")
    }

    /// Two members drain a backlog; "a" is frozen (SIGSTOP) while it learns for longer than the session timeout, then
    /// thawed. Both must exit 0 with one model that learned every example once; returns "a".
    static func freezeAMember(_ purpose: String, environment: [String: String]) async throws -> ChildProcess {
        let scenario = try Self.syncScenario(purpose)
        let lines = try WorkerTestEnvironment.eventLines(30_000)
        try await scenario.createTopics(partitions: 6)
        let idle: [String: Double] = ["a": 10, "b": 14]
        let members = try ["a", "b"].map {
            try scenario.startWorker(run: $0, group: "g", checkpoints: "checkpoints-\($0)", exitWhenIdle: idle[$0]!, environment: environment)
        }
        for (m, name) in zip(members, ["a", "b"]) {
            try await m.waitForLog("\(name)'s partition assignment", timeout: .seconds(90)) { log in
                log.split(separator: "\n").contains { $0.contains("partitions assigned") && $0.contains("\(scenario.inputTopic)[") }
            }
        }
        let a = members[0]
        let reports = try scenario.produce(lines)
        // Frozen while it learns (its first progress line), for longer than the session timeout.
        try await a.waitForLog("a's first events", timeout: .seconds(60)) { (ChildProcess.lastProgressEvents(in: $0) ?? 0) > 0 }
        a.send(SIGSTOP)
        try await Task.sleep(for: .seconds(WorkerTestEnvironment.sessionTimeoutSeconds + 6))
        a.send(SIGCONT)
        for m in members {
            let termination = try await m.waitForExit(timeout: .seconds(180))
            try #require(termination == .exited(0), "\(termination)\n\(m.logTail())")
        }
        _ = try Self.expectOneModel(
            scenario, runs: ["a", "b"], checkpoints: ["checkpoints-a", "checkpoints-b"], lines: lines,
            partitions: reports.map(\.partition))
        return a
    }

    /// Item id → positive feedback counted, over a catalog's items with any.
    static func purchaseCounts(_ catalog: ItemCatalog) -> [String: Int] {
        var counts: [String: Int] = [:]
        for item in 0..<catalog.count where catalog.positiveCount(of: item) > 0 { counts[catalog.id(of: item)] = catalog.positiveCount(of: item) }
        return counts
    }
}

enum WorkerScenarioProgress {
    /// The events count of the newest progress line (0 before one).
    static func events(in log: String) -> Int { ChildProcess.lastProgressEvents(in: log) ?? 0 }
}
