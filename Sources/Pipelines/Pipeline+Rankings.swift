import Events
import Learning

// Rewards close the loop (issue 14, item 4; docs/serving.md, "Rewards"): with `serving.learn_from_rankings`, the
// decision log is an input. A logged ranking makes one pending example per shown item — the row the ranking
// scored it by: the request's user and context with the item's catalog features (an unknown item: its id alone) —
// keyed by (ranking id, item id), due at the ranking's time plus the attribution window on its rankings
// partition's event time or its co-partitioned events partition's, whichever passes first
// (``Pipeline/linkRankingsPartitions()``). Feedback carrying that `ranking_id` labels the item's example positive; a shown item
// without one expires negative. Everything else about the join (overflow, partitions, checkpoints, hand-over) is
// the join's as for any example.

extension Pipeline {
    /// Reads one decision log record (a message of the rankings topic, partition index `partition`) with `parser`
    /// (the caller's: its request view points into the parser) and makes its shown items pending examples. A record
    /// that is not a valid decision goes to `sink.rejected` with its reason (counted in
    /// ``PipelineCounters/rankingsRejected``).
    public mutating func processDecision<S: PipelineSink>(
        _ input: UnsafeRawBufferPointer, partition: Int, parser: inout DecisionParser, sink: inout S
    ) {
        let parsed: (decision: LoggedDecision, request: EventView)
        do {
            parsed = try parser.parse(input)
        } catch {
            counters.rankingsRejected &+= 1
            sink.rejected(error, input: input)
            return
        }
        applyDecision(parsed.decision, request: parsed.request, partition: partition, sink: &sink)
    }

    /// A decision reader for this pipeline's context keys and request type (``requestEventType``).
    public func makeDecisionParser() -> DecisionParser {
        DecisionParser(contextKeys: contextKeys, type: requestEventType)
    }

    /// Makes the shown items of `decision` pending examples (see the top of this file); `request` is its user,
    /// context and time as an event view (``DecisionParser``).
    public mutating func applyDecision<S: PipelineSink>(
        _ decision: LoggedDecision, request: EventView, partition: Int, sink: inout S
    ) {
        counters.rankings &+= 1
        if request.timestamp > eventTimes[partition] {
            eventTimes[partition] = request.timestamp
            expire(partition: partition, upTo: request.timestamp, sink: &sink)
        }
        let weight = exampleWeights[Int(request.type.rawValue)]
        guard weight > 0 else { return }
        var ranking = decision.rankingID
        let rankingHash = ranking.withUTF8 { rankingKeyHash(UnsafeRawBufferPointer($0)) }
        var view = request
        for shown in decision.items {
            var id = shown.itemID
            id.withUTF8 { bytes in
                let raw = UnsafeRawBufferPointer(bytes)
                let itemHash = featurizer.hasher.hash(bytes: raw, seed: itemSeed)
                let item = catalog.lookup(key: catalogKey(raw, itemHash: itemHash))
                // The row the ranking scored: the user's and context's features, the item's from the catalog, or
                // for an item the catalog does not know its id alone (``probabilities(of:for:into:)``).
                view.itemID = raw
                featurizer.extract(view)
                if let item { featurizer.loadItem(item, from: catalog) } else { featurizer.clearItemSideContext() }
                let features = featurizer.emit()
                let stamp = model.stampedMargin(features)
                while let forced = join.makeRoom(for: features.count) {
                    learn(forced, label: false, cause: .overflow, sink: &sink)
                }
                let key = rankingKey(rankingHash, itemID: raw, itemHash: itemHash)
                let deadline = request.timestamp &+ spec.label.attributionWindowMs
                join.insert(
                    key: key, deadline: deadline, probability: stamp.probability,
                    weight: weight, item: item ?? -1, features: features, stamp: stamp, partition: partition)
                if let item { catalog.examplePending(item) }
                counters.rankingExamples &+= 1
                // A reward of this item that was read before this decision.
                if !heldRewards.isEmpty, let rewardTime = heldRewards.take(key) {
                    if rewardTime <= deadline, let example = join.takePending(key: key) {
                        counters.rewardsAttributed &+= 1
                        learn(example, label: true, cause: .feedback, sink: &sink)
                    } else {
                        counters.rewardsUnknownRanking &+= 1
                    }
                }
            }
        }
        if !heldRewards.isEmpty {
            // Rewards whose decision can no longer come: this partition's clock passed their time.
            let clock = eventTimes[partition], lateness = spec.label.allowedLatenessMs
            let gaveUp = heldRewards.release { $0.partition == partition && $0.timestamp &+ lateness < clock }
            counters.rewardsUnknownRanking &+= UInt64(gaveUp)
        }
    }

    /// A feedback event carrying a `ranking_id` (with `serving.learn_from_rankings`), from input partition
    /// `partition`: labels its ranking's example of the event's item positive when the event is within the
    /// example's window (`ts` ≤ the ranking's `ts` + the attribution window — the rule off-policy replay rewards by —
    /// whether or not the rankings partition's clock has closed it yet). With no such example while the decision log
    /// partition co-partitioned with `partition` has not reached the reward's time, the decision may still come: the
    /// reward is held for it (``HeldRewards``). Otherwise it counts in ``PipelineCounters/rewardsUnknownRanking``.
    @inline(__always)
    mutating func reward<S: PipelineSink>(_ event: borrowing EventView, itemHash: UInt32, partition: Int, sink: inout S) {
        counters.rewards &+= 1
        let key = rankingKey(rankingKeyHash(event.rankingID), itemID: event.itemID, itemHash: itemHash)
        if let example = join.takePending(key: key, at: event.timestamp) {
            counters.rewardsAttributed &+= 1
            learn(example, label: true, cause: .feedback, sink: &sink)
            return
        }
        let rankings = rankingsPartitionOf[partition]
        if rankings >= 0, eventTimes[rankings] < event.timestamp {
            let (held, gaveUp) = heldRewards.hold(HeldRewards.Reward(partition: rankings, key: key, timestamp: event.timestamp))
            counters.rewardsUnknownRanking &+= UInt64(gaveUp)
            if held { return }
        }
        counters.rewardsUnknownRanking &+= 1
    }

    /// 64 bits of a ranking id (two 32-bit hashes under their own seeds).
    @inline(__always)
    func rankingKeyHash(_ rankingID: UnsafeRawBufferPointer) -> UInt64 {
        UInt64(featurizer.hasher.hash(bytes: rankingID, seed: rankingSeed)) << 32
            | UInt64(featurizer.hasher.hash(bytes: rankingID, seed: rankingSeed2))
    }

    /// The join key of (ranking, item): the ranking's 64 bits and the item's catalog key, mixed (SplitMix64's
    /// finalizer). A (user, item) key is the user's 32-bit hash beside the item's: the two kinds collide with
    /// probability 2^-64 per pair, not by construction.
    @inline(__always)
    func rankingKey(_ rankingHash: UInt64, itemID: UnsafeRawBufferPointer, itemHash: UInt32) -> UInt64 {
        var z = rankingHash &+ catalogKey(itemID, itemHash: itemHash) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
