import Learning
import Persistence

/// The state of one input partition that must follow the partition when it moves to another member of a consumer
/// group: its pending examples (the label join's clicks awaiting their purchase, a decision's shown items awaiting
/// their reward), its event time, and for a decision log partition the rewards held for decisions not read yet
/// (``HeldRewards``).
///
/// ``exportPartition(_:)`` takes them out of this pipeline (unlabelled) as bytes; ``importPartition(_:into:sink:)``
/// puts them into another pipeline of the same state definition, in the same order, under that pipeline's index for
/// the partition — so the new owner labels each of those clicks exactly as the old owner would have (by its
/// purchase, or by the partition's own event time passing its deadline). Items travel by id (catalog indices are
/// local to a pipeline): an item the new owner's catalog does not hold yet enters it by id, its item-side features
/// following with its next event (a full catalog that can evict nothing leaves the example without a catalog index).
extension Pipeline {
    static let partitionStateMagic: UInt32 = 0x464C_5053  // "FLPS"
    /// 2: the held rewards after the examples (1, read too: none).
    static let partitionStateVersion: UInt32 = 2

    /// The pending examples, event time and held rewards of partition `index`, as bytes for
    /// ``importPartition(_:into:sink:)``. With `removing` (the default) they are taken out: the pipeline then holds
    /// nothing of that partition.
    public mutating func exportPartition(_ index: Int, removing: Bool = true) -> [UInt8] {
        var w = BinaryWriter(capacity: 4096)
        w.write(Self.partitionStateMagic)
        w.write(Self.partitionStateVersion)
        w.write(specFingerprint(encoding: Self.stateDefinitionEncoding(ofFormat: Self.checkpointVersion)))
        w.write(index < eventTimes.count ? eventTimes[index] : .min)
        var examples = BinaryWriter(capacity: 4096)
        var count: UInt64 = 0
        var items: [Int] = []
        join.visitPartition(index, removing: removing) { resolved, features, deadline, key in
            count += 1
            examples.write(key)
            examples.write(deadline)
            examples.write(resolved.probability)
            examples.write(Float(resolved.weight))
            if resolved.item >= 0 {
                catalog.withID(of: resolved.item) { examples.write(bytes: Array($0)) }
                items.append(resolved.item)
            } else {
                examples.write(bytes: [])
            }
            examples.write(UInt32(features.count))
            for j in 0..<features.count {
                examples.write(features.indices[j])
                examples.write(features.values[j])
                examples.write(features.fields[j])
            }
        }
        if removing { forget(index, items: items) }
        w.write(count)
        w.write(bytes: examples.bytes)
        let held = heldRewards.export(partition: index, removing: removing)
        w.write(UInt64(held.count))
        for r in held {
            w.write(r.key)
            w.write(r.timestamp)
        }
        return w.bytes
    }

    /// Takes the pending examples, event time and held rewards of partition `index` out of this pipeline without
    /// labelling or counting them (another member labels and counts them, from its own copy of the state).
    public mutating func dropPartition(_ index: Int) {
        _ = heldRewards.export(partition: index, removing: true)
        var items: [Int] = []
        join.visitPartition(index, removing: true) { resolved, _, _, _ in
            if resolved.item >= 0 { items.append(resolved.item) }
        }
        forget(index, items: items)
    }

    /// After partition `index`'s pending examples (of catalog `items`) left the join unlabelled: the catalog's
    /// pending counts and the partition's event time follow.
    private mutating func forget(_ index: Int, items: [Int]) {
        for item in items { catalog.exampleResolved(item, now: counters.events) }
        if index < eventTimes.count { eventTimes[index] = .min }
    }

    /// Adds the pending examples, event time and held rewards exported from partition state `bytes` to partition
    /// `index` of this pipeline (after any it holds already). A full join labels its oldest examples negative first,
    /// as for any new example (counted overflow); past its capacity the held rewards give up their oldest (counted as
    /// unknown rankings). Throws for bytes of another state definition or damaged bytes, changing nothing.
    public mutating func importPartition<S: PipelineSink>(_ bytes: [UInt8], into index: Int, sink: inout S) throws(CheckpointError) {
        var r = BinaryReader(bytes)
        var examples: [ExportedExample] = []
        var held: [(key: UInt64, timestamp: Int64)] = []
        let eventTime: Int64
        var version: UInt32 = 0
        do {
            guard try r.readUInt32() == Self.partitionStateMagic else { throw SnapshotError.invalid("not a partition state") }
            version = try r.readUInt32()
            guard version == 1 || version == Self.partitionStateVersion else {
                throw SnapshotError.invalid("partition state version \(version)")
            }
            guard try r.readUInt32() == specFingerprint(encoding: Self.stateDefinitionEncoding(ofFormat: Self.checkpointVersion)) else {
                throw CheckpointError.pipelineChanged(path: "<partition state>", saved: "?", current: spec.name)
            }
            eventTime = try r.readInt64()
            let count = try r.readUInt64()
            var e = BinaryReader(try r.readBytes())
            guard count <= UInt64(join.capacity) else { throw SnapshotError.invalid("\(count) pending examples") }
            for _ in 0..<count {
                var x = ExportedExample(
                    key: try e.readUInt64(), deadline: try e.readInt64(), probability: try e.readDouble(), weight: try e.readFloat(),
                    itemID: try e.readBytes(), indices: [], values: [], fields: [])
                let n = Int(try e.readUInt32())
                guard n <= join.arenaCapacity else { throw SnapshotError.invalid("\(n) features") }
                for _ in 0..<n {
                    x.indices.append(try e.readUInt32())
                    x.values.append(try e.readFloat())
                    x.fields.append(try e.readUInt8())
                }
                examples.append(x)
            }
            if version >= 2 {
                let n = try r.readUInt64()
                guard n <= UInt64(HeldRewards.capacity) else { throw SnapshotError.invalid("\(n) held rewards") }
                for _ in 0..<n { held.append((try r.readUInt64(), try r.readInt64())) }
            }
        } catch let error as CheckpointError {
            throw error
        } catch {
            throw .corrupt(path: "<partition state>", reason: "\(error)")
        }
        if index >= eventTimes.count { eventTimes.append(contentsOf: repeatElement(.min, count: index + 1 - eventTimes.count)) }
        eventTimes[index] = max(eventTimes[index], eventTime)
        for x in examples {
            var item = -1
            if !x.itemID.isEmpty {
                let key = x.itemID.withUnsafeBytes { catalogKey($0) }
                // Known here, or entered now by id (its item-side features follow with its next event).
                item = x.itemID.withUnsafeBytes { catalog.lookupOrInsert(key: key, id: $0, now: counters.events) } ?? -1
            }
            while let forced = join.makeRoom(for: x.indices.count) {
                learn(forced, label: false, cause: .overflow, sink: &sink)
            }
            x.indices.withUnsafeBufferPointer { i in
                x.values.withUnsafeBufferPointer { v in
                    x.fields.withUnsafeBufferPointer { f in
                        join.insert(
                            key: x.key, deadline: x.deadline, probability: x.probability, weight: Double(x.weight), item: item,
                            features: FeatureSlice(indices: i.baseAddress!, values: v.baseAddress!, fields: f.baseAddress!, count: x.indices.count),
                            stamp: .none, partition: index)
                    }
                }
            }
            if item >= 0 { catalog.examplePending(item) }
        }
        for r in held {
            let (isHeld, gaveUp) = heldRewards.hold(HeldRewards.Reward(partition: index, key: r.key, timestamp: r.timestamp))
            // Not held: one of the same key already is (a second reward of the same shown item), counted as the
            // reward path counts it.
            counters.rewardsUnknownRanking &+= UInt64(gaveUp + (isHeld ? 0 : 1))
        }
    }
}

/// One pending example of an exported partition state, read back.
struct ExportedExample {
    var key: UInt64, deadline: Int64, probability: Double, weight: Float, itemID: [UInt8]
    var indices: [UInt32], values: [Float], fields: [UInt8]
}
