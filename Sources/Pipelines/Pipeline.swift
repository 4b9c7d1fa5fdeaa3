import Events
import Foundation
import Learning

/// One pipeline: decode → validate → featurize → predict → (delayed) label → update, with progressive metrics.
///
/// The worker and the replay tool both drive this same ``process(_:sink:)``; only their sources and sinks differ,
/// so an offline number is a promise about the online system. Single writer: one pipeline per model shard.
public struct Pipeline: Sendable {
    /// The definition this pipeline runs.
    public let spec: PipelineSpec
    /// Whether events update the state a consumer group shares — the model (labelled examples always count and are
    /// scored) and the candidate pool's popularity. Off while a worker goes again over events whose learning its
    /// group already holds (a partition taken over from a member that died after publishing its increments;
    /// docs/scaling-out.md).
    public var learns = true
    /// Positive feedback since the last ``takeSharedPositives()``, kept while the model's increments are tracked:
    /// the group's candidate pools count every member's.
    var sharedPositives = SharedPositives()
    /// Examples labelled while `learns` was off, in this process (not checkpointed).
    public internal(set) var examplesLearnedElsewhere: UInt64 = 0
    /// State of the worker that owns this pipeline in a consumer group (its increments exchange), saved and restored
    /// with the checkpoint, opaque here.
    public var groupState: [UInt8] = []
    /// Rewards read before their ranking's decision (``HeldRewards``).
    var heldRewards = HeldRewards()
    /// Rewards held now, waiting for their ranking's decision.
    public var heldRewardCount: Int { heldRewards.count }
    /// Whether rewards are held for decision log partition `index`.
    public func holdsRewards(partition index: Int) -> Bool { heldRewards.holds(partition: index) }
    /// Rewards held for partition `index`'s decisions.
    public func heldRewardCount(partition index: Int) -> Int { heldRewards.count(partition: index) }
    /// The model, learning online.
    public internal(set) var model: Model
    /// Progressive validation over labelled examples (prediction made at arrival).
    public internal(set) var metrics: ProgressiveMetrics
    /// When set, the step appends its progressive-validation records here instead of recording them in ``metrics``,
    /// for another thread to record in the same order (``MetricsLog``; ``swapMetrics(_:)`` hands the metrics over).
    public var metricsLog: MetricsLog?
    /// Next-purchase ranking quality, when enabled.
    public internal(set) var ranking: RankingMetrics?
    /// Event and label counters.
    public internal(set) var counters = PipelineCounters()
    /// Retrieval quality of the score refresh: of the positive feedback events (`checked`), how many bought an item
    /// that was among the refresh's candidates just before (`hits`: in the popularity pool, or in the catalog when
    /// there is no pool). A bought item outside them is one no refresh could have recommended. Like the
    /// progressive metrics, not part of a checkpoint.
    public internal(set) var candidateRecall: (checked: UInt64, hits: UInt64) = (0, 0)
    /// Items seen, for candidate scoring.
    public internal(set) var catalog: ItemCatalog
    /// Pending examples awaiting feedback.
    public internal(set) var join: LabelJoin
    /// The input partitions events came from, by dense index (``partitionIndex(topic:partition:)``); index 0 is
    /// the default of a caller that has no partitions (a file replay): topic "" and partition -1.
    public internal(set) var partitionKeys: [(topic: String, partition: Int32)] = [("", -1)] {
        didSet { linkRankingsPartitions() }
    }
    /// Per input partition (same index): the index of the decision log partition it is co-partitioned with (with
    /// `serving.learn_from_rankings`), or -1. See ``linkRankingsPartitions()``.
    var rankingsPartitionOf: [Int] = [-1]
    /// Per input partition (same index): the greatest event time seen on it (ms), or `Int64.min`. The label join
    /// judges each partition's windows against its own event time (see ``LabelJoin``).
    public internal(set) var eventTimes: [Int64] = [.min]
    /// A partition restored from a checkpoint written when the watermark was global: its pending examples expire by
    /// the greatest event time of any partition, the rule they were written under. nil otherwise.
    var legacyPartition: Int? = nil
    /// The greatest event time seen on any partition (ms), or `Int64.min`.
    public var maxEventTime: Int64 { eventTimes.max() ?? .min }
    /// Catalog index of the last applied event's item, or -1 (not in the catalog, or the catalog is full).
    public internal(set) var lastItem: Int = -1

    var decoder: EventDecoder
    var featurizer: Featurizer
    var candidateScores: [Double] = []
    /// The heap of ``topItems(k:excluding:into:)``, kept between calls so a refresh allocates nothing.
    var topKStorage: [(item: Int, score: Double)] = []
    /// The candidates of one ranking evaluation (catalog items).
    var rankingPool: [Int32] = []
    var rng: SplitMix64
    /// Example weight by `EventType.rawValue` (0 = not an example type).
    let exampleWeights: [Double]
    /// Whether each `EventType.rawValue` is feedback.
    let isPositive: [Bool]
    /// Field id of the first `item_id` namespace (its weight is the item's bias), if any.
    let itemIDField: UInt8?
    let userSeed = FeatureHasher.seed(forNamespace: "__user_key")
    let itemSeed = FeatureHasher.seed(forNamespace: "__item_key")
    let itemSeed2 = FeatureHasher.seed(forNamespace: "__item_key2")
    let rankingSeed = FeatureHasher.seed(forNamespace: "__ranking_key")
    let rankingSeed2 = FeatureHasher.seed(forNamespace: "__ranking_key2")

    /// Builds the pipeline from a validated spec (fresh model).
    public init(spec: PipelineSpec) {
        self.spec = spec
        self.model = Model(spec.model)
        self.metrics = ProgressiveMetrics(
            windowSize: spec.evaluation.window, calibrationBins: spec.evaluation.calibrationBins, aucBins: spec.evaluation.aucBins)
        self.ranking = spec.evaluation.ranking.map { RankingMetrics(k: $0.k) }
        self.featurizer = Featurizer(spec: spec.features)
        self.decoder = EventDecoder(contextKeys: featurizer.contextKeys)
        let itemWidth = featurizer.itemNamespaces.count * spec.features.maxValuesPerField
        self.catalog = ItemCatalog(
            capacity: spec.outputs.catalogCapacity, featureWidth: itemWidth,
            poolCapacity: spec.outputs.candidates < spec.outputs.catalogCapacity ? spec.outputs.candidates : 0,
            groupOfField: featurizer.itemGroup, halfLifeMs: spec.outputs.popularityHalfLifeMs)
        self.join = LabelJoin(capacity: spec.label.bufferCapacity)
        self.rng = SplitMix64(seed: spec.evaluation.ranking?.seed ?? 0)
        var weights = Array(repeating: 0.0, count: EventType.allCases.count)
        var positive = Array(repeating: false, count: EventType.allCases.count)
        for (type, w) in spec.label.exampleWeights { weights[Int(type.rawValue)] = w }
        for type in spec.label.positiveTypes { positive[Int(type.rawValue)] = true }
        self.exampleWeights = weights
        self.isPositive = positive
        self.itemIDField = spec.features.namespaces.firstIndex { $0.source == .itemID }.map { UInt8($0) }
        if let negatives = spec.evaluation.ranking?.negatives {
            candidateScores.reserveCapacity(negatives)
            rankingPool.reserveCapacity(negatives)
        }
    }

    /// The dense index of an input partition, registered on first use. Events of one partition must all be applied
    /// with its index: their windows are judged against that partition's event time only.
    public mutating func partitionIndex(topic: String, partition: Int32) -> Int {
        if let i = partitionKeys.firstIndex(where: { $0.partition == partition && $0.topic == topic }) { return i }
        eventTimes.append(.min)
        partitionKeys.append((topic, partition))
        let index = partitionKeys.count - 1
        if spec.serving.learnFromRankings, topic != spec.serving.rankingsTopic {
            // Its decision log partition, known before the first decision: a reward read first is held for it.
            _ = partitionIndex(topic: spec.serving.rankingsTopic, partition: max(partition, 0))
        }
        return index
    }

    /// Links each input partition to the decision log partition of the same number (a file replay's input, partition
    /// -1, to the log's partition 0): both are keyed by user with as many partitions (``DecisionLogTopic``), so the
    /// rewards for a ranking arrive on the input partition of its number. When that partition's event time passes a
    /// shown item's window (plus the allowed lateness), no reward in the window can still come, and the example
    /// expires negative — also while its rankings partition is quiet and its own clock stands still.
    mutating func linkRankingsPartitions() {
        rankingsPartitionOf = Array(repeating: -1, count: partitionKeys.count)
        guard spec.serving.learnFromRankings else { return }
        let rankings = spec.serving.rankingsTopic
        for (i, key) in partitionKeys.enumerated() where key.topic != rankings {
            let number = max(key.partition, 0)
            rankingsPartitionOf[i] = partitionKeys.firstIndex { $0.topic == rankings && $0.partition == number } ?? -1
        }
    }

    // MARK: Replicas

    /// Starts tracking what this pipeline's model learns, for exchanging it with other replicas (see
    /// ``ModelIncrements``).
    public mutating func trackModelIncrements() { model.trackIncrements() }

    /// What the model learned since the last call (``ModelIncrements``).
    public mutating func takeModelIncrements() -> ModelIncrements { model.takeIncrements() }

    /// Slots the model touched since the last ``takeModelIncrements()``.
    public var touchedSlotCount: Int { model.touchedSlotCount }

    /// Adds another replica's increments to the model.
    public mutating func applyModelIncrements(_ increments: ModelIncrements) { model.applyIncrements(increments) }

    /// The positive feedback (item id, event time) this pipeline counted since the last call, for the other members'
    /// candidate pools (tracked from ``trackModelIncrements()`` on).
    public mutating func takeSharedPositives() -> SharedPositives {
        let taken = sharedPositives
        // The next interval's room, as much as the array had (the most any interval took, to the next doubling): the
        // step grows it only past that, as an array that kept its capacity would.
        sharedPositives = SharedPositives()
        sharedPositives.reserveCapacity(bytes: taken.byteCapacity)
        return taken
    }

    /// Counts another member's positive feedback for `itemID` at event time `timestamp` in the candidate pool (the
    /// item enters the catalog if it is new here, without item-side features until an event of it arrives).
    public mutating func recordSharedPositive(itemID: ArraySlice<UInt8>, at timestamp: Int64) {
        itemID.withUnsafeBytes { id in
            guard let item = catalog.lookupOrInsert(key: catalogKey(id), id: id, now: counters.events) else { return }
            catalog.recordPositive(item, at: timestamp)
        }
    }

    /// Whether events of `type` are feedback (label pending examples positive), e.g. purchases.
    public func isFeedback(_ type: EventType) -> Bool { isPositive[Int(type.rawValue)] }

    /// Values dropped because an array field held more than `max_values_per_field`.
    public var truncatedValues: UInt64 { featurizer.truncatedValues }

    /// The context keys this pipeline reads (for documentation and diagnostics).
    public var contextKeys: [String] { featurizer.contextKeys }

    // MARK: Step

    /// Processes one input message (one JSON event). Never throws: bad input goes to `sink.rejected` with its reason.
    /// The same as ``decode(_:sink:)`` followed by ``apply(_:sink:)``.
    @inline(__always)
    public mutating func process<S: PipelineSink>(_ input: UnsafeRawBufferPointer, partition: Int = 0, sink: inout S) {
        guard let event = decode(input, sink: &sink) else { return }
        apply(event, partition: partition, sink: &sink)
    }

    /// The first half of ``process(_:sink:)``: counts the input and decodes it; bad input goes to `sink.rejected`
    /// and yields nil. The view is valid until the next decode; until ``apply(_:sink:)`` nothing else changed, so
    /// a caller may still act on the previous event's state (the worker publishes a pending score refresh when
    /// the next event is another user's).
    @inline(__always)
    public mutating func decode<S: PipelineSink>(_ input: UnsafeRawBufferPointer, sink: inout S) -> EventView? {
        counters.events &+= 1
        do {
            return try decoder.decode(input)
        } catch {
            counters.countRejected(error)
            sink.rejected(error, input: input)
            return nil
        }
    }

    /// ``process(_:sink:)`` of an input decoded ahead, once for several pipelines, by a batch that decodes as this
    /// pipeline does (``decodes(like:)``): the same counts, rejections and learning, bit for bit. `input` is the
    /// entry's input (the bytes a rejection hands to `sink`), `batch` the batch it is an entry of. With `ahead`, the
    /// batch was also featurized ahead by this pipeline's ``makeFeaturizerAhead()`` and `entry` is at `i` in it.
    @inline(__always)
    public mutating func process<S: PipelineSink>(
        _ entry: EventBatch.Entry, of batch: EventBatch, ahead: FeaturesAhead.Storage? = nil, entry i: Int = 0,
        input: UnsafeRawBufferPointer, partition: Int = 0, sink: inout S
    ) {
        counters.events &+= 1
        switch entry {
        case .event(let event):
            if let ahead {
                apply(event, ahead: ahead, entry: i, partition: partition, sink: &sink)
            } else {
                apply(event, partition: partition, sink: &sink)
            }
        case .rejected(let index):
            let reason = batch.rejections[index]
            counters.countRejected(reason)
            sink.rejected(reason, input: input)
        }
    }

    /// A batch that decodes inputs as this pipeline does (its context keys and size limit), for
    /// ``process(_:of:ahead:entry:input:partition:sink:)``.
    public func makeEventBatch() -> EventBatch {
        EventBatch(contextKeys: decoder.contextKeys, maxBytes: decoder.maxBytes)
    }

    /// Whether `batch` decodes inputs exactly as this pipeline does: what it accepts and the slots of its events
    /// depend on the context keys, in order, and the size limit (``EventBatch``).
    public func decodes(like batch: EventBatch) -> Bool {
        batch.contextKeys == decoder.contextKeys && batch.maxBytes == decoder.maxBytes
    }

    /// A featurizer for ``FeaturesAhead`` that featurizes as this pipeline does, for another thread.
    public func makeFeaturizerAhead() -> FeaturizerAhead {
        FeaturizerAhead(featurizer: featurizer, userSeed: userSeed, itemSeed: itemSeed, itemSeed2: itemSeed2)
    }

    /// The second half of ``process(_:sink:)``: featurize, predict, label, learn the event just decoded, which came
    /// from input partition `partition` (``partitionIndex(topic:partition:)``; 0 without partitions).
    public mutating func apply<S: PipelineSink>(_ event: EventView, partition: Int = 0, sink: inout S) {
        // Featurizing reads no model state, so it goes first: the example's parameters are then requested from
        // memory (prefetch) while the windows that closed learn, instead of stalling its prediction afterwards.
        featurizer.extract(event)
        applyFeaturized(event, keys: nil, partition: partition, sink: &sink)
    }

    /// ``apply(_:partition:sink:)`` of an event featurized ahead (entry `i` of `ahead`, ``FeaturesAhead``): the same
    /// scratch and keys, loaded instead of computed.
    @inline(__always)
    mutating func apply<S: PipelineSink>(_ event: EventView, ahead: FeaturesAhead.Storage, entry i: Int, partition: Int, sink: inout S) {
        featurizer.load(ahead, entry: i)
        applyFeaturized(event, keys: ahead.keys[i], partition: partition, sink: &sink)
    }

    /// The step after featurizing: predict, label, learn. `keys` are the event's hashes when computed ahead (nil:
    /// computed here).
    @inline(__always)
    mutating func applyFeaturized<S: PipelineSink>(_ event: EventView, keys: EventKeys?, partition: Int, sink: inout S) {
        let type = Int(event.type.rawValue)
        let weight = exampleWeights[type]
        let features = weight > 0 ? featurizer.emit() : nil
        if let features { model.prefetch(features) }
        // The partition's event time drives its watermark; its windows that closed label their examples negative.
        if event.timestamp > eventTimes[partition] {
            eventTimes[partition] = event.timestamp
            expire(partition: partition, upTo: event.timestamp, sink: &sink)
            if let legacy = legacyPartition, legacy != partition, event.timestamp > eventTimes[legacy] {
                eventTimes[legacy] = event.timestamp
                expire(partition: legacy, upTo: event.timestamp, sink: &sink)
            }
            // The shown items of its decision log partition whose rewards can no longer come (see linkRankingsPartitions).
            let rankings = rankingsPartitionOf[partition]
            if rankings >= 0 { expire(partition: rankings, upTo: event.timestamp, sink: &sink) }
        }
        // The item id's hash under `itemSeed` is part of both the catalog key and the join key: computed once.
        let itemHash: UInt32
        if let keys { itemHash = keys.item } else { itemHash = featurizer.hasher.hash(bytes: event.itemID, seed: itemSeed) }
        let item = itemIndex(event, itemHash: itemHash, itemHash2: keys?.item2)
        lastItem = item ?? -1
        if let features {
            counters.examples &+= 1
            // The row stays in the featurizer's buffer (untouched by learning) until the insert copies it.
            let stamp = model.stampedMargin(features)
            let p = stamp.probability
            if metricsLog == nil { metrics.prefetch(probability: p) }
            while let forced = join.makeRoom(for: features.count) {
                learn(forced, label: false, cause: .overflow, sink: &sink)
            }
            join.insert(
                key: joinKey(event, itemHash: itemHash, userHash: keys?.user), deadline: event.timestamp &+ spec.label.attributionWindowMs,
                probability: p, weight: weight, item: item ?? -1, features: features, stamp: stamp, partition: partition)
            if let item { catalog.examplePending(item) }
            sink.scored(event, probability: p)
        } else if isPositive[type] {
            counters.feedback &+= 1
            candidateRecall.checked &+= 1
            if let item {
                if catalog.isCandidate(item) { candidateRecall.hits &+= 1 }
                if ranking != nil { evaluateRanking(target: item) }
                if learns {
                    catalog.recordPositive(item, at: event.timestamp)
                    if model.tracksIncrements {
                        sharedPositives.append(id: event.itemID, timestamp: event.timestamp)
                    }
                }
            }
            if let example = join.takePending(key: joinKey(event, itemHash: itemHash, userHash: keys?.user)) {
                learn(example, label: true, cause: .feedback, sink: &sink)
            } else {
                counters.unattributedFeedback &+= 1
            }
            // A reward also labels the example its ranking made of the item (Pipeline+Rankings.swift).
            if event.hasRanking, spec.serving.learnFromRankings { reward(event, itemHash: itemHash, partition: partition, sink: &sink) }
        } else {
            counters.ignored &+= 1
        }
        sink.processed(event)
    }

    /// Labels negative the examples of `partition` whose window closed by event time `time` (less the lateness).
    @inline(__always)
    mutating func expire<S: PipelineSink>(partition: Int, upTo time: Int64, sink: inout S) {
        let watermark = time &- spec.label.allowedLatenessMs
        while let expired = join.popExpired(partition: partition, watermark: watermark) {
            learn(expired, label: false, cause: .windowExpired, sink: &sink)
        }
    }

    /// Ends a finite input (replay): every window still open closes and its example is labelled negative.
    public mutating func finish<S: PipelineSink>(sink: inout S) {
        while let example = join.popOldest() {
            learn(example, label: false, cause: .endOfInput, sink: &sink)
        }
        counters.rewardsUnknownRanking &+= UInt64(heldRewards.release { _ in true })  // their decisions never came
    }

    // MARK: Learning

    mutating func learn<S: PipelineSink>(_ example: LabelJoin.Resolved, label: Bool, cause: LabelCause, sink: inout S) {
        // Learned in place from the join's arena (valid until the join's next mutation, after this call).
        let features = join.features(of: example)
        var biasIndex: UInt32? = nil
        if let field = itemIDField {
            for j in 0..<features.count where features.fields[j] == field {
                biasIndex = features.indices[j]
                break
            }
        }
        var before: Float? = nil
        if let biasIndex { before = model.linearWeight(at: biasIndex) }
        let outcome: LearnOutcome
        if learns {
            outcome = model.learn(features, label: label, weight: example.weight, reusing: example.stamp)
        } else {
            outcome = LearnOutcome(probability: example.probability, applied: false)
            examplesLearnedElsewhere &+= 1
        }
        if let metricsLog {
            metricsLog.append(probability: example.probability, label: label, weight: example.weight)
        } else {
            metrics.record(probability: example.probability, label: label, weight: example.weight)
        }
        counters.labelled &+= 1
        if label { counters.positives &+= 1 }
        switch cause {
        case .feedback: break
        case .windowExpired: counters.expiredNegatives &+= 1
        case .overflow: counters.overflowNegatives &+= 1
        case .endOfInput: counters.endOfInputNegatives &+= 1
        }
        var after: Float? = nil
        if let biasIndex { after = model.linearWeight(at: biasIndex) }
        let labelled = LabelledExample(
            probability: example.probability, label: label, weight: example.weight, item: example.item,
            cause: cause, applied: outcome.applied, itemBiasBefore: before,
            itemBiasAfter: after)
        if example.item >= 0 {
            catalog.exampleResolved(example.item, now: counters.events)
            catalog.withID(of: example.item) { sink.labelled(labelled, itemID: $0) }
        } else {
            sink.labelled(labelled, itemID: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    // MARK: Keys and items

    @inline(__always)
    func joinKey(_ event: borrowing EventView, itemHash: UInt32, userHash: UInt32? = nil) -> UInt64 {
        let user: UInt32
        if let userHash { user = userHash } else { user = featurizer.hasher.hash(bytes: event.userID, seed: userSeed) }
        return UInt64(user) << 32 | UInt64(itemHash)
    }

    /// The event's item in the catalog (inserted when new) with its item-side features refreshed.
    mutating func itemIndex(_ event: borrowing EventView, itemHash: UInt32, itemHash2: UInt32? = nil) -> Int? {
        let key = catalogKey(event.itemID, itemHash: itemHash, itemHash2: itemHash2)
        guard let item = catalog.lookupOrInsert(key: key, id: event.itemID, now: counters.events) else { return nil }
        featurizer.storeItem(item, in: &catalog)
        return item
    }

    // MARK: Candidate scoring

    /// Ranks the bought item among sampled (or all) catalog items for the current user, before learning
    /// (candidates scored as a score refresh does, ``scoreCandidates(count:pool:_:)``).
    mutating func evaluateRanking(target: Int) {
        guard let spec = spec.evaluation.ranking, catalog.count > 1 else { return }
        let targetScore = model.margin(featurizer.emit())
        candidateScores.removeAll(keepingCapacity: true)
        rankingPool.removeAll(keepingCapacity: true)
        if let negatives = spec.negatives {
            for _ in 0..<negatives {
                var j = Int(rng.next() % UInt64(catalog.count - 1))
                if j >= target { j += 1 }
                rankingPool.append(Int32(truncatingIfNeeded: j))
            }
        } else {
            for j in 0..<catalog.count where j != target { rankingPool.append(Int32(truncatingIfNeeded: j)) }
        }
        var scores: [Double] = []
        swap(&scores, &candidateScores)  // appended to in place: the closure must not capture self
        var pool: [Int32] = []
        swap(&pool, &rankingPool)
        pool.withUnsafeBufferPointer { pool in
            scoreCandidates(count: pool.count, pool: pool) { scores.append($1) }
        }
        swap(&pool, &rankingPool)
        swap(&scores, &candidateScores)
        if model.configuration.kind != .logistic {
            featurizer.loadItem(target, from: catalog)  // restore the event's own item in scratch
        }
        let rank = candidateScores.withUnsafeBufferPointer { Ranking.rank(of: targetScore, among: $0) }
        ranking?.record(rank: rank)
    }

    /// Calls `body(item, margin)` for catalog items `pool[0..<count]` (items `0..<count` without a pool), in that
    /// order, each scored as the current user's (and context's) row with the item's catalog features. The margin of
    /// the features that involve no item-side namespace — the row's first part (``Featurizer/writeRow(_:_:_:)``) —
    /// is computed once per call, not once per item: every margin is the same sums in the same order as scoring the
    /// item's full row (``score(candidate:)``), so bit-identical to it. Logistic models go through the featurizer's
    /// blocked candidate loop (``Featurizer/forEachLinearCandidate``); factor models score each item's second part
    /// from the first part's linear terms and factor sums (``Model/margin(_:after:state:)``). Leaves the featurizer's
    /// item-side scratch at the last candidate's features for factor models.
    mutating func scoreCandidates(
        count: Int, pool: UnsafeBufferPointer<Int32>?, _ body: (_ item: Int, _ margin: Double) -> Void
    ) {
        if case .logistic = model.configuration.kind {
            featurizer.prepareLinearCandidates(model: model)
            featurizer.forEachLinearCandidate(catalog, candidates: count, pool: pool, model: model, body)
            return
        }
        // Locals: the loop then reads them in place instead of copying (retaining) the catalog per call.
        let catalog = self.catalog, model = self.model
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(model.rowStateCount, 1)) { state in
            let state = state.baseAddress!
            let start = model.beginRows(featurizer.emitItemIndependent(), state: state)
            for c in 0..<count {
                let j = pool.map { Int($0[c]) } ?? c
                featurizer.loadItem(j, from: catalog)
                body(j, model.margin(featurizer.emitItemDependent(), after: start, state: state))
            }
        }
    }

    @inline(__always)
    mutating func score(candidate j: Int) -> Double {
        featurizer.loadItem(j, from: catalog)
        return model.margin(featurizer.emit())
    }

    /// The `k` best candidate items for the user of the last processed event, best first, as (item, probability).
    /// Used by the worker's score refresh. The candidates are the catalog's popularity pool (`outputs.candidates`
    /// items with the most positive feedback), or every catalog item without a pool, scored by
    /// ``scoreCandidates(count:pool:_:)``.
    /// Catalog items in `excluding` (e.g. what the user just bought) are not ranked.
    public mutating func topItems(k: Int, excluding: [Int] = [], into result: inout [(item: Int, probability: Double)]) {
        result.removeAll(keepingCapacity: true)
        guard catalog.count > 0 else { return }
        var heap = TopK(k: k, excluding: excluding, reusing: &topKStorage)
        let catalog = self.catalog
        catalog.withCandidates { count, pool in
            scoreCandidates(count: count, pool: pool) { heap.offer(item: $0, score: $1) }
        }
        heap.drainDescending(into: &result)
        topKStorage = heap.items
        for i in result.indices { result[i].probability = sigmoid(result[i].probability) }
    }
}

// MARK: - Towers (two-tower MF)

extension Pipeline {
    /// Two-tower MF only (nil otherwise): writes the user tower `U` (k floats) of the user and context of the last
    /// processed event into `vector`, and returns the linear part of its rows that involves no item: the global
    /// bias plus the user's and context's terms (crosses among them included). With ``itemTower(_:into:)`` of item
    /// `j`, `σ(user linear + item linear + U·I)` is the score of (user, j) when the pipeline has no user × item
    /// cross (those add their own linear terms); the worker publishes both as `user_vector` / `item_vector`.
    public mutating func userTower(into vector: inout [Float]) -> Double? {
        guard case .matrixFactorization = model.configuration.kind else { return nil }
        return Self.tower(of: featurizer.emitItemIndependent(), model, item: false, into: &vector)
    }

    /// Two-tower MF only (nil otherwise): writes the item tower `I` (k floats) of catalog item `j`, from its
    /// catalog features, into `vector`, and returns the linear terms of those features (no bias, no crosses).
    /// Leaves the featurizer's item-side scratch at item `j`.
    public mutating func itemTower(_ j: Int, into vector: inout [Float]) -> Double? {
        guard case .matrixFactorization = model.configuration.kind, j >= 0, j < catalog.count else { return nil }
        featurizer.loadItem(j, from: catalog)
        return Self.tower(of: featurizer.emitItemNamespaces(), model, item: true, into: &vector) - model.bias
    }

    /// The MF towers of `features` (``Model/beginRows(_:state:)``): writes the user tower (or, with `item`, the item
    /// tower) into `vector` and returns the features' linear terms, the bias first.
    static func tower(of features: FeatureSlice, _ model: Model, item: Bool, into vector: inout [Float]) -> Double {
        let k = model.configuration.kind.factors
        vector.removeAll(keepingCapacity: true)
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: model.rowStateCount) { state in
            let linear = model.beginRows(features, state: state.baseAddress!)
            vector.append(contentsOf: state[(item ? k : 0)..<(item ? 2 &* k : k)])
            return linear
        }
    }
}

/// The link from a margin to a probability: the unclamped logistic σ, as every score and prediction uses it.
@inline(__always) public func sigmoid(_ m: Double) -> Double { 1 / (1 + exp(-m)) }

/// Counts of what the pipeline did; all monotonic.
public struct PipelineCounters: Sendable, Equatable {
    public var events: UInt64 = 0
    public var rejected: UInt64 = 0
    /// Rejections by reason code.
    public var rejectedByReason: [String: UInt64] = [:]
    /// Events that created an example.
    public var examples: UInt64 = 0
    /// Feedback events (positives).
    public var feedback: UInt64 = 0
    /// Feedback with no pending example of the same (user, item).
    public var unattributedFeedback: UInt64 = 0
    /// Events of types the label rule does not use.
    public var ignored: UInt64 = 0
    /// Examples labelled and learned.
    public var labelled: UInt64 = 0
    public var positives: UInt64 = 0
    public var expiredNegatives: UInt64 = 0
    public var overflowNegatives: UInt64 = 0
    public var endOfInputNegatives: UInt64 = 0
    /// Decision log records (rankings) read as an input (`serving.learn_from_rankings`), and those rejected.
    public var rankings: UInt64 = 0
    public var rankingsRejected: UInt64 = 0
    /// Pending examples made from the rankings' shown items (one per item; ``examples`` counts events only).
    public var rankingExamples: UInt64 = 0
    /// Rewards: feedback events carrying a `ranking_id` while the pipeline learns from rankings.
    public var rewards: UInt64 = 0
    /// Rewards that labelled their ranking's example of the item positive.
    public var rewardsAttributed: UInt64 = 0
    /// Rewards that found no pending example of (ranking, item) whose window holds the reward's time: a ranking this
    /// pipeline has not read (unknown, or not read yet), one whose window closed (expired), an item the ranking did
    /// not show, or one already rewarded.
    public var rewardsUnknownRanking: UInt64 = 0

    mutating func countRejected(_ reason: RejectReason) {
        rejected &+= 1
        rejectedByReason[reason.code, default: 0] &+= 1
    }
}

/// Keeps the k highest-scoring items (min-heap).
struct TopK {
    let k: Int
    /// Items never kept (a short list: checked per offer).
    let excluded: [Int]
    var items: [(item: Int, score: Double)] = []
    /// A heap that takes over `storage`'s buffer (emptied, its capacity kept; `storage` is left empty): a caller
    /// that hands ``items`` back after use allocates once, not per heap.
    init(k: Int, excluding: [Int] = [], reusing storage: inout [(item: Int, score: Double)]) {
        self.k = k
        self.excluded = excluding
        swap(&items, &storage)
        items.removeAll(keepingCapacity: true)
        items.reserveCapacity(k)
    }
    /// Inlined where candidates are scored: once the heap is full most candidates fall below its minimum, and that
    /// test is all they cost.
    @inline(__always)
    mutating func offer(item: Int, score: Double) {
        if items.count == k, k > 0, !(score > items[0].score) { return }
        insert(item: item, score: score)
    }

    @inline(never)
    mutating func insert(item: Int, score: Double) {
        if !excluded.isEmpty, excluded.contains(item) { return }
        if items.count < k {
            items.append((item, score))
            var i = items.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                guard items[i].score < items[p].score else { break }
                items.swapAt(i, p)
                i = p
            }
        } else if k > 0, score > items[0].score {
            items[0] = (item, score)
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l].score < items[m].score { m = l }
                if r < items.count, items[r].score < items[m].score { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
    }
    /// Appends the kept items to `result`, best first (ties by item index); sorts the heap's storage in place.
    mutating func drainDescending(into result: inout [(item: Int, probability: Double)]) {
        items.sort { $0.score > $1.score || ($0.score == $1.score && $0.item < $1.item) }
        for entry in items { result.append((entry.item, entry.score)) }
    }
}
