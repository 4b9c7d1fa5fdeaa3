import Dispatch
import Foundation
import Kafka
import Logging
import Pipelines

// The worker's exactly-once protocol for model state, and all the code that keeps it.
//
// A checkpoint = pipeline state (model, pending examples of the label join, item catalog, counters) + the next
// input offset of every partition it includes. The rules:
//
// 1. Flush, then checkpoint, then commit. Before a checkpoint is written every pending output is handed to the
//    producer and delivered (so the outputs of the included events are out: outputs are at-least-once); after it
//    is written the offsets of the assigned partitions are committed to the group (they trail the checkpoint). A
//    failed commit only makes the group's offsets trail further: the checkpoint is authoritative.
// 2. A delivery that finally fails stops the worker *without* a checkpoint, so a restart replays from the last one.
// 3. Revoke → checkpoint → commit (synchronously) → acknowledge: the next owner starts where this one stopped.
//    A lost assignment (session timeout) writes no checkpoint; the positions stay, so a partition that comes back
//    restarts at max(committed, position) and nothing is applied twice. With `sync:` the loop stops instead
//    (fenced, see checkStall) and the worker restarts it from the last checkpoint: its unpublished learning is the
//    partitions' new owners' to do.
// 4. Restore → each assigned partition starts at max(checkpoint offset, committed offset): the checkpoint's for
//    partitions this worker owned, the group's when another member moved past it. Unless the newest checkpoints
//    were unreadable and an older one was restored: then the group's offsets may be this worker's own commits
//    made after it, and its partitions restart at its own offsets, once (the events after it are learned again).
//    The group's committed offsets are needed to choose: a failed query is retried, then stops the worker.
// 5. Shutdown = checkpoint (committed synchronously), close the consumer (leave the group), flush what is left,
//    all within the shutdown deadline; outputs not delivered by then mean no final checkpoint and a failure.
// 6. Pending clicks follow their partition (`PartitionHandover`): a revoke publishes each partition's pending
//    examples to the changelog (and gives them up) before rule 3's checkpoint and commit; a periodic checkpoint and
//    a shutdown publish a copy first; an assignment takes over the record whose offset is the partition's start
//    and drops the state of partitions the member does not own.
//
// So a `kill -9` at any moment leaves the model exactly as if it had never crashed.

extension WorkerLoop {
    // MARK: Restore

    /// Where the loop starts: the newest readable checkpoint in `store` (the pipeline and its input positions), or a
    /// fresh pipeline. When newer checkpoints were skipped as unreadable, the restored positions win over the
    /// group's committed offsets at the first assignment (`checkpointPositionsWin`, see ``rebalance(_:)``).
    static func restore(
        from store: CheckpointStore, options: WorkerOptions, logger: Logger
    ) throws -> (pipeline: Pipeline, positions: [KafkaTopicPartition: Int64], checkpointPositionsWin: Set<KafkaTopicPartition>) {
        var pipeline: Pipeline
        var positions: [KafkaTopicPartition: Int64] = [:]
        var checkpointPositionsWin: Set<KafkaTopicPartition> = []
        var skippedNewer = false
        let restored = try store.restoreNewest(spec: options.onlineSpec) { skipped in
            skippedNewer = true
            logger.error("skipping checkpoint: \(skipped)")
        }
        if let restored {
            pipeline = restored.pipeline
            for p in restored.positions { positions[KafkaTopicPartition(topic: p.topic, partition: p.partition)] = p.offset }
            if skippedNewer {
                // The group's offsets may be this worker's own commits after the unreadable checkpoints: starting at
                // max(committed, checkpoint) would skip the events between. The restored positions win, once.
                checkpointPositionsWin = Set(positions.keys)
                logger.warning(
                    "restored an older checkpoint (newer ones unreadable): its partitions restart at its own offsets, not the group's, so the events after it are learned again",
                    metadata: ["partitions": "\(positions.keys.map(\.description).sorted())"])
            }
            logger.info("restored checkpoint", metadata: [
                "path": "\(restored.path)", "model_version": "\(pipeline.model.version)",
                "positions": "\(restored.positions.map { "\($0.topic)[\($0.partition)]@\($0.offset)" }.joined(separator: " "))",
            ])
        } else {
            pipeline = Pipeline(spec: options.onlineSpec)
            logger.info("no checkpoint: starting with a fresh model")
        }
        return (pipeline, positions, checkpointPositionsWin)
    }

    // MARK: Checkpoints

    /// Why a checkpoint is written; it decides how its offsets are committed.
    enum CheckpointReason: String {
        /// Every `--checkpoint-events` or `--checkpoint-seconds`: the commit goes out asynchronously (the loop goes on).
        case periodic
        /// Before partitions are revoked, and before the worker stops: the commit completes before the partitions
        /// move on, so the next owner starts where this one stopped.
        case revoke, shutdown

        var commitsSynchronously: Bool { self != .periodic }
    }

    mutating func checkpoint(reason: CheckpointReason) throws {
        guard checkStall() else { throw WorkerError.fenced(fencedReason ?? "") }
        let start = DispatchTime.now().uptimeNanoseconds
        if reason == .periodic {
            // A copy of each assigned partition's pending clicks at the offsets about to be committed: if this member
            // dies (kill -9, a lost assignment), the next owner starts at those offsets and continues with them.
            // (A revoke and a shutdown publish theirs before calling this.)
            syncPositions()
            try handover.handOver(Array(assigned), removing: false, pipeline: &pipeline, positions: positions, producer: producer)
        }
        // The model in a checkpoint is what the group has of this member: its increments go out first (delivered
        // before it is written, like the outputs below), and the checkpoint keeps their sequence number and what it
        // applied of the others'.
        publishIncrements()
        if let fencedReason { throw WorkerError.fenced(fencedReason) }
        // Outputs of the included events must be delivered before the checkpoint says they are done.
        publishPending()
        var warned = DispatchTime.now().uptimeNanoseconds
        // Outputs, and the increments (their own producer: GroupSync).
        var outstanding: Int { producer.outstandingCount + (sync?.outstandingCount ?? 0) }
        while outstanding > 0 {
            options.heartbeat?.beat()  // the loop waits for the broker, it is not wedged…
            aliveAt = DispatchTime.now().uptimeNanoseconds
            try serveDeliveries()
            var wait: Duration = .seconds(1)
            if let deadline = deliveryDeadline() {
                let now = DispatchTime.now().uptimeNanoseconds
                guard now < deadline else {
                    throw WorkerError.shutdownTimeout(
                        "\(outstanding) outputs not delivered within --shutdown-timeout \(options.shutdownTimeoutSeconds) s: stopping without a checkpoint; a restart replays from the last one (\(store.files().last?.path ?? "none yet")), so nothing is lost")
                }
                wait = min(wait, .nanoseconds(Int64(deadline - now)))
            }
            do {
                if let sync, sync.outstandingCount > 0 { try sync.flush(timeout: wait) } else { try producer.flush(timeout: wait) }
            } catch {
                let now = DispatchTime.now().uptimeNanoseconds
                if now &- warned >= 5_000_000_000 {
                    warned = now
                    logger.warning("waiting for output deliveries before checkpoint (\(outstanding) outstanding): \(error)")
                }
            }
            // …but its consumer makes no progress meanwhile: the watchdog judges it as in the loop.
            watch(lags: partitionLags(), now: DispatchTime.now().uptimeNanoseconds)
        }
        try serveDeliveries()
        if sync != nil {
            // The records just delivered count for the group only if no other member claimed one of this member's
            // partitions before them (PartitionClaim): read the topic past them before the checkpoint keeps their
            // learning.
            try sync!.readPastOwnRecords(pipeline: &pipeline, timeout: .seconds(10))
            if noteClaims() { throw WorkerError.fenced(fencedReason!) }
        }
        syncPositions()
        let included = positions.map { InputPosition(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) }
        let flushed = DispatchTime.now().uptimeNanoseconds
        sync?.save(into: &pipeline)
        let path = try store.write(pipeline, positions: included)
        eventsSinceCheckpoint = 0
        lastCheckpoint = Date()
        checkpointsWritten += 1
        let end = DispatchTime.now().uptimeNanoseconds
        metrics.checkpointWritten(nanoseconds: end - start)
        logger.debug("checkpoint written", metadata: [
            "path": "\(path)", "reason": "\(reason)", "model_version": "\(pipeline.model.version)",
            "flush_ms": "\(Double(flushed - start) / 1e6)", "write_ms": "\(Double(end - flushed) / 1e6)",
        ])
        let commits = positions.filter { assigned.contains($0.key) }.map { KafkaTopicPartitionOffset($0.key, offset: KafkaOffset($0.value)) }
        if !commits.isEmpty {
            do {
                try consumer.commit(offsets: commits, synchronous: reason.commitsSynchronously)
            } catch {
                // The checkpoint is authoritative; a failed commit only makes the group's offsets trail further.
                logger.warning("offset commit failed (checkpoint is authoritative): \(error)")
            }
        }
    }

    // MARK: Stalls

    /// With `sync:`. A member whose process stood still (SIGSTOP, a paused VM) longer than the group's session timeout has been
    /// dropped by the group, and its partitions handed to others, which learn their events again from the last
    /// commit. Until its next poll tells it so, it could still publish increments (the others would add learning
    /// they also do: an example learned twice), a partition's pending clicks (over the new owner's) or a
    /// checkpoint. So before publishing any of those it checks the time since the loop's last sign of life (a
    /// turn's start, a rebalance's end, each second of a wait for deliveries: a frozen process gives none); past the
    /// session timeout it publishes nothing more and the loop stops with ``WorkerError/fenced(_:)``, without a
    /// checkpoint, as after a `kill -9`; the worker builds it again (``Worker``), which restores the last checkpoint
    /// and reads its own records back (see ``GroupSync``). Returns whether publishing may go on. (A lost assignment
    /// fences the loop too, in ``rebalance(_:)``, and so does another member's claim of one of its partitions,
    /// ``noteClaims()``, which also covers the moments before the member learns of its loss: every member drops its
    /// records published after that claim. docs/scaling-out.md, "What it does not cover, and how the group fences a
    /// member it dropped".)
    mutating func checkStall() -> Bool {
        if fencedReason != nil { return false }
        guard sync != nil else { return true }  // a model of its own: a lost assignment is harmless (rule 3)
        guard !FaultInjection.unawareOfLoss else { return true }
        let now = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(options.effectiveSessionTimeoutSeconds * 1e9)
        guard now &- aliveAt > limit else { return true }
        fence("the process stood still for \(Double((now &- aliveAt) / 1_000_000) / 1000) s, more than the group's session timeout (\(options.effectiveSessionTimeoutSeconds) s): its partitions may be another member's now")
        return false
    }

    /// With `sync:`: whether another member claimed a partition this member still counts as its own (``PartitionClaim``)
    /// — the group dropped it before it knew, and drops its records from that claim on. Fences the loop then, as a
    /// lost assignment does.
    mutating func noteClaims() -> Bool {
        guard let lost = sync?.lostTo else { return false }
        if fencedReason == nil {
            fence("member \(lost.member) claimed \(lost.partition.topic)[\(lost.partition.partition)] of this member: the group dropped this member (its session expired before it knew), and every member drops its increments from that claim on")
        }
        return true
    }

    /// Marks the loop fenced (``checkStall()``): it publishes nothing more and stops with ``WorkerError/fenced(_:)``.
    mutating func fence(_ why: String) {
        fencedReason = why + ". Stopping without publishing or a checkpoint; the worker restarts from its last checkpoint"
        logger.error("\(fencedReason!)")
    }

    // MARK: Rebalance

    mutating func rebalance(_ event: KafkaRebalanceEvent) throws -> KafkaRebalanceResponse {
        defer { aliveAt = DispatchTime.now().uptimeNanoseconds }
        syncPositions()
        switch event.kind {
        case .revoked:
            logger.info("partitions revoked", metadata: ["partitions": "\(event.partitions)", "lost": "\(event.isAssignmentLost)"])
            if event.isAssignmentLost, sync != nil {
                if FaultInjection.unawareOfLoss {
                    logger.warning("fault injected (FEEDLOOP_FAULT_UNAWARE_OF_LOSS): the lost assignment is ignored")
                    return .proceed
                }
                // Its partitions went to others, which learn their events again from the last commit; the replica
                // holds learning of some of them not yet published, which the group would then learn twice.
                fence("the group dropped this member (its session expired: the process stood still, or the broker was out of reach) while its replica held learning not yet published, which the partitions' new owners learn again from the last commit")
                throw WorkerError.fenced(fencedReason!)
            }
            if !event.isAssignmentLost {
                sync?.release(event.partitions.map { ClaimedPartition(topic: $0.topic, partition: $0.partition) })
                // The partitions' pending clicks go to the changelog before the checkpoint's flush and commit.
                try handover.handOver(event.partitions, removing: true, pipeline: &pipeline, positions: positions, producer: producer)
                try checkpoint(reason: .revoke)
            }
            for tp in event.partitions {
                // The position stays: the model holds those events. If the partition comes back it restarts at
                // max(committed, position), so nothing is applied twice whether the revoke's commit succeeded,
                // failed, or the assignment was lost (session timeout) before it.
                assigned.remove(tp)
            }
            return .proceed
        case .assigned:
            let committed = try committedOffsets(event.partitions)
            let previous = positions
            var starts: [KafkaTopicPartitionOffset] = []
            for tp in event.partitions {
                assigned.insert(tp)
                var group = committed.first { $0.topicPartition == tp }?.offset.value
                if let g = group, g < 0 { group = nil }  // none committed
                let mine = positions[tp]
                if checkpointPositionsWin.remove(tp) != nil, let mine {
                    if let group, group != mine {
                        logger.warning("\(tp) starts at the restored checkpoint's offset \(mine), not the group's \(group)")
                    }
                    group = nil
                }
                if let start = [group, mine].compactMap({ $0 }).max() {
                    positions[tp] = start
                    starts.append(KafkaTopicPartitionOffset(tp, offset: KafkaOffset(start)))
                }
            }
            logger.info("partitions assigned", metadata: ["partitions": "\(event.partitions)", "starts": "\(starts)"])
            if sync != nil {
                // The group's model may hold the learning of events after a start: a member that died after
                // publishing it. Those events are labelled here without learning (see GroupSync).
                // Every event below a partition's coverage is in the model, whatever the start: also where no start
                // is known (nothing committed, a member died before its first checkpoint) and the consumer's reset
                // policy picks it.
                // First the claim: from its place in the topic on, a record of a former owner that still covers one
                // of these partitions (its session expired before it knew) is dropped by every member.
                try sync!.claim(event.partitions.map { InputPosition(topic: $0.topic, partition: $0.partition, offset: positions[$0] ?? -1) })
                try sync!.catchUp(pipeline: &pipeline)
                if noteClaims() { throw WorkerError.fenced(fencedReason!) }
                for tp in event.partitions {
                    let covered = sync!.coverage(of: tp)
                    let start = positions[tp]
                    learnedBelow[tp] = covered > 0 ? covered : nil
                    if covered > 0, covered > (start ?? -1) {
                        logger.info("\(tp): the group's model holds the learning of offsets \(start.map(String.init) ?? "start")..<\(covered); they are labelled without learning")
                    }
                }
            }
            var startOffsets: [KafkaTopicPartition: (start: Int64, mine: Int64?)] = [:]
            for s in starts { if let start = s.offset.value { startOffsets[s.topicPartition] = (start, previous[s.topicPartition]) } }
            try handover.takeOver(startOffsets, pipeline: &pipeline, sink: &sink)
            // State of partitions this member holds but does not own (restored from a checkpoint of before a crash or
            // a lost assignment): their owner continues from the changelog; holding it would label those clicks twice.
            handover.dropUnowned(assigned: assigned, pipeline: &pipeline)
            return .start(at: starts)
        }
    }

    /// The group's committed offsets of newly assigned partitions. Without them the start offset cannot be chosen
    /// safely (the worker's own position may be behind events another member learned): a failed query is retried,
    /// then fails the assignment, which stops the worker without a checkpoint (a restart joins again).
    func committedOffsets(_ partitions: [KafkaTopicPartition]) throws -> [KafkaTopicPartitionOffset] {
        var attempt = 0
        while true {
            do {
                return try consumer.committed(partitions, timeout: .seconds(10))
            } catch {
                attempt += 1
                guard attempt < 3 else {
                    throw WorkerError.kafka("cannot read the group's committed offsets of \(partitions) after \(attempt) attempts: \(error)")
                }
                logger.warning("reading the group's committed offsets failed (attempt \(attempt) of 3): \(error)")
            }
        }
    }

    // MARK: Shutdown

    mutating func shutdown() throws {
        logger.info("draining: final checkpoint, flush, commit, leave group")
        // The partitions' pending clicks go to the changelog too (kept here as well: a restart that gets the same
        // partitions back continues from its checkpoint), for whichever member takes them over.
        syncPositions()
        try handover.handOver(Array(assigned), removing: false, pipeline: &pipeline, positions: positions, producer: producer)
        try checkpoint(reason: .shutdown)
        try consumer.close(onRebalance: { _ in .proceed })
        // Outputs after the checkpoint (none but the close's own) within what is left of the shutdown timeout.
        let left = deliveryDeadline().map { Int64($0) - Int64(DispatchTime.now().uptimeNanoseconds) } ?? 30_000_000_000
        try producer.flush(timeout: .nanoseconds(max(0, left)))
        if let path = options.finalSnapshotPath {
            try pipeline.model.writeSnapshot(to: path)
        }
        if let path = options.summaryPath { try writeSummary(to: path) }
        logProgress(rate: nil, lag: nil)
        logger.info("stopped", metadata: ["events": "\(pipeline.counters.events)", "model_version": "\(pipeline.model.version)"])
    }
}
