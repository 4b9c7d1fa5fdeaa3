#if canImport(Glibc)
import CMalloc
#endif
import Events
import Foundation
import Kafka
import Learning
import Logging
import Metrics
import Persistence
import Pipelines
import ServiceLifecycle
import Synchronization

/// The long-running service: consumes events, runs the pipeline step (decode → featurize → predict → label →
/// update), publishes score refreshes, adjustments and dead letters, and checkpoints model state exactly once.
///
/// ## Exactly-once model state
/// The protocol — checkpoint, commit, rebalance, restore, shutdown — is stated once, at the top of
/// `WorkerLoop+Checkpoints.swift`, with the code that keeps it.
///
/// ## Threading
/// The loop runs on its own thread (librdkafka polls block); the model is single-writer there, no locks on the
/// hot path. `run()` awaits that thread; graceful shutdown (SIGTERM/SIGINT via swift-service-lifecycle) sets a
/// flag the loop checks between polls: it stops fetching, finishes the batch, checkpoints, flushes, commits and
/// leaves the group.
///
/// ## Bounded shutdown
/// A stop ends within `shutdownTimeoutSeconds` of its request. The loop waits for output deliveries before the
/// final checkpoint only until a deadline that leaves time to write it and leave the group; when outputs are still
/// undelivered then (the broker is gone), it stops *without* a checkpoint and fails — a restart replays from the
/// last checkpoint, so nothing is lost and nothing applied twice. A backstop ends the process at the full timeout
/// whatever call is still blocked (leaving the group, librdkafka's teardown).
public final class Worker: Service, Sendable {
    let options: WorkerOptions
    let logger: Logger
    private let stopRequested = Atomic<Bool>(false)
    /// Uptime (ns) of the first stop request; 0 before one.
    private let stopRequestedAt = Atomic<UInt64>(0)
    /// The loop thread has returned (the backstop has nothing to do).
    private let finished = Atomic<Bool>(false)

    public init(options: WorkerOptions, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Asks the loop to stop gracefully (also done by service-lifecycle's graceful shutdown, and by the loop itself
    /// when `--exit-when-idle` finds it caught up). The first request starts the shutdown clock and its backstop.
    public func requestStop() {
        let now = DispatchTime.now().uptimeNanoseconds
        if stopRequestedAt.compareExchange(expected: 0, desired: now, ordering: .relaxed).exchanged {
            startBackstop()
        }
        stopRequested.store(true, ordering: .relaxed)
    }

    /// Until when the loop may wait for output deliveries before the final checkpoint (uptime ns); nil while no
    /// stop was requested. The rest of the timeout — min(5 s, a quarter of it) — is for the checkpoint itself,
    /// the commit and leaving the group.
    func deliveryDeadline() -> UInt64? {
        let requested = stopRequestedAt.load(ordering: .relaxed)
        guard requested > 0 else { return nil }
        let timeout = options.shutdownTimeoutSeconds
        return requested + UInt64((timeout - min(5, timeout / 4)) * 1e9)
    }

    /// Ends the process at the full shutdown timeout if the loop has not returned by then.
    private func startBackstop() {
        let timeout = options.shutdownTimeoutSeconds
        let logger = logger
        let thread = Thread { [self] in
            Thread.sleep(forTimeInterval: timeout)
            guard !finished.load(ordering: .relaxed) else { return }
            logger.critical(
                "the worker did not stop within --shutdown-timeout \(timeout) s: exiting now; its state is the last checkpoint written, from which a restart resumes")
            fflush(nil)
            _exit(1)
        }
        thread.name = "feedloop-shutdown-backstop"
        thread.start()
    }

    /// Builds the loop, runs it and destroys it (the Kafka clients' teardown) before returning. A loop that stops
    /// fenced (a member sharing its model that the group dropped: ``WorkerLoop/checkStall()``) is built again, as a
    /// restart would: from the last checkpoint, with new Kafka clients that join the group anew — up to
    /// ``maxFencedRestarts`` times in a row without a checkpoint between.
    private func runLoop() throws {
        var restarts = 0
        while true {
            var checkpointed = false
            do {
                var loop = try WorkerLoop<KafkaConsumer, KafkaProducer>(
                    options: options, logger: logger, stop: { self.stopRequested.load(ordering: .relaxed) },
                    requestStop: { self.requestStop() }, deliveryDeadline: { self.deliveryDeadline() })
                defer { checkpointed = loop.checkpointsWritten > 0 }
                try loop.run()
                return
            } catch WorkerError.fenced(let reason) {
                restarts = checkpointed ? 1 : restarts + 1
                guard restarts <= Self.maxFencedRestarts, !stopRequested.load(ordering: .relaxed) else {
                    throw WorkerError.fenced(reason)
                }
                logger.warning("restarting the worker from its last checkpoint (\(restarts) of at most \(Self.maxFencedRestarts) in a row)")
            }
        }
    }

    /// Restarts after a fenced stop with no checkpoint written between them, before the process gives up.
    static let maxFencedRestarts = 5

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
                let thread = Thread { [self] in
                    // The loop — its consumer, producer and their librdkafka threads — is destroyed inside
                    // `runLoop`, before the continuation resumes: once it resumes the process may exit, and exit's
                    // teardown must not race librdkafka's (that race freed memory twice at exit).
                    let outcome = Result { try runLoop() }
                    finished.store(true, ordering: .relaxed)
                    continuation.resume(with: outcome)
                }
                thread.name = "feedloop-worker"
                thread.stackSize = 8 << 20
                thread.start()
            }
        } onGracefulShutdown: {
            self.requestStop()
        }
    }
}

/// Publishes through the producer; a full local queue makes the Kafka producer's `send` poll and wait
/// (back-pressure).
struct ProducerPublisher<Producer: OutputProducer>: OutputPublisher {
    let producer: Producer
    var failure: KafkaError?

    mutating func publish(topic: String, key: UnsafeRawBufferPointer, value: [UInt8], headers: [(String, [UInt8])], token: UInt64) {
        do {
            try value.withUnsafeBytes { v in
                try producer.send(
                    topic: topic, key: key.count > 0 ? key : nil, value: v,
                    headers: headers.isEmpty ? [] : headers.map { KafkaHeader(name: $0.0, value: $0.1) }, partition: nil,
                    token: token)
            }
        } catch {
            fail(error)
        }
    }

    /// Keeps the first failure (the loop stops on it, without a checkpoint); one that is not Kafka's is wrapped.
    mutating func fail(_ error: any Error) {
        failure = failure ?? (error as? KafkaError ?? KafkaError(code: .state, message: "\(error)"))
    }
}

/// The loop's state; lives on the worker thread only. Generic over its clients: ``KafkaConsumer`` and
/// ``KafkaProducer`` in production (`Worker`), in-memory ones in the loop's tests.
struct WorkerLoop<Consumer: InputConsumer, Producer: OutputProducer> {
    let options: WorkerOptions
    let logger: Logger
    let stop: () -> Bool
    /// Starts a graceful stop from inside the loop (idle exit); see ``Worker/requestStop()``.
    let requestStop: () -> Void
    /// Until when a stopping loop may wait for output deliveries (uptime ns), nil while running.
    let deliveryDeadline: () -> UInt64?
    let consumer: Consumer
    let producer: Producer
    /// Pending clicks that follow their partition across the group (see ``PartitionHandover``).
    let handover: PartitionHandover
    /// The model exchange with the other members of the group (`sync:`), nil when off.
    var sync: GroupSync?
    /// Per partition: the offset below which the group's model already holds the events' learning (announced in
    /// the increments a member published before it died); those events are labelled without learning.
    var learnedBelow: [KafkaTopicPartition: Int64] = [:]
    /// Score refreshes not published because the replica was stale (``GroupSync``).
    var withheldRefreshes: UInt64 = 0
    /// The loop's last sign of life (uptime ns): the start of a turn, the end of a rebalance, each second of a wait
    /// for deliveries. See ``checkStall()``.
    var aliveAt = DispatchTime.now().uptimeNanoseconds
    /// Why this member must stop like after a `kill -9` (``checkStall()``, a lost assignment with `sync:`, another
    /// member's claim of one of its partitions: ``noteClaims()``).
    var fencedReason: String?
    var store: CheckpointStore
    var pipeline: Pipeline
    var sink: WorkerSink<ProducerPublisher<Producer>>
    /// Next offset to read per partition: restored from the checkpoint, advanced per message.
    var positions: [KafkaTopicPartition: Int64] = [:]
    var assigned: Set<KafkaTopicPartition> = []
    var eventsSinceCheckpoint = 0
    var lastCheckpoint = Date()
    /// Checkpoints this loop wrote.
    var checkpointsWritten = 0
    var top: [(item: Int, probability: Double)] = []
    var metrics: WorkerMetrics
    var deliveryFailures = 0
    /// The catalog-full warning went out (once per process).
    var warnedCatalogFull = false
    /// A user's or item's tower, for `outputs.vectors` (reused).
    var tower: [Float] = []
    /// Wall-clock time of the first and the latest message of this run (throughput = events / busy time).
    var firstMessageAt: Date?
    var lastMessageAt: Date?
    var eventsAtStart: UInt64 = 0
    /// Process CPU seconds (all threads) at the first and the latest message of this run (``processCPUSeconds()``).
    var cpuAtFirstMessage: Double?
    var cpuAtLastMessage: Double = 0
    /// Partitions whose first assignment starts at the restored checkpoint's offset whatever the group committed
    /// (set when newer checkpoints were unreadable; see `rebalance`).
    var checkpointPositionsWin: Set<KafkaTopicPartition> = []
    /// Messages handled (applied, rejected or skipped as already applied) by this process: the watchdog's progress.
    var messagesHandled: UInt64 = 0
    var watchdog: ProgressWatchdog
    /// The decision log's reader when the pipeline learns from rankings (`serving.learn_from_rankings`), else nil.
    var decisionParser: DecisionParser?
    /// Whether the hot partition is one of the rankings topic (its messages are decisions, not events).
    var hotIsRankings = false
    /// When the broker was last asked for watermarks it had not reported in a fetch (uptime ns).
    var lastWatermarkQuery: UInt64 = 0

    /// A loop over the given clients: restores the newest readable checkpoint of `options.checkpointDirectory`. The
    /// model exchange (`sync:`) is started by the Kafka clients' initializer.
    init(
        options: WorkerOptions, logger: Logger, consumer: Consumer, producer: Producer, handover: PartitionHandover,
        stop: @escaping () -> Bool, requestStop: @escaping () -> Void = {}, deliveryDeadline: @escaping () -> UInt64? = { nil }
    ) throws {
        self.options = options
        self.logger = logger
        self.stop = stop
        self.requestStop = requestStop
        self.deliveryDeadline = deliveryDeadline
        self.consumer = consumer
        self.producer = producer
        self.handover = handover
        watchdog = ProgressWatchdog(stallAfterSeconds: options.stallAfterSeconds, now: DispatchTime.now().uptimeNanoseconds)
        store = try CheckpointStore(directory: options.checkpointDirectory, keep: options.checkpointsKept)
        let start = try Self.restore(from: store, options: options, logger: logger)
        pipeline = start.pipeline
        positions = start.positions
        checkpointPositionsWin = start.checkpointPositionsWin
        sink = WorkerSink(
            publisher: ProducerPublisher(producer: producer), spec: options.spec,
            refreshTypes: options.refreshTypes, refreshIntervalMs: options.refreshIntervalMs,
            maxMessageBytes: options.producerMaxMessageBytes)
        metrics = WorkerMetrics(pipeline: options.spec.name)
        if options.spec.serving.learnFromRankings { decisionParser = pipeline.makeDecisionParser() }
    }

    /// Keeps glibc from growing the worker's resident memory in steps over a long run.
    ///
    /// glibc raises its mmap threshold (up to 32 MiB) whenever a large block is freed, so later large blocks —
    /// librdkafka's fetch buffers, checkpoint buffers — are carved from the heap instead, and the heap keeps them
    /// resident after they are freed: RSS steps up over a long run and stays there. With the threshold fixed, blocks
    /// above it stay mmapped and go back to the kernel when freed. 1 MiB: a lower threshold costs CPU in
    /// mmap/munmap and page faults per fetch buffer (the drains behind both are in docs/benchmarks.md, "Settings
    /// chosen by measurement"). `MALLOC_MMAP_THRESHOLD_` in the environment (glibc's own tunable) wins. Returns
    /// whether it was set here.
    ///
    /// A fixed mmap threshold also fixes glibc's trim threshold — the free memory at the top of a heap beyond which
    /// `free` gives pages back — at its 128 KiB default (glibc's dynamic rule would have kept it at twice the mmap
    /// threshold). Blocks of tens to hundreds of KiB that come and go (fetch buffers, the outputs' and the increments'
    /// messages) then shrink and regrow the heaps page by page, each regrown page a page fault: 4 MiB here
    /// (`MALLOC_TRIM_THRESHOLD_` wins). Measured on a 1.55M-event drain (MF, 2026-12-07): minor page faults 209k →
    /// 124k–138k with `sync:` every 250, and 149k–173k → 121k–136k without (trim thresholds of 2–64 MiB); peak RSS
    /// +10 MB at 4 MiB.
    static func fixAllocatorThreshold() -> Bool {
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        if environment["MALLOC_TRIM_THRESHOLD_"] == nil { _ = mallopt(M_TRIM_THRESHOLD, 4 << 20) }
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil else { return false }
        return mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1
        #else
        return false
        #endif
    }

    // MARK: Loop

    mutating func run() throws {
        // Learning from rankings, the decision log is an input like the event topics (co-partitioned with them:
        // DecisionLogTopic).
        try consumer.subscribe(topics: options.spec.inputTopics + (decisionParser != nil ? [options.spec.serving.rankingsTopic] : []))
        var lastMessage = Date()
        var lastTurnEnd = lastMessage
        var lastProgress = Date()
        var progressEvents = pipeline.counters.events
        var lastLagCheck: UInt64 = 0
        var lags: [(partition: KafkaTopicPartition, lag: Int64?)] = []  // as of the last check (each second)
        var lastIdleNotice: UInt64 = 0
        while !stop() {
            options.heartbeat?.beat()
            let pollStart = DispatchTime.now().uptimeNanoseconds
            if !checkStall() { throw WorkerError.fenced(fencedReason ?? "") }  // stood still between two turns
            aliveAt = pollStart
            batchStart = 0  // set at the batch's first message (the poll may first wait for one)
            let pollStartDate = Date()
            let pollStartCPU = firstMessageAt == nil ? processCPUSeconds() : 0
            // While outputs await the broker's acknowledgement, wait for input 1 ms at a time so their delivery
            // reports (failures, and the score-delivered delay) are served promptly; otherwise up to 100 ms.
            let wait: Duration = producer.outstandingCount + (sync?.outstandingCount ?? 0) > 0 ? .milliseconds(1) : .milliseconds(100)
            // A batch stays far below the catalog's eviction guard: catalog indices the sink holds for one batch
            // stay valid (see ItemCatalog).
            let batch = min(options.maxMessagesPerPoll, Int(ItemCatalog.evictionGuardEvents / 4))
            let eventsBeforePoll = pipeline.counters.events  // (a batch may hold decisions too, which are no events)
            let n = try consumer.poll(timeout: wait, maxMessages: batch, onRebalance: { event in
                try self.rebalance(event)
            }) { message in
                self.handle(message)
            }
            if let fencedReason { throw WorkerError.fenced(fencedReason) }
            publishPending()
            options.servingView?.offer(pipeline)  // the ranking API's view of the model (ServingView)
            if sync != nil {
                let now = DispatchTime.now().uptimeNanoseconds
                if sync!.isTimeDue(now: now) { publishIncrements() }
                // The group's learning still arriving is no idleness (--exit-when-idle): a member that drained its
                // partitions stays until the others' last records are in its replica.
                if try sync!.poll(pipeline: &pipeline, now: now) > 0 { lastMessage = Date() }
                if noteClaims() { throw WorkerError.fenced(fencedReason!) }
            }
            if n > 0 {
                lastMessage = Date()
                if firstMessageAt == nil { firstMessageAt = pollStartDate; eventsAtStart = eventsBeforePoll; cpuAtFirstMessage = pollStartCPU }
                lastMessageAt = lastMessage
                cpuAtLastMessage = processCPUSeconds()
                metrics.batch(events: n, nanoseconds: DispatchTime.now().uptimeNanoseconds - pollStart)
                metrics.observe(pipeline: pipeline, sink: sink.published, truncatedDeadLetters: sink.truncatedDeadLetters)
            }
            try serveDeliveries()
            if eventsSinceCheckpoint >= options.checkpointEveryEvents
                || (eventsSinceCheckpoint > 0 && Date().timeIntervalSince(lastCheckpoint) >= options.checkpointEverySeconds) {
                try checkpoint(reason: .periodic)
            }
            metrics.checkpointAge(Date().timeIntervalSince(lastCheckpoint))
            let now = DispatchTime.now().uptimeNanoseconds
            if now &- lastLagCheck >= 1_000_000_000 {
                lastLagCheck = now
                lags = partitionLags()
                watch(lags: lags, now: now)
                sync?.checkStaleness(now: now)
            }
            if options.progressEverySeconds > 0, Date().timeIntervalSince(lastProgress) >= options.progressEverySeconds {
                let elapsed = Date().timeIntervalSince(lastProgress)
                logProgress(rate: Double(pipeline.counters.events - progressEvents) / elapsed, lag: totalLag(lags))
                progressEvents = pipeline.counters.events
                lastProgress = Date()
            }
            // Idle time counts while partitions are assigned (joins are slow; and a member without partitions cannot
            // tell that the input is done — during a broker outage, say, its assignment is lost): the idle clock
            // pauses while there are none, and goes on where it stopped when partitions come back, so the members
            // of a group that drained its input leave one after another without each waiting a full period again.
            let turnEnd = Date()
            if assigned.isEmpty { lastMessage += turnEnd.timeIntervalSince(lastTurnEnd) }
            lastTurnEnd = turnEnd
            if let idle = options.exitWhenIdleSeconds, !assigned.isEmpty, Date().timeIntervalSince(lastMessage) >= idle {
                // A loop that stood still past the session timeout in this turn (frozen in the poll, its idle time
                // grown meanwhile) may no longer own its partitions, and its poll may not have said so yet: it is
                // fenced here, before a shutdown would hand its partitions' pending clicks to the changelog (the
                // final checkpoint's own stall check comes after that).
                if !checkStall() { throw WorkerError.fenced(fencedReason ?? "") }
                // Idle is not done: exit only when every assigned partition is read to its end (a stuck fetch
                // also looks idle). The broker is asked for end offsets it has not reported in a fetch.
                var idleLags = partitionLags()
                if totalLag(idleLags) == 0 { idleLags = partitionLags(ask: .seconds(2)) }  // confirmed by the broker
                if totalLag(idleLags) == 0 {
                    logger.info("no input for \(idle) s and caught up on every assigned partition: stopping")
                    requestStop()
                    break
                }
                if now &- lastIdleNotice >= UInt64(idle * 1e9) {
                    lastIdleNotice = now
                    logger.info("no input for \(idle) s but not caught up: waiting", metadata: ["lag": "\(Self.describe(idleLags))"])
                }
            }
        }
        do {
            try shutdown()
        } catch {
            // Leaving the group would wait for a broker that does not answer: the process ends now (the group
            // reassigns the partitions after the session timeout; a restart resumes from the last checkpoint).
            consumer.abandon()
            throw error
        }
    }

    // MARK: Lag and the progress watchdog

    /// The lag of each assigned partition: its end offset (the high watermark of the latest fetch response, or the
    /// broker's answer) minus the next offset to read; nil where the end offset is not known. With `ask`, the
    /// broker is asked (up to `ask` per partition) for every partition; without, only for partitions no fetch has
    /// reported yet, at most every 10 s and for 1 s (the loop must keep turning while the broker is away).
    mutating func partitionLags(ask: Duration? = nil) -> [(partition: KafkaTopicPartition, lag: Int64?)] {
        syncPositions()
        let now = DispatchTime.now().uptimeNanoseconds
        var mayAsk = ask != nil
        if ask == nil, now &- lastWatermarkQuery >= 10_000_000_000 { mayAsk = true }
        var result: [(partition: KafkaTopicPartition, lag: Int64?)] = []
        for tp in assigned.sorted(by: { ($0.topic, $0.partition) < ($1.topic, $1.partition) }) {
            var marks = consumer.cachedWatermarks(for: tp)
            if mayAsk && (ask != nil || marks == nil) {
                lastWatermarkQuery = now
                if let asked = try? consumer.watermarks(for: tp, timeout: ask ?? .seconds(1)) {
                    // Tansu answers a batch's base offset + 1 as the high watermark; a fetch's is exact: keep the larger.
                    marks = (low: asked.low, high: max(asked.high, marks?.high ?? 0))
                }
            }
            guard let marks else {
                result.append((tp, nil))
                continue
            }
            var next = positions[tp]
            if next == nil, let position = (try? consumer.position([tp]))?.first?.offset.value, position >= 0 { next = position }
            result.append((tp, max(0, marks.high - (next ?? marks.low))))
        }
        return result
    }

    /// Messages waiting over all assigned partitions; -1 when a partition's end is not known.
    func totalLag(_ lags: [(partition: KafkaTopicPartition, lag: Int64?)]) -> Int64 {
        var total: Int64 = 0
        for entry in lags {
            guard let lag = entry.lag else { return -1 }
            total += lag
        }
        return total
    }

    static func describe(_ lags: [(partition: KafkaTopicPartition, lag: Int64?)]) -> String {
        lags.map { "\($0.partition.topic)[\($0.partition.partition)]=\($0.lag.map(String.init) ?? "?")" }.joined(separator: " ")
    }

    /// Feeds the watchdog and acts on its transitions: log, `/healthz`, `feedloop_stalled`.
    mutating func watch(lags: [(partition: KafkaTopicPartition, lag: Int64?)], now: UInt64) {
        metrics.lag(totalLag(lags))
        let named = lags.map { (partition: "\($0.partition.topic)[\($0.partition.partition)]", lag: $0.lag) }
        switch watchdog.observe(handled: messagesHandled, lag: named, now: now) {
        case .stalled(let reason):
            logger.warning("\(reason)")
            options.heartbeat?.reportConsumerStall(reason)
            metrics.stalled(true)
        case .recovered:
            logger.info("consumer progresses again")
            options.heartbeat?.reportConsumerStall(nil)
            metrics.stalled(false)
        case nil:
            break
        }
    }

    /// The current message's partition and its next offset, kept out of `positions` while messages of the same
    /// partition follow each other (no topic-name String or hashing per message); see ``syncPositions()``.
    var hot: (identity: UnsafeRawPointer?, tp: KafkaTopicPartition, next: Int64?, index: Int, learnedBelow: Int64)? = nil

    /// Writes the hot partition's position back into `positions` (before anything reads them).
    mutating func syncPositions() {
        if let h = hot, let next = h.next { positions[h.tp] = next }
        hot = nil
    }

    mutating func handle(_ message: Consumer.Message) {
        if batchStart == 0 { batchStart = DispatchTime.now().uptimeNanoseconds }
        messagesHandled &+= 1
        if hot == nil || hot!.identity != message.topicIdentity || hot!.tp.partition != message.partition {
            syncPositions()
            let tp = KafkaTopicPartition(topic: message.topic, partition: message.partition)
            hot = (
                message.topicIdentity, tp, positions[tp], pipeline.partitionIndex(topic: tp.topic, partition: tp.partition),
                learnedBelow[tp] ?? .min)
            sink.source.topic = tp.topic
            sink.source.partition = tp.partition
            hotIsRankings = decisionParser != nil && tp.topic == options.spec.serving.rankingsTopic
        }
        if let known = hot!.next, message.offset < known { return }  // already in the model (re-delivery)
        sink.source.offset = message.offset
        sink.source.timestampMs = message.timestamp?.milliseconds ?? 0
        sink.key = message.key ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let value = message.value ?? UnsafeRawBufferPointer(start: nil, count: 0)
        if sync != nil { pipeline.learns = message.offset >= hot!.learnedBelow }
        if hotIsRankings {
            // A decision: its shown items become pending examples. The featurizer then holds the ranking's rows, so
            // a refresh pending for the last event's user goes out first.
            if sink.refreshDue { publishRefresh() }
            sink.modelVersion = pipeline.model.version  // outputs of the examples it closes carry it, as for events
            pipeline.processDecision(value, partition: hot!.index, parser: &decisionParser!, sink: &sink)
        } else if let event = pipeline.decode(value, sink: &sink) {
            // The pipeline still holds the previous event: a run of another user ends here.
            if sink.refreshDue(otherThan: event.userID) { publishRefresh() }
            sink.modelVersion = pipeline.model.version
            pipeline.apply(event, partition: hot!.index, sink: &sink)
            if sink.refreshDue, pipeline.lastItem >= 0, pipeline.isFeedback(event.type) { sink.refreshExcluded.append(pipeline.lastItem) }
        }
        hot!.next = message.offset + 1
        eventsSinceCheckpoint += 1
        if let s = sync {
            if s.isDue(labelled: pipeline.counters.labelled, touchedSlots: pipeline.touchedSlotCount) {
                publishIncrements()
            } else if messagesHandled % Self.incrementsReadEvery == 0 {
                readIncrements()
            }
        }
    }

    /// Within a poll batch the others' records are read after every publish and every this many messages. Draining a
    /// backlog a member handles some 30,000 events per second and a batch of 4,096 takes over 100 ms: read only at
    /// its publishes (every 1,000 examples, ~1,500 events) and the batch's end, the others' records waited 22–46 ms
    /// at the median, one member's up to 85 ms (bench/group, MF every 1000, backlog, 2026-12-07), for a transport of
    /// ~10 ms. An empty read is a look at librdkafka's queue: `perf` put the loop's reads at 0.2 % of its samples.
    static var incrementsReadEvery: UInt64 { 128 }

    /// Publishes the replica's increments to the group with the coverage of the assigned partitions (see
    /// ``GroupSync``). A failure to enqueue stops the worker like any output's (no checkpoint).
    mutating func publishIncrements() {
        guard sync != nil, checkStall() else { return }
        syncPositions()
        let coverage = positions.filter { assigned.contains($0.key) }.map {
            InputPosition(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value)
        }
        do {
            try sync!.publish(pipeline: &pipeline, coverage: coverage)
        } catch {
            sink.publisher.fail(error)
            return
        }
        readIncrements()  // …and takes the others' that arrived
    }

    /// Applies the others' records that arrived (within a long poll batch too, so that a replica lacks about one
    /// interval of each other member's learning, not a batch's). A failure stops the worker like an output's
    /// (``ProducerPublisher/fail(_:)``).
    mutating func readIncrements() {
        do {
            try sync!.poll(pipeline: &pipeline, now: DispatchTime.now().uptimeNanoseconds)
            _ = noteClaims()  // the loop and the checkpoint stop at `fencedReason`
        } catch {
            sink.publisher.fail(error)
        }
    }

    /// When the current poll batch's first message was handed over (monotonic ns; 0 before it): every message of
    /// a refresh's run came at or after it, so `now − batchStart` bounds the refresh's time inside the worker
    /// (messages already queued in librdkafka before the poll count from the poll).
    var batchStart: UInt64 = 0
    /// Per refresh: the batch's first message → score handed to the producer (in the worker), and the input
    /// message's Kafka timestamp → the same moment (broker hop included). Summarised in `--summary-json`.
    var inWorkerDelay = DelayHistogram()
    var eventToScoreDelay = DelayHistogram()
    /// Per score message: the input message's Kafka timestamp → the broker's acknowledgement of the score (seen when
    /// the loop serves delivery reports, so late by at most one loop turn; see `run`).
    var eventToDeliveredDelay = DelayHistogram()

    /// Publishes the pending score refresh: the top-K candidates for the user of the last applied event.
    mutating func publishRefresh() {
        if let s = sync, s.stale {
            // The replica lacks the group's recent learning by an unknown amount: no scores from it.
            sink.refreshSkipped()
            withheldRefreshes &+= 1
            return
        }
        sink.modelVersion = pipeline.model.version
        pipeline.topItems(k: options.spec.outputs.topK, excluding: sink.refreshExcluded, into: &top)
        sink.publishScores(items: top, catalog: pipeline.catalog)
        if options.spec.outputs.vectors, let linear = pipeline.userTower(into: &tower) {
            sink.publishUserVector(tower, linear: linear)
        }
        if batchStart > 0 { inWorkerDelay.record(nanoseconds: DispatchTime.now().uptimeNanoseconds &- batchStart) }
        if sink.refreshFirstMessageMs > 0 {
            let ms = RealtimeClock.milliseconds() - sink.refreshFirstMessageMs
            metrics.scoreDelay(milliseconds: ms)
            eventToScoreDelay.record(nanoseconds: UInt64(max(0, ms)) * 1_000_000)
        }
    }

    /// Hands everything pending to the producer: the refresh of the last user run and the batch's item-bias
    /// shifts. At the end of each poll batch and before every checkpoint.
    mutating func publishPending() {
        if sink.refreshDue { publishRefresh() }
        sink.modelVersion = pipeline.model.version
        if options.spec.outputs.vectors {
            // Every item that learned in the batch (its tower moved), whether or not its bias moved enough to publish.
            for shift in sink.biasShifts {
                if let linear = pipeline.itemTower(shift.item, into: &tower) {
                    sink.publishItemVector(shift, tower, linear: linear, catalog: pipeline.catalog)
                }
            }
        }
        sink.publishBiasShifts(catalog: pipeline.catalog)
    }

    /// Delivery reports: failures after librdkafka's own retries stop the worker without a checkpoint.
    mutating func serveDeliveries() throws {
        var failed: KafkaDeliveryReport?
        var nowMs: Int64 = 0
        var refused: [UInt64] = []
        _ = producer.poll(timeout: .zero) { report in
            if DeadLetterToken.isDeadLetter(report.token) {
                if report.isDelivered {
                    sink.deadLetterDelivered(token: report.token)
                    return
                }
                if let code = report.error?.code, code == .messageSizeTooLarge || code == .recordListTooLarge {
                    refused.append(report.token)
                    return
                }
            }
            if !report.isDelivered {
                failed = failed ?? report
            } else if let eventMs = ScoreToken.eventTimestampMs(report.token) {
                if nowMs == 0 { nowMs = RealtimeClock.milliseconds() }
                metrics.scoreDelivered(milliseconds: nowMs - eventMs)
                eventToDeliveredDelay.record(nanoseconds: UInt64(max(0, nowMs - eventMs)) * 1_000_000)
            }
        }
        for token in refused {
            // The broker refused a large dead letter (its topic accepts less than the producer's limit): its bounded
            // record goes instead, so the input cannot stop the worker.
            let topic = options.spec.outputs.deadLetterTopic
            guard sink.deadLetterRefused(token: token) else {
                throw WorkerError.kafka("the broker refused a dead letter for \(topic) as too large; stopping without a checkpoint")
            }
            logger.warning("the broker refused a dead letter as too large for \(topic): published its bounded record instead")
        }
        if sync != nil {
            do {
                try sync!.serveDeliveries()
            } catch {
                metrics.deliveryFailure()
                throw error
            }
        }
        if let failed {
            metrics.deliveryFailure()
            throw WorkerError.kafka("delivery to \(failed.topic) failed: \(failed.error.map { "\($0)" } ?? "?"); stopping without a checkpoint so a restart replays from the last one")
        }
        if let failure = sink.publisher.failure {
            throw WorkerError.kafka("cannot enqueue output: \(failure); stopping without a checkpoint")
        }
    }

    /// The exit summary: what this worker applied (cumulative over restarts, from its checkpoints).
    func writeSummary(to path: String) throws {
        let c = pipeline.counters
        var summary: [String: Any] = [
            "pipeline": options.spec.name,
            "events": c.events, "rejected": c.rejected, "rejected_by_reason": c.rejectedByReason,
            "examples": c.examples, "labelled": c.labelled, "positives": c.positives,
            "expired_negatives": c.expiredNegatives, "overflow_negatives": c.overflowNegatives,
            "unattributed_feedback": c.unattributedFeedback,
            // The decision log as an input (serving.learn_from_rankings; docs/serving.md, "Rewards").
            "rankings": c.rankings, "rankings_rejected": c.rankingsRejected, "ranking_examples": c.rankingExamples,
            "rewards": c.rewards, "rewards_attributed": c.rewardsAttributed, "rewards_unknown_ranking": c.rewardsUnknownRanking,
            "rewards_held": pipeline.heldRewardCount,
            "pending": pipeline.join.pendingCount, "model_version": pipeline.model.version,
            // The progressive metrics are not part of a checkpoint: they cover the examples labelled since this process
            // last restored one (`progressive_examples`), and are null when there are none (a 0 would read as perfect).
            "progressive_examples": pipeline.metrics.count,
            "logloss": pipeline.metrics.count > 0 ? pipeline.metrics.logloss : NSNull(),
            "auc": pipeline.metrics.count > 0 && pipeline.metrics.auc.isFinite ? pipeline.metrics.auc : NSNull(),
            "positions": positions.map { ["topic": $0.key.topic, "partition": $0.key.partition, "offset": $0.value] as [String: Any] },
            "run": [
                "events": pipeline.counters.events - eventsAtStart,
                "first_message_at": firstMessageAt?.timeIntervalSince1970 ?? 0,
                "last_message_at": lastMessageAt?.timeIntervalSince1970 ?? 0,
                "busy_seconds": (lastMessageAt?.timeIntervalSince(firstMessageAt ?? Date()) ?? 0),
                "cpu_seconds": cpuAtFirstMessage.map { cpuAtLastMessage - $0 } ?? 0,
            ] as [String: Any],
            "published": [
                "scores": sink.published.scores, "adjustments": sink.published.adjustments,
                "dead_letters": sink.published.deadLetters, "dead_letters_truncated": sink.truncatedDeadLetters,
            ],
            // Score refresh delays of this run: inside the worker (batch's first message → handed to the
            // producer), from the input's Kafka timestamp to that moment (ms resolution; includes the producer →
            // broker → worker hop), and from the input's timestamp to the broker's acknowledgement of the score.
            "score_delay": [
                "in_worker": inWorkerDelay.summary, "from_event_timestamp": eventToScoreDelay.summary,
                "delivered_from_event_timestamp": eventToDeliveredDelay.summary,
            ],
        ]
        // The AUC histogram's non-empty bins: the summaries of a group's members add up to the AUC of their examples
        // together (bench/group).
        let histogram = pipeline.metrics.aucHistogram
        summary["auc_histogram"] = [
            "bins": histogram.bins, "non_empty": histogram.nonEmpty.map { [$0.bin, $0.positive, $0.negative] as [Any] },
        ] as [String: Any]
        if let s = sync {
            summary["sync"] = [
                "member": s.member, "topic": s.topic, "own_sequence": s.state.ownSequence, "read_to_offset": s.state.nextOffset,
                "applied": s.state.applied, "examples_learned_elsewhere": pipeline.examplesLearnedElsewhere,
                "withheld_refreshes": withheldRefreshes,
                "run": [
                    "published_records": s.totals.published, "published_bytes": s.totals.publishedBytes,
                    "applied_records": s.totals.applied, "applied_bytes": s.totals.appliedBytes,
                    "gap_rereads": s.totals.gapRereads, "dropped_records": s.totals.dropped,
                    "apply_delay": s.applyDelay.summary,
                ] as [String: Any],
            ] as [String: Any]
        }
        let data = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(Array(data), to: path)
    }

    mutating func logProgress(rate: Double?, lag: Int64?) {
        let m = pipeline.metrics
        var meta: Logger.Metadata = [
            "events": "\(pipeline.counters.events)", "examples": "\(m.count)", "rejected": "\(pipeline.counters.rejected)",
            "logloss": "\(String(format: "%.4f", m.logloss))", "auc": "\(String(format: "%.4f", m.auc))",
            "scores": "\(sink.published.scores)", "adjustments": "\(sink.published.adjustments)",
            "dead_letters": "\(sink.published.deadLetters)",
        ]
        if let rate { meta["events_per_second"] = "\(Int(rate))" }
        if options.spec.serving.learnFromRankings {
            let c = pipeline.counters
            meta["rankings"] = "\(c.rankings)"
            meta["ranking_examples"] = "\(c.rankingExamples)"
            meta["rewards_attributed"] = "\(c.rewardsAttributed)"
            meta["rewards_unknown_ranking"] = "\(c.rewardsUnknownRanking)"
        }
        if let lag { meta["lag"] = "\(lag)" }
        if pipeline.catalog.overflow > 0 { meta["catalog_refused_items"] = "\(pipeline.catalog.overflow)" }
        logger.info("progress", metadata: meta)
        if pipeline.catalog.overflow > 0 && !warnedCatalogFull {
            warnedCatalogFull = true
            logger.warning(
                "item catalog full (outputs.catalog_capacity \(pipeline.catalog.capacity)) with no item cold enough to evict: new items are learned but not scored as candidates until one is; raise catalog_capacity (a restart keeps the model)")
        }
    }
}

extension WorkerLoop where Consumer == KafkaConsumer, Producer == KafkaProducer {
    /// The production loop: Kafka clients for `options.brokers`, the output topics created when asked, the model
    /// exchange started when the pipeline shares its model.
    init(
        options: WorkerOptions, logger: Logger, stop: @escaping () -> Bool, requestStop: @escaping () -> Void = {},
        deliveryDeadline: @escaping () -> UInt64? = { nil }
    ) throws {
        logger.info("starting worker", metadata: [
            "pipeline": "\(options.spec.name)", "librdkafka": "\(KafkaRuntime.version)", "brokers": "\(options.brokers)",
            "group": "\(options.groupID)", "checkpoints": "\(options.checkpointDirectory)",
        ])
        if Self.fixAllocatorThreshold() {
            logger.debug("malloc: mmap threshold fixed at 1 MiB (set MALLOC_MMAP_THRESHOLD_ to choose another)")
        }
        if KafkaRuntime.runtimeVersion < KafkaRuntime.minimumVersionForTaggedFields {
            logger.warning("librdkafka \(KafkaRuntime.version) mis-reads tagged protocol fields (fixed in 2.1.2); use a newer runtime (see docs/development.md)")
        }
        var config = KafkaConfiguration(brokers: options.brokers, clientID: "feedloop-worker", groupID: options.groupID)
        if let seconds = options.sessionTimeoutSeconds { config.sessionTimeout = .milliseconds(Int64(seconds * 1000)) }
        config.properties = options.kafkaProperties
        // Latency: librdkafka's default fetch wait (500 ms) holds a fetch that long when a partition has little data;
        // a scoring service wants new events at once. Overridable with --kafka-property fetch.wait.max.ms=N.
        // A consumer-only default, kept off the producer and admin clients (librdkafka warns about it there).
        var consumerConfig = config
        consumerConfig.properties = ["fetch.wait.max.ms": "10"].merging(options.kafkaProperties) { _, explicit in explicit }
        let consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
        // Outputs keep librdkafka's 5 ms linger: a shorter one saves a few ms of score latency but costs throughput
        // in wake-ups and produce requests (docs/benchmarks.md, "Settings chosen by measurement").
        // --kafka-property linger.ms=N to trade.
        // Not idempotent, one request in flight (both overridable with --kafka-property): librdkafka's idempotent
        // producer (2.16) counts the *messages* in flight against its window of 5 requests, so once a request of 5 or
        // more is out it sends no other — one in flight, as here — and while the next batch's linger is over, its
        // broker thread polls with no timeout until the answer comes. That spin grew with the broker's load (with
        // `sync:` on, 0.35 → 0.47 µs of that thread's CPU per event), the order is the same with one request in flight,
        // and the outputs are at least once already (after a restart they repeat, with the input offset to dedupe):
        // a retry whose first answer was lost can now repeat a batch too (docs/worker.md, "Client defaults").
        var outputsConfig = config
        outputsConfig.idempotentProducer = false
        outputsConfig.properties = ["acks": "all", "max.in.flight.requests.per.connection": "1"]
            .merging(options.kafkaProperties) { _, explicit in explicit }
        let producer = try KafkaProducer(configuration: outputsConfig, logger: logger)
        let handover = PartitionHandover(
            topic: PartitionHandover.topicName(group: options.groupID, pipeline: options.spec.name), configuration: config,
            logger: logger)
        if options.createOutputTopics {
            let admin = try KafkaAdmin(configuration: config, logger: logger)
            let o = options.spec.outputs
            try admin.createTopics([
                KafkaNewTopic(name: o.scoresTopic, partitions: 1, configs: ["cleanup.policy": "compact"]),
                KafkaNewTopic(name: o.adjustmentsTopic, partitions: 1),
                KafkaNewTopic(name: o.deadLetterTopic, partitions: 1),
                KafkaNewTopic(name: handover.topic, partitions: 1, configs: ["cleanup.policy": "compact"]),
            ] + (options.spec.sync.enabled
                ? [KafkaNewTopic(name: GroupSync.topicName(group: options.groupID, pipeline: options.spec.name), partitions: 1)] : [])
                // An input when learning from rankings (created here too when this worker does not serve them).
                + (options.spec.serving.learnFromRankings
                ? [KafkaNewTopic(
                    name: options.spec.serving.rankingsTopic,
                    partitions: DecisionLogTopic.partitions(admin: admin, spec: options.spec, logger: logger))] : []),
                ignoreExisting: true)
        }
        try self.init(
            options: options, logger: logger, consumer: consumer, producer: producer, handover: handover, stop: stop,
            requestStop: requestStop, deliveryDeadline: deliveryDeadline)
        if options.spec.sync.enabled {
            pipeline.trackModelIncrements()
            let member = try GroupSync.memberID(explicit: options.memberID, directory: options.checkpointDirectory)
            var exchange = try GroupSync(group: options.groupID, member: member, pipeline: pipeline, configuration: config, logger: logger)
            try exchange.start()
            // The group's learning since the checkpoint (and this member's own, published before a crash).
            try exchange.catchUp(pipeline: &pipeline)
            sync = exchange
        }
    }
}
