import CoreMetrics
import Dispatch
import Foundation
import Kafka
import Learning
import Logging
import Metrics
import Persistence
import Pipelines

/// One model across a consumer group (`sync:` in the pipeline): every member holds a replica, publishes what it
/// learned as increments (``IncrementsRecord``) to the group's increments topic, and adds every other member's
/// (the merge rule: docs/scaling-out.md).
///
/// ## Exactly once
/// - Each record carries (member, sequence); a member applies another's records in sequence order and drops one
///   it has applied (``GroupSyncState/applied``). The topic has one partition: every member reads the same order.
/// - A member publishes its increments before each checkpoint, and the checkpoint keeps its own sequence number, the
///   topic offset it has read to, and the sequence applied per member (``Pipeline/groupState``): the model in a
///   checkpoint is exactly "its own records up to `ownSequence` + the others' up to `applied`".
/// - Each record also carries its *coverage*: the next offset of every input partition the member owned — every
///   event before it is learned and in this or an earlier record. A member that restarts from an older checkpoint
///   (a `kill -9`) reads its own newer records back and adds them like the others'; whoever takes a partition over
///   (the restarted member or another one) then goes over the events between the committed offset and the
///   coverage with learning off (``Pipeline/learns``): they are labelled and counted once, and learned once — by
///   the member that published them.
/// - Each record names the run of the loop that published it (``runHeader``). A record an earlier run had in flight
///   when it stopped, landing after the next run's claim, is dropped by every member: the next run learns those
///   events again under the same sequence number.
///
/// ## Staleness
/// A member publishes after `sync.every` labelled examples (fewer while the model is young: `sync.ramp`,
/// ``SyncSpec/examplesBeforeExchange(version:)``) or `sync.interval` of wall time, whichever comes first, and reads
/// the others' records at every turn of its loop, after each publish and every 128 messages of a poll batch. It
/// checks every second that it has read the topic to its end; after `sync.max_staleness` without, it withholds score
/// refreshes (its model lacks the others' recent learning by an unknown amount) and says so, until it reads to the
/// end again.
struct GroupSync {
    let topic: String
    let member: String
    let spec: SyncSpec
    let fingerprint: UInt32
    let stride: Int
    let slots: Int
    /// Leading floats of a slot that this build's records leave out and an earlier build's carry (FTRL's weight).
    let skipped: Int
    let logger: Logger
    let consumer: KafkaConsumer
    /// The records' own producer, with a 2 ms linger (see ``init``); its deliveries are awaited by every checkpoint.
    let producer: KafkaProducer
    var state = GroupSyncState()
    /// The pipeline's labelled examples at the last publish, and those at which the count trigger asks for the next
    /// (`UInt64.max`: never).
    var examplesAtSync: UInt64 = 0
    var examplesDue: UInt64 = .max
    /// Uptime (ns) of the last publish.
    var lastSyncAt: UInt64
    /// When the topic was last read to its end, and whether that is longer ago than `sync.max_staleness`.
    var bound: StalenessBound
    /// Per other member: uptime (ns) when its newest record was applied, and that record's Kafka timestamp (ms).
    var members: [String: (appliedAt: UInt64, timestampMs: Int64)] = [:]
    /// Members whose records were refused (other pipeline definition), each reported once.
    var refusedMembers: Set<String> = []
    var metrics: GroupSyncMetrics
    /// The offset the reader last went back to for records that had not arrived, and how often (``inOrder(offset:)``).
    var gapRetries: (offset: Int64, count: Int) = (-1, 0)
    /// Records and bytes published and applied by this process (the summary's; the metrics count the same), and
    /// records dropped as a former owner's (``PartitionClaim``) or an earlier run's (``runHeader``).
    var totals = (published: 0, publishedBytes: 0, applied: 0, appliedBytes: 0, gapRereads: 0, dropped: 0)
    /// Per other member's record applied: from its Kafka timestamp (the publisher's clock when it enqueued the record)
    /// to this member's clock when it added the record — the exchange's transport delay (the producer's linger, the
    /// broker, the reader's fetch wait, the loop turn), on top of the interval. The summary's `sync.run.apply_delay`.
    var applyDelay = DelayHistogram()
    /// The partitions' owners by the claims read, and whether one of this run's was claimed away.
    var ledger: ClaimLedger
    /// The greatest offset of this member's records (increments and claims) reported delivered.
    var deliveredThrough: Int64 = -1

    /// A record must stay below the producer's and the broker's message limits (1 MB by default): a member publishes
    /// early when its touched slots would make a larger one.
    static let maxRecordBytes = 768 * 1024

    /// `feedloop.<group>.<pipeline>.increments`.
    static func topicName(group: String, pipeline: String) -> String { "feedloop.\(group).\(pipeline).increments" }

    /// The member id: `explicit` (`--member-id`), else the one kept in `directory/member-id`, else a new random one
    /// written there (it must outlive restarts: other members deduplicate by it).
    static func memberID(explicit: String?, directory: String) throws -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        let path = directory + "/member-id"
        if let bytes = try? AtomicFile.read(from: path) {
            let id = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !id.isEmpty { return id }
        }
        var generator = SystemRandomNumberGenerator()
        let id = "m-" + String(generator.next() as UInt64, radix: 16)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try AtomicFile.write(Array((id + "\n").utf8), to: path)
        return id
    }

    init(
        group: String, member: String, pipeline: Pipeline, configuration: KafkaConfiguration, logger: Logger
    ) throws {
        topic = Self.topicName(group: group, pipeline: pipeline.spec.name)
        self.member = member
        spec = pipeline.spec.sync
        fingerprint = pipeline.specFingerprint
        (stride, slots) = pipeline.model.incrementLayout
        skipped = pipeline.model.incrementSkippedFloats
        self.logger = logger
        var config = configuration
        config.groupID = "feedloop-increments-reader"  // assign-only: no group join, nothing committed
        // The others' increments are wanted at once (a replica lacks what is in flight): no long fetch wait.
        config.properties = ["fetch.wait.max.ms": "10"].merging(configuration.properties) { _, explicit in explicit }
        consumer = try KafkaConsumer(configuration: config, logger: logger)
        // A producer of its own: the outputs' producer lingers (5 ms by default, or what --kafka-property linger.ms
        // sets) to batch scores; a record waiting there is learning the other replicas lack. Here 2 ms: live, a
        // member publishes a record every few tens of milliseconds and each goes out after at most 2 ms; draining a
        // backlog it publishes one every ~0.7 ms (MF every 100 examples), and the linger puts several in one
        // request instead of a request, an answer and the wake-ups of librdkafka's threads for each — measured
        // (bench/sync-overhead, MF every 100): the worker's CPU per event 1.15× sync off against 1.35× with no
        // linger (1 ms: 1.25×), three members' quality within 0.002 of one worker (docs/scaling-out.md).
        // One request in flight: the records of a member must land in sequence order (a reader drops a record whose
        // sequence is not above the last it applied from that member), and with several in flight a retried request
        // lands after a later one (measured: sequence 119 after 117, then 118 dropped, its learning lost to the others).
        var producerConfig = configuration
        producerConfig.properties = configuration.properties.merging(
            ["linger.ms": "2", "max.in.flight.requests.per.connection": "1"]) { _, forced in forced }
        producer = try KafkaProducer(configuration: producerConfig, logger: logger)
        let now = DispatchTime.now().uptimeNanoseconds
        lastSyncAt = now
        bound = StalenessBound(maxStalenessMs: pipeline.spec.sync.maxStalenessMs, now: now)
        metrics = GroupSyncMetrics(pipeline: pipeline.spec.name)
        if !pipeline.groupState.isEmpty {
            do {
                state = try GroupSyncState.decode(pipeline.groupState)
            } catch {
                throw WorkerError.kafka("the checkpoint's group state is unreadable: \(error)")
            }
        }
        examplesAtSync = pipeline.counters.labelled
        examplesDue = spec.examplesDue(from: examplesAtSync, version: pipeline.model.version)
        ledger = ClaimLedger(
            member: member, incarnation: UInt64.random(in: 1...UInt64.max), owners: state.owners, incarnations: state.incarnations)
    }

    /// Starts reading the topic where the restored state stopped (its beginning for a new member). A new member
    /// builds its replica from every record; when the broker no longer holds the first ones (retention), it cannot.
    mutating func start() throws {
        let tp = KafkaTopicPartition(topic: topic, partition: 0)
        let marks = try consumer.watermarks(for: tp, timeout: .seconds(10))
        if marks.low > state.nextOffset {
            throw WorkerError.kafka(
                "\(topic) starts at offset \(marks.low) but this member's model includes its records only up to \(state.nextOffset): the records between are deleted (retention), so this replica cannot become the group's model. Start it from a copy of another member's checkpoint directory (without its member-id file), or raise the topic's retention.ms")
        }
        try consumer.assign([KafkaTopicPartitionOffset(tp, offset: KafkaOffset(state.nextOffset))])
        logger.info("sharing the model with the group", metadata: [
            "member": "\(member)", "topic": "\(topic)", "from_offset": "\(state.nextOffset)",
            "own_sequence": "\(state.ownSequence)", "members_applied": "\(state.applied.count)",
        ])
    }

    // MARK: Publishing

    /// Whether the count trigger (or the record size) asks for a publish: checked per message.
    @inline(__always)
    func isDue(labelled: UInt64, touchedSlots: Int) -> Bool {
        labelled >= examplesDue
            || touchedSlots * (2 + 4 * stride) >= Self.maxRecordBytes
    }

    /// Whether the time trigger asks for a publish: checked per loop turn.
    func isTimeDue(now: UInt64) -> Bool {
        spec.intervalMs > 0 && now &- lastSyncAt >= UInt64(spec.intervalMs) * 1_000_000
    }

    /// Publishes what the replica learned since the last publish (nothing when it learned nothing), with the
    /// coverage of the partitions it owns.
    mutating func publish(pipeline: inout Pipeline, coverage: [InputPosition]) throws {
        examplesAtSync = pipeline.counters.labelled
        examplesDue = spec.examplesDue(from: examplesAtSync, version: pipeline.model.version)
        lastSyncAt = DispatchTime.now().uptimeNanoseconds
        let positives = pipeline.takeSharedPositives()
        guard pipeline.touchedSlotCount > 0 || !positives.isEmpty || coverage.contains(where: { covered($0) < $0.offset }) else { return }
        let bytes = IncrementsRecord.encode(
            member: member, sequence: state.ownSequence + 1, fingerprint: fingerprint, coverage: coverage, positives: positives,
            takingIncrementsOf: &pipeline)
        let key = Array(member.utf8)
        if FaultInjection.holdRecord != nil || FaultInjection.landHeldRecord != nil {
            try FaultInjection.recordInFlight(
                producer: producer, topic: topic, key: key, value: bytes, run: runHeader, published: totals.published, logger: logger)
        }
        try producer.send(topic: topic, key: key, value: bytes, headers: [runHeader])
        state.ownSequence += 1
        for p in coverage { cover(p) }
        metrics.published(bytes: bytes.count)
        totals.published += 1
        totals.publishedBytes += bytes.count
    }

    /// The Kafka header every record of this run of the loop carries: its incarnation (``ClaimLedger/incarnation``, 8
    /// bytes little-endian), by which every reader drops a record an earlier run had in flight when it stopped and
    /// that landed after this run's claim (``ClaimLedger/isEarlierRun(member:incarnation:)``). A header rather than a
    /// field of the record, so that a build before it reads these records as before.
    var runHeader: KafkaHeader { KafkaHeader(name: Self.runHeaderName, value: withUnsafeBytes(of: ledger.incarnation.littleEndian) { Array($0) }) }

    static let runHeaderName = "feedloop.run"

    /// The run a record read names (``runHeader``), nil for none.
    static func run(of message: KafkaMessage) -> UInt64? {
        guard let value = message.headers.last(where: { $0.name == runHeaderName })?.value, value.count == 8 else { return nil }
        return value.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }

    /// Records enqueued and not yet reported delivered or failed.
    var outstandingCount: Int { producer.outstandingCount }

    /// Serves the records' delivery reports (up to `timeout`); a record that finally failed stops the worker
    /// without a checkpoint (the model in it would claim a record the group never got).
    mutating func serveDeliveries(timeout: Duration = .zero) throws {
        var failed: KafkaDeliveryReport?
        var through = deliveredThrough
        producer.poll(timeout: timeout) { report in
            if !report.isDelivered { failed = failed ?? report } else if let offset = report.offset { through = max(through, offset) }
        }
        deliveredThrough = through
        if let failed {
            throw WorkerError.kafka(
                "an increments record for \(topic) was not delivered (\(failed.error.map { "\($0)" } ?? "unknown error")): stopping without a checkpoint; a restart publishes again from the last one")
        }
    }

    /// Waits up to `timeout` for the records in flight; throws when some remain.
    func flush(timeout: Duration) throws { try producer.flush(timeout: timeout) }

    /// Claims newly assigned partitions (``PartitionClaim``), before the member reads the topic to its end and learns:
    /// delivered when it returns, so the read that follows passes it.
    mutating func claim(_ partitions: [InputPosition]) throws {
        guard !partitions.isEmpty else { return }
        let bytes = PartitionClaim(member: member, incarnation: ledger.incarnation, partitions: partitions).encode()
        try producer.send(topic: topic, key: Array(member.utf8), value: bytes)
        try flush(timeout: .seconds(10))
        try serveDeliveries()
    }

    /// The first of this run's partitions another member claimed since, if any: the group dropped this member (its
    /// session expired before it knew), and its records from that claim on are dropped by every member.
    var lostTo: (partition: ClaimedPartition, member: String)? { ledger.lostTo }

    /// Partitions revoked (handed over in order): no longer this member's to lose.
    mutating func release(_ partitions: [ClaimedPartition]) { ledger.release(partitions) }

    // MARK: Reading

    /// Applies the records that arrived (non-blocking); returns how many other members' records it applied. The
    /// member's own records that its replica holds are passed over where they lie, never copied (``isOwnHeld(_:)``).
    @discardableResult
    mutating func poll(pipeline: inout Pipeline, now: UInt64, wait: Duration = .zero) throws -> Int {
        let before = totals.applied
        var gap = false
        var wait = wait
        while !gap {
            let n = try consumer.poll(timeout: wait, maxMessages: 256) { view in
                guard !gap else { return }  // the rest of a poll that found a gap: read again after the seek
                guard inOrder(offset: view.offset) else { gap = true; return }
                if isOwnHeld(view) {
                    state.nextOffset = max(state.nextOffset, view.offset + 1)
                } else {
                    apply(view.copy(), pipeline: &pipeline, now: now)
                }
            }
            if n == 0 { break }
            wait = .zero
        }
        metrics.members(members, now: now)
        return totals.applied - before
    }

    /// Reads the topic past this member's records reported delivered (before a checkpoint: a claim of one of its
    /// partitions by another member before them means the group dropped them, ``lostTo``). Fails after `timeout`.
    mutating func readPastOwnRecords(pipeline: inout Pipeline, timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while state.nextOffset <= deliveredThrough {
            guard ContinuousClock.now < deadline else {
                throw WorkerError.kafka("reading \(topic) back to this member's record at offset \(deliveredThrough) timed out at offset \(state.nextOffset)")
            }
            try poll(pipeline: &pipeline, now: DispatchTime.now().uptimeNanoseconds, wait: .milliseconds(10))
        }
    }

    /// Whether a record read is one of this member's own that its replica already holds: keyed by its member id,
    /// with a sequence number not above its own. Only the header's bytes are read.
    func isOwnHeld(_ view: KafkaMessageView) -> Bool {
        guard let key = view.key, key.elementsEqual(member.utf8), let value = view.value else { return false }
        return holds(IncrementsRecord.header(prefixOf: value))
    }

    /// Whether a record's header (``IncrementsRecord/header(_:)``) names one of this member's own records that its
    /// replica already holds: the member's id, a sequence number not above its own.
    func holds(_ header: (member: String, sequence: UInt64)?) -> Bool {
        guard let header else { return false }
        return header.member == member && header.sequence <= state.ownSequence
    }

    /// Reads the topic to its end (at an assignment: the coverage of every partition must be known before its
    /// first event). Fails when the broker does not answer within `timeout`.
    mutating func catchUp(pipeline: inout Pipeline, timeout: Duration = .seconds(30)) throws {
        let tp = KafkaTopicPartition(topic: topic, partition: 0)
        let end = try consumer.watermarks(for: tp, timeout: .seconds(10)).high
        var gap = true
        while gap {
            gap = false
            try consumer.readToEnd(topic, from: state.nextOffset, end: end, timeout: timeout) { message in
                guard !gap else { return }  // the rest of a read that found a gap: read again after the seek
                guard inOrder(offset: message.offset) else { gap = true; return }
                apply(message, pipeline: &pipeline, now: DispatchTime.now().uptimeNanoseconds)
            }
        }
        // A member joining a group catches up with the group's model here: the ramp then counts from that model.
        examplesDue = spec.examplesDue(from: examplesAtSync, version: pipeline.model.version)
        _ = bound.observe(caughtUp: true, now: DispatchTime.now().uptimeNanoseconds)
    }

    /// How often the reader goes back to one offset for records that have not arrived yet.
    static let maxGapRetries = 200

    /// Whether `message` is the topic's next record. The records of the members are at consecutive offsets; a
    /// message past the next offset means the records between were not handed over — the local broker (Tansu, memory
    /// storage) has been seen to answer a fetch with a batch appended after others that were not yet visible, and the
    /// reader then lost those records (their learning missing from its replica, and later refused as duplicates
    /// since their sequence numbers are below the last applied). So the reader seeks back to the next offset and
    /// reads again, up to ``maxGapRetries`` times for that offset (a turn of the loop apart); past that it goes on,
    /// saying which offsets it never got.
    mutating func inOrder(offset: Int64) -> Bool {
        guard offset > state.nextOffset else { return true }
        if gapRetries.offset != state.nextOffset { gapRetries = (state.nextOffset, 0) }
        guard gapRetries.count < Self.maxGapRetries else {
            if gapRetries.count == Self.maxGapRetries {
                gapRetries.count += 1
                logger.warning("offsets \(state.nextOffset)..<\(offset) of \(topic) never arrived: going on without them")
            }
            return true
        }
        gapRetries.count += 1
        totals.gapRereads += 1
        metrics.gapRereads.increment()
        do {
            try consumer.seek([KafkaTopicPartitionOffset(topic: topic, partition: 0, offset: KafkaOffset(state.nextOffset))], timeout: .seconds(5))
        } catch {
            logger.warning("seeking \(topic) back to offset \(state.nextOffset): \(error)")
        }
        return false
    }

    /// Every second: has the topic been read to its end? Withholds scores after `max_staleness` without.
    mutating func checkStaleness(now: UInt64) {
        let tp = KafkaTopicPartition(topic: topic, partition: 0)
        let caughtUp = (try? consumer.watermarks(for: tp, timeout: .milliseconds(200))).map { state.nextOffset >= $0.high } ?? false
        let transition = bound.observe(caughtUp: caughtUp, now: now)
        metrics.readAge(bound.age(now: now))
        switch transition {
        case .stale(let seconds):
            metrics.stale(true)
            logger.warning(
                "\(topic) not read to its end for \(Int(seconds)) s (sync.max_staleness \(spec.maxStalenessMs / 1000) s): this replica lacks the group's recent learning, score refreshes are withheld until it catches up")
        case .fresh:
            metrics.stale(false)
            logger.info("\(topic) read to its end again: score refreshes resume")
        case nil:
            break
        }
    }

    /// Score refreshes are withheld (the replica is stale beyond the bound).
    var stale: Bool { bound.isStale }

    mutating func apply(_ message: KafkaMessage, pipeline: inout Pipeline, now: UInt64) {
        state.nextOffset = max(state.nextOffset, message.offset + 1)
        guard let value = message.value else { return }
        if PartitionClaim.isClaim(value) {
            apply(claim: value, offset: message.offset)
            return
        }
        // Own records the replica already holds (every record it published itself, read back) are skipped unread.
        if holds(IncrementsRecord.header(value)) { return }
        let record: IncrementsRecord
        do {
            record = try IncrementsRecord.decode(value, stride: stride, slots: slots, skipped: skipped)
        } catch {
            metrics.refused()
            logger.error("refused record \(message.offset) of \(topic): \(error)")
            return
        }
        guard record.fingerprint == fingerprint else {
            metrics.refused()
            if refusedMembers.insert(record.member).inserted {
                logger.error("member \(record.member) publishes increments of another definition of pipeline '\(pipeline.spec.name)': refused (every member of a group must run the same pipeline file)")
            }
            return
        }
        if ledger.isEarlierRun(member: record.member, incarnation: Self.run(of: message)) {
            // Published by a run of that member before the one of its newest claim, and landed after that claim: the
            // earlier run had it in flight when it stopped, and the new run, which read the topic to its end before
            // it learned, learns those events again under the same sequence number. Every member drops it here.
            drop(message, record, "published by an earlier run of that member, which has claimed its partitions again since (a record in flight when that run stopped)")
            return
        }
        if let former = ledger.formerOwner(member: record.member, coverage: record.coverage) {
            // Published after another member claimed a partition the record covers: the learning of a member the
            // group had dropped, whose events the claimant learns again. Every member drops it at the same place.
            drop(message, record, "it covers \(former.partition.topic)[\(former.partition.partition)], claimed before it by \(former.owner)")
            return
        }
        if record.member == member {
            // Own records: those after the checkpoint's model (published before a crash) are added like the others'.
            guard record.sequence > state.ownSequence else { return }
            state.ownSequence = record.sequence
        } else {
            let last = state.applied[record.member] ?? 0
            guard record.sequence > last else { return }  // a duplicate (a republish after a restart)
            if record.sequence != last + 1 {
                logger.warning("member \(record.member): sequence \(record.sequence) follows \(last) (records missing from \(topic))")
            }
            state.applied[record.member] = record.sequence
            members[record.member] = (now, message.timestamp?.milliseconds ?? 0)
            if let sent = message.timestamp?.milliseconds, sent > 0 {
                let ms = max(0, Date().timeIntervalSince1970 * 1_000 - Double(sent))
                applyDelay.record(nanoseconds: UInt64(ms * 1_000_000))
            }
        }
        pipeline.applyModelIncrements(record.increments)
        for p in record.positives { pipeline.recordSharedPositive(itemID: p.id, at: p.timestamp) }
        for p in record.coverage { cover(p) }
        metrics.applied(bytes: value.count)
        totals.applied += 1
        totals.appliedBytes += value.count
    }

    /// Counts and logs a record every member drops (``ClaimLedger``: a former owner's, or an earlier run's).
    mutating func drop(_ message: KafkaMessage, _ record: IncrementsRecord, _ reason: String) {
        totals.dropped += 1
        metrics.dropped()
        logger.warning("dropped record \(message.offset) of \(topic) (member \(record.member), sequence \(record.sequence)): \(reason)")
    }

    /// A claim read (``ClaimLedger/read(_:)``).
    mutating func apply(claim bytes: [UInt8], offset: Int64) {
        do {
            ledger.read(try PartitionClaim.decode(bytes))
        } catch {
            metrics.refused()
            logger.error("refused claim \(offset) of \(topic): \(error)")
        }
    }

    // MARK: Coverage

    /// The offset below which the group's model holds the events of `p`'s partition (0 when none is announced).
    func covered(_ p: InputPosition) -> Int64 {
        state.coverage.first { $0.topic == p.topic && $0.partition == p.partition }?.offset ?? 0
    }

    func coverage(of tp: KafkaTopicPartition) -> Int64 {
        covered(InputPosition(topic: tp.topic, partition: tp.partition, offset: 0))
    }

    mutating func cover(_ p: InputPosition) {
        if let i = state.coverage.firstIndex(where: { $0.topic == p.topic && $0.partition == p.partition }) {
            state.coverage[i].offset = max(state.coverage[i].offset, p.offset)
        } else {
            state.coverage.append(p)
        }
    }

    /// The state a checkpoint keeps (``Pipeline/groupState``).
    mutating func save(into pipeline: inout Pipeline) {
        state.owners = ledger.owners
        state.incarnations = ledger.incarnations
        pipeline.groupState = state.encode()
    }
}

/// The exchange's metrics: members seen, the age of each member's newest increment applied, bytes and records.
struct GroupSyncMetrics {
    let dimensions: [(String, String)]
    let membersSeen: Gauge
    let publishedBytes: Counter
    let publishedRecords: Counter
    let appliedBytes: Counter
    let appliedRecords: Counter
    let refusedRecords: Counter
    /// Times the reader went back for records that had not arrived in order (``GroupSync/inOrder(offset:)``).
    let gapRereads: Counter
    /// Records dropped as a former owner's (``PartitionClaim``).
    let droppedRecords: Counter
    let readAgeGauge: Gauge
    let staleGauge: Gauge
    var lagGauges: [String: Gauge] = [:]

    init(pipeline: String) {
        let d = [("pipeline", pipeline)]
        dimensions = d
        membersSeen = Gauge(label: "feedloop_sync_members", dimensions: d)
        publishedBytes = Counter(label: "feedloop_sync_published_bytes_total", dimensions: d)
        publishedRecords = Counter(label: "feedloop_sync_published_records_total", dimensions: d)
        appliedBytes = Counter(label: "feedloop_sync_applied_bytes_total", dimensions: d)
        appliedRecords = Counter(label: "feedloop_sync_applied_records_total", dimensions: d)
        refusedRecords = Counter(label: "feedloop_sync_refused_records_total", dimensions: d)
        gapRereads = Counter(label: "feedloop_sync_gap_rereads_total", dimensions: d)
        droppedRecords = Counter(label: "feedloop_sync_dropped_records_total", dimensions: d)
        readAgeGauge = Gauge(label: "feedloop_sync_read_age_seconds", dimensions: d)
        staleGauge = Gauge(label: "feedloop_sync_stale", dimensions: d)
        staleGauge.record(0)
        membersSeen.record(1)
    }

    func published(bytes: Int) {
        publishedBytes.increment(by: bytes)
        publishedRecords.increment()
    }

    func applied(bytes: Int) {
        appliedBytes.increment(by: bytes)
        appliedRecords.increment()
    }

    func refused() { refusedRecords.increment() }
    func dropped() { droppedRecords.increment() }
    func readAge(_ seconds: Double) { readAgeGauge.record(seconds) }
    func stale(_ value: Bool) { staleGauge.record(value ? 1 : 0) }

    /// Members seen (this one included) and, per other member, the age of its newest record applied.
    mutating func members(_ seen: [String: (appliedAt: UInt64, timestampMs: Int64)], now: UInt64) {
        membersSeen.record(seen.count + 1)
        let nowMs = RealtimeClock.milliseconds()
        for (member, last) in seen {
            let gauge = lagGauges[member] ?? {
                let g = Gauge(label: "feedloop_sync_lag_seconds", dimensions: dimensions + [("member", member)])
                lagGauges[member] = g
                return g
            }()
            gauge.record(Double(max(0, nowMs - last.timestampMs)) / 1000)
        }
    }
}
