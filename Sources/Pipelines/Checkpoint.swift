import Foundation
import Learning
import Persistence

/// Where the next input message of one partition starts: the offsets a checkpoint includes.
public struct InputPosition: Sendable, Hashable, Codable, Comparable {
    public var topic: String
    public var partition: Int32
    /// The offset of the next message to read (all before it are in the checkpoint's state).
    public var offset: Int64

    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    public static func < (a: InputPosition, b: InputPosition) -> Bool {
        (a.topic, a.partition, a.offset) < (b.topic, b.partition, b.offset)
    }
}

/// Errors restoring a checkpoint.
public enum CheckpointError: Error, Equatable, CustomStringConvertible {
    case corrupt(path: String, reason: String)
    case pipelineChanged(path: String, saved: String, current: String)
    /// Written in a format whose definition fingerprint cannot be checked any more (format 1, before the canonical
    /// fingerprint): refused like a changed definition, never restored unverified.
    case unverifiable(path: String, version: UInt32)
    /// The checkpoint's catalog holds more items than `outputs.catalog_capacity` now allows.
    case catalogTooSmall(path: String, items: Int, capacity: Int)

    public var description: String {
        switch self {
        case .corrupt(let path, let reason): "checkpoint \(path) is unusable: \(reason)"
        case .pipelineChanged(let path, let saved, let current):
            "checkpoint \(path) was written by pipeline '\(saved)' with a different definition than '\(current)'; "
                + "move the checkpoint directory away to start fresh"
        case .catalogTooSmall(let path, let items, let capacity):
            "checkpoint \(path) holds \(items) catalog items, more than outputs.catalog_capacity (\(capacity)); "
                + "raise it to at least \(items), or move the checkpoint directory away to start fresh"
        case .unverifiable(let path, let version):
            "checkpoint \(path) is in format \(version), whose pipeline fingerprint this version cannot verify; "
                + "move the checkpoint directory away to start fresh"
        }
    }
}

/// The exactly-once unit of model state: pipeline state (model, pending examples, item catalog, counters) plus the
/// input positions it includes, in one checksummed frame (`FLCK`), written atomically (temp, fsync, rename).
///
/// The worker restores the newest valid checkpoint and seeks each partition to the positions stored *here*, so
/// every event is applied to the model exactly once across crashes. Progressive metrics are not part of it: after a
/// restart they cover the events since.
extension Pipeline {
    static let checkpointMagic = "FLCK"
    static let checkpointVersion: UInt32 = 7

    /// The state-definition encoding a checkpoint format's fingerprint uses: 2 from format 3 on, 1 for format 2
    /// (which also covered the catalog capacity).
    static func stateDefinitionEncoding(ofFormat format: UInt32) -> UInt32 { format >= 3 ? 2 : 1 }

    /// A fingerprint of the parts of the definition that give the checkpointed state its meaning: a checkpoint
    /// only restores into a pipeline whose fingerprint matches. CRC-32C of ``PipelineSpec/encodeStateDefinition(into:encoding:)``.
    public var specFingerprint: UInt32 { specFingerprint(encoding: PipelineSpec.stateDefinitionEncoding) }

    /// The fingerprint under an encoding of the state definition (see ``stateDefinitionEncoding(ofFormat:)``).
    func specFingerprint(encoding: UInt32) -> UInt32 {
        var w = BinaryWriter(capacity: 512)
        spec.encodeStateDefinition(into: &w, encoding: encoding)
        return Checksum.crc32c(w.bytes)
    }

    /// Serializes the pipeline state and the input positions it includes.
    public func checkpointBytes(positions: [InputPosition]) -> [UInt8] {
        var w = BinaryWriter(capacity: 1 << 16)
        writeCheckpoint(positions: positions, into: &w)
        return w.bytes
    }

    /// Appends the checkpoint (the bytes ``checkpointBytes(positions:)`` returns) to `w`, so that a caller can keep
    /// one buffer for every checkpoint instead of growing a new one each time (``CheckpointStore`` does).
    public func writeCheckpoint(positions: [InputPosition], into w: inout BinaryWriter) {
        writeCheckpoint(positions: positions, into: &w, format: Self.checkpointVersion)
    }

    /// `writeCheckpoint` in `format` 7 (current), 6, 5, 4, 3 or 2 (earlier ones, for the tests that restore them).
    /// Format 4 adds the input partitions' event times and each pending example's partition; format 5 the worker's
    /// group state (``groupState``); format 6 the counters of the decision log and its rewards
    /// (``PipelineCounters/rankings`` …); format 7 the rewards held for their decisions (``HeldRewards``).
    /// Pending examples of rankings are pending examples like any other (their key is the ranking's and the item's).
    func writeCheckpoint(positions: [InputPosition], into w: inout BinaryWriter, format: UInt32) {
        let frame = w.beginFrame(magic: Self.checkpointMagic, version: format)
        w.write(string: spec.name)
        w.write(specFingerprint(encoding: Self.stateDefinitionEncoding(ofFormat: format)))
        w.write(UInt64(positions.count))
        for p in positions.sorted() {
            w.write(string: p.topic)
            w.write(UInt32(bitPattern: p.partition))
            w.write(p.offset)
        }
        w.writeLengthPrefixed { model.writeSnapshot(into: &$0) }  // = write(bytes: model.snapshotBytes()), no copy
        w.write(maxEventTime)
        w.write(rng.state)
        counters.write(to: &w, format: format)
        w.write(featurizer.truncatedValues)
        if format >= 4 {
            w.write(UInt64(partitionKeys.count))
            for (i, key) in partitionKeys.enumerated() {
                w.write(string: key.topic)
                w.write(UInt32(bitPattern: key.partition))
                w.write(eventTimes[i])
            }
            w.write(Int64(legacyPartition ?? -1))
        }
        join.write(to: &w, format: format)
        catalog.write(to: &w, format: format)
        if format >= 5 { w.write(bytes: groupState) }
        if format >= 7 { heldRewards.write(to: &w) }
        w.endFrame(frame)
    }

    /// Restores a pipeline for `spec` from checkpoint bytes; returns it with the positions it includes.
    public static func restore(spec: PipelineSpec, from bytes: [UInt8], path: String = "<checkpoint>") throws(CheckpointError) -> (Pipeline, [InputPosition]) {
        var pipeline = Pipeline(spec: spec)
        var r = BinaryReader(bytes)
        do {
            let frame = try r.openFrame(magic: checkpointMagic, versions: 1...checkpointVersion)
            guard frame.version >= 2 else { throw CheckpointError.unverifiable(path: path, version: frame.version) }
            let name = try r.readString()
            let fingerprint = try r.readUInt32()
            guard fingerprint == pipeline.specFingerprint(encoding: stateDefinitionEncoding(ofFormat: frame.version)) else {
                throw CheckpointError.pipelineChanged(path: path, saved: name, current: spec.name)
            }
            var positions: [InputPosition] = []
            let n = try r.readUInt64()
            guard n < 1 << 20 else { throw SnapshotError.invalid("\(n) positions") }
            for _ in 0..<n {
                positions.append(InputPosition(topic: try r.readString(), partition: Int32(bitPattern: try r.readUInt32()), offset: try r.readInt64()))
            }
            pipeline.model = try Model(snapshotBytes: try r.readBytes())
            guard pipeline.model.configuration == spec.model else { throw SnapshotError.invalid("model configuration differs from the pipeline's") }
            let maxEventTime = try r.readInt64()
            pipeline.rng.state = try r.readUInt64()
            pipeline.counters = try PipelineCounters.read(from: &r, format: frame.version)
            pipeline.featurizer.truncatedValues = try r.readUInt64()
            if frame.version >= 4 {
                let n = try r.readUInt64()
                guard n >= 1, n <= 1 << 16 else { throw SnapshotError.invalid("\(n) input partitions") }
                pipeline.partitionKeys = []
                pipeline.eventTimes = []
                for _ in 0..<n {
                    pipeline.partitionKeys.append((try r.readString(), Int32(bitPattern: try r.readUInt32())))
                    pipeline.eventTimes.append(try r.readInt64())
                }
                let legacy = try r.readInt64()
                guard legacy >= -1, legacy < Int64(n) else { throw SnapshotError.invalid("legacy partition \(legacy)") }
                pipeline.legacyPartition = legacy >= 0 ? Int(legacy) : nil
            } else {
                // Written when the label join's watermark was global: its pending examples keep that rule (they expire
                // by the greatest event time of any partition) until they are labelled.
                pipeline.eventTimes[0] = maxEventTime
                pipeline.legacyPartition = 0
            }
            try pipeline.join.read(from: &r, format: frame.version, partitions: pipeline.partitionKeys.count)
            // The catalog capacity may change across a restart, but not below what the checkpoint holds.
            var probe = r
            let items = try probe.readUInt64()
            guard items <= UInt64(pipeline.catalog.capacity) else {
                throw CheckpointError.catalogTooSmall(path: path, items: Int(clamping: items), capacity: pipeline.catalog.capacity)
            }
            try pipeline.catalog.read(
                from: &r, version: frame.version, now: pipeline.counters.events, pendingItems: pipeline.join.pendingItems())
            if frame.version >= 5 { pipeline.groupState = try r.readBytes() }
            if frame.version >= 7 { try pipeline.heldRewards.read(from: &r, partitions: pipeline.partitionKeys.count) }
            try r.closeFrame(frame)
            return (pipeline, positions)
        } catch let error as CheckpointError {
            throw error
        } catch let error as SnapshotError {
            throw .corrupt(path: path, reason: "\(error)")
        } catch {
            throw .corrupt(path: path, reason: "\(error)")
        }
    }
}

// MARK: - Parts

extension PipelineSpec {
    /// A canonical, versioned encoding of what the checkpointed state depends on: the features (hashing, namespaces,
    /// crosses), the label rule (which examples are pending, their windows and buffer) and the model configuration
    /// (encoding 1 also had the catalog capacity). Explicit fields in a fixed order — no `String(describing:)` and no dictionary or
    /// set iteration order, which Swift randomises per process — so the fingerprint is the same in every process
    /// and every build. Topics, `top_k`, `candidates`, `min_bias_shift`, `popularity_half_life`, the catalog
    /// capacity (encoding 2; a restore checks that the catalog fits) and the evaluation options are left out:
    /// changing them keeps the learned model.
    public func encodeStateDefinition(into w: inout BinaryWriter, encoding: UInt32 = PipelineSpec.stateDefinitionEncoding) {
        w.write(encoding)  // version of this encoding
        w.write(UInt64(features.bits))
        w.write(UInt64(features.maxValuesPerField))
        w.write(UInt64(features.namespaces.count))
        for n in features.namespaces {
            w.write(string: n.name)
            w.write(string: n.source.fieldName)
            switch n.transform {
            case .categorical: w.write(UInt8(0))
            case .bucket(let width): w.write(UInt8(1)); w.write(width)
            case .numeric(let scale): w.write(UInt8(2)); w.write(scale)
            }
            w.write(string: n.side.rawValue)
        }
        w.write(UInt64(features.crosses.count))
        for c in features.crosses { w.write(UInt64(c.first)); w.write(UInt64(c.second)) }
        let weights = label.exampleWeights.sorted { $0.key.rawValue < $1.key.rawValue }
        w.write(UInt64(weights.count))
        for (type, weight) in weights { w.write(type.rawValue); w.write(weight) }
        let positives = label.positiveTypes.map(\.rawValue).sorted()
        w.write(UInt64(positives.count))
        for type in positives { w.write(type) }
        w.write(label.attributionWindowMs)
        w.write(label.allowedLatenessMs)
        w.write(UInt64(label.bufferCapacity))
        model.encode(into: &w)
        if encoding == 1 { w.write(UInt64(outputs.catalogCapacity)) }
    }

    /// The current encoding of the state definition (checkpoint format 3).
    public static let stateDefinitionEncoding: UInt32 = 2
}

extension PipelineCounters {
    func write(to w: inout BinaryWriter, format: UInt32) {
        for v in [events, rejected, examples, feedback, unattributedFeedback, ignored, labelled, positives,
                  expiredNegatives, overflowNegatives, endOfInputNegatives] { w.write(v) }
        w.write(UInt64(rejectedByReason.count))
        for (k, v) in rejectedByReason.sorted(by: { $0.key < $1.key }) {
            w.write(string: k)
            w.write(v)
        }
        // Format 6: the decision log's counters.
        if format >= 6 {
            for v in [rankings, rankingsRejected, rankingExamples, rewards, rewardsAttributed, rewardsUnknownRanking] { w.write(v) }
        }
    }

    /// Counters written in checkpoint `format` (before 6 without the decision log's: zero).
    static func read(from r: inout BinaryReader, format: UInt32) throws(SnapshotError) -> PipelineCounters {
        var c = PipelineCounters()
        c.events = try r.readUInt64(); c.rejected = try r.readUInt64(); c.examples = try r.readUInt64()
        c.feedback = try r.readUInt64(); c.unattributedFeedback = try r.readUInt64(); c.ignored = try r.readUInt64()
        c.labelled = try r.readUInt64(); c.positives = try r.readUInt64(); c.expiredNegatives = try r.readUInt64()
        c.overflowNegatives = try r.readUInt64(); c.endOfInputNegatives = try r.readUInt64()
        let n = try r.readUInt64()
        guard n < 1 << 16 else { throw .invalid("\(n) reject reasons") }
        for _ in 0..<n { c.rejectedByReason[try r.readString()] = try r.readUInt64() }
        if format >= 6 {
            c.rankings = try r.readUInt64(); c.rankingsRejected = try r.readUInt64(); c.rankingExamples = try r.readUInt64()
            c.rewards = try r.readUInt64(); c.rewardsAttributed = try r.readUInt64(); c.rewardsUnknownRanking = try r.readUInt64()
        }
        return c
    }
}

extension LabelJoin {
    /// Exact state: the live ring (resolved holes included) and the features of pending examples at their arena
    /// positions, so a restored join makes the same overflow decisions as one that never stopped.
    func write(to w: inout BinaryWriter, format: UInt32) {
        w.write(UInt64(capacity))
        w.write(UInt64(arenaCapacity))
        w.write(UInt64(head))
        w.write(UInt64(tail))
        w.write(UInt64(arenaTail))
        w.write(forcedByOverflow)
        for seq in head..<tail {
            let s = seq % capacity
            w.write(pending[s])
            guard pending[s] else { continue }
            w.write(keys[s]); w.write(deadlines[s]); w.write(probabilities[s]); w.write(weights[s])
            w.write(UInt32(bitPattern: items[s])); w.write(UInt32(bitPattern: featureStarts[s])); w.write(UInt32(bitPattern: featureCounts[s]))
            let row = Int(rowStarts[s])
            let st = storage
            for j in row..<(row + Int(featureCounts[s])) {
                w.write(st.rowIndices[j]); w.write(st.rowValues[j]); w.write(st.rowFields[j])
            }
            // Format 4: the example's input partition (its chain is its partition's pending examples in order).
            if format >= 4 { w.write(UInt32(partitionOf[s])) }
        }
    }

    mutating func read(from r: inout BinaryReader, format: UInt32, partitions: Int) throws(SnapshotError) {
        guard try r.readUInt64() == UInt64(capacity), try r.readUInt64() == UInt64(arenaCapacity) else {
            throw .invalid("join buffer capacity differs from the pipeline's")
        }
        makeUnique()
        let head = Int(try r.readUInt64()), tail = Int(try r.readUInt64())
        let arenaTail = Int(try r.readUInt64())
        guard head <= tail, tail - head <= capacity, arenaTail <= arenaCapacity else { throw .invalid("join ring bounds") }
        self.head = head
        self.tail = tail
        self.arenaTail = arenaTail
        forcedByOverflow = try r.readUInt64()
        pendingCount = 0
        byKey.removeAll()
        for seq in head..<tail { pending[seq % capacity] = false }  // live again only once read back
        for seq in head..<tail {
            let s = seq % capacity
            pending[s] = try r.readBool()
            guard pending[s] else { continue }
            keys[s] = try r.readUInt64(); deadlines[s] = try r.readInt64(); probabilities[s] = try r.readDouble()
            weights[s] = try r.readFloat(); items[s] = Int32(bitPattern: try r.readUInt32())
            featureStarts[s] = Int32(bitPattern: try r.readUInt32()); featureCounts[s] = Int32(bitPattern: try r.readUInt32())
            let start = Int(featureStarts[s]), count = Int(featureCounts[s])
            guard start >= 0, count >= 0, start + count <= arenaCapacity else { throw .invalid("join features out of the arena") }
            pending[s] = false  // not live until its row is stored (a compaction must not move it half-read)
            let row = rowAllocate(count)
            let st = storage
            for j in row..<(row + count) {
                st.rowIndices[j] = try r.readUInt32(); st.rowValues[j] = try r.readFloat(); st.rowFields[j] = try r.readUInt8()
            }
            rowStarts[s] = Int32(row)
            let partition = format >= 4 ? Int(try r.readUInt32()) : 0
            guard partition < max(partitions, 1) else { throw .invalid("join example of partition \(partition) of \(partitions)") }
            partitionOf[s] = UInt16(partition)
            pending[s] = true
            // Arrival margins are not part of the checkpoint: a restored example recomputes its margin when it learns
            // (bit-identical: the stamp only ever saves recomputing the same value).
            stamps[s] = .none
            byKey[keys[s]] = seq
            pendingCount += 1
        }
        // Each partition's chain: its pending examples in arrival order.
        partitionHead = []
        partitionTail = []
        growPartitions(to: max(partitions, 1))
        for seq in head..<tail where pending[seq % capacity] { link(seq, partition: Int(partitionOf[seq % capacity])) }
    }
}

extension ItemCatalog {
    func write(to w: inout BinaryWriter, format: UInt32) {
        w.write(UInt64(count))
        w.write(overflow)
        for item in 0..<count {
            w.write(keyOf(item))
            withID(of: item) { w.write(bytes: Array($0)) }
            let base = slotStart(item)
            let count = featureCount(of: item)
            w.write(UInt32(count))
            for k in base..<(base + count) {
                w.write(hashes[k]); w.write(values[k]); w.write(namespaces[k])
            }
            w.write(positives[item])
        }
        w.write(UInt64(pool.count))
        for item in pool { w.write(UInt32(bitPattern: item)) }
        // Format 3: the popularity's half-life, epoch and values (values only with a half-life).
        guard format >= 3 else { return }
        w.write(halfLifeMs)
        w.write(UInt8(epochMs == nil ? 0 : 1))
        w.write(epochMs ?? 0)
        if halfLifeMs > 0 {
            for item in 0..<count { w.write(popularity[item]) }
        }
        // The eviction clock and each item's last sighting (pending examples are recounted from the join).
        w.write(UInt64(hand))
        w.write(sweepAfter)
        w.write(evicted)
        for item in 0..<count {
            w.write(recency[item].lastSeen)
            w.write(recency[item].referenced)
        }
    }

    /// Reads a catalog written in checkpoint format `version` (2: no popularity, no eviction state; 3: with them).
    /// `now` is the restored pipeline's event count; `pendingItems` the items of the label join's pending examples.
    mutating func read(from r: inout BinaryReader, version: UInt32, now: UInt64, pendingItems: [Int]) throws(SnapshotError) {
        let n = Int(try r.readUInt64())
        guard n <= capacity else { throw .invalid("catalog holds \(n) items, capacity \(capacity)") }
        let savedOverflow = try r.readUInt64()
        for expected in 0..<n {
            let key = try r.readUInt64()
            let id = try r.readBytes()
            let item = id.withUnsafeBytes { lookupOrInsert(key: key, id: $0) }
            guard item == expected else { throw .invalid("duplicate item in catalog") }
            let count = Int(try r.readUInt32())
            guard count <= featureWidth else { throw .invalid("item features exceed the slot width") }
            let base = slotStart(expected)
            for k in base..<(base + count) {
                hashes[k] = try r.readUInt32(); values[k] = try r.readFloat(); namespaces[k] = try r.readUInt8()
            }
            recountGroups(of: expected, count: count)
            setPositiveCount(of: expected, try r.readUInt32())
        }
        overflow = savedOverflow
        let poolCount = Int(try r.readUInt64())
        guard poolCount <= count else { throw .invalid("pool of \(poolCount) items in a catalog of \(count)") }
        var saved: [Int32] = []
        saved.reserveCapacity(poolCount)
        for _ in 0..<poolCount { saved.append(Int32(bitPattern: try r.readUInt32())) }
        var savedPopularity: [Double]? = nil
        var savedEpoch: Int64? = nil
        var savedLastSeen: [UInt64]? = nil, savedReferenced: [UInt8]? = nil
        var savedHand = 0, savedSweepAfter: UInt64 = 0, savedEvicted: UInt64 = 0
        if version >= 3 {
            let savedHalfLife = try r.readInt64()
            let hasEpoch = try r.readUInt8()
            let epoch = try r.readInt64()
            guard savedHalfLife >= 0, hasEpoch <= 1 else { throw .invalid("catalog popularity header") }
            if hasEpoch == 1 { savedEpoch = epoch }
            if savedHalfLife > 0 {
                var values: [Double] = []
                values.reserveCapacity(count)
                for _ in 0..<count {
                    let x = try r.readDouble()
                    guard x.isFinite, x >= 0 else { throw .invalid("catalog popularity \(x)") }
                    values.append(x)
                }
                savedPopularity = values
            }
            savedHand = Int(clamping: try r.readUInt64())
            savedSweepAfter = try r.readUInt64()
            savedEvicted = try r.readUInt64()
            var seen: [UInt64] = [], bits: [UInt8] = []
            seen.reserveCapacity(count)
            bits.reserveCapacity(count)
            for _ in 0..<count {
                seen.append(try r.readUInt64())
                let bit = try r.readUInt8()
                guard bit <= 1 else { throw .invalid("catalog clock bit \(bit)") }
                bits.append(bit)
            }
            savedLastSeen = seen
            savedReferenced = bits
        }
        restoreEviction(
            lastSeen: savedLastSeen, referenced: savedReferenced, hand: savedHand, sweepAfter: savedSweepAfter,
            evicted: savedEvicted, now: now, pendingItems: pendingItems)
        // Popularity from another half-life keeps its values (their order stays; new feedback decays with the new
        // half-life); from none (or format 2) it starts from the counts.
        restorePopularity(savedPopularity, epochMs: savedPopularity == nil ? nil : savedEpoch)
        // A pool of another size (outputs.candidates changed) or one that does not fit is rebuilt from the counts.
        if !restorePool(saved) { rebuildPool() }
    }
}
