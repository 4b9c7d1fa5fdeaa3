import Events
import Learning

// Featurizing ahead, on another thread than learning: what ``Featurizer/extract(_:)`` leaves in the featurizer's
// scratch for an event (each namespace's hashed values) and the hashes the label join and the item catalog key
// the event by, computed for a whole batch by a copy of the pipeline's featurizer (``FeaturizerAhead``) and loaded
// back by the pipeline as it learns (``Pipeline/process(_:of:ahead:entry:input:partition:sink:)``). Neither reads
// model state, so a replay featurizes the next batches while the current one learns; the pipeline then computes
// exactly what featurizing in its step computes (the same scratch, the same keys, the same truncation count).

/// The hashes an event is keyed by: its user and item ids under the join's seed, and its item id under the catalog's
/// second seed (``Pipeline/joinKey(_:itemHash:userHash:)``, ``Pipeline/catalogKey(_:itemHash:itemHash2:)``).
struct EventKeys {
    var user: UInt32
    var item: UInt32
    var item2: UInt32
}

/// One batch's featurizing done ahead: per entry of an ``EventBatch`` (a rejected input has an empty record), its
/// keys, its values per namespace and how many values it dropped as too many (``Featurizer/truncatedValues``).
///
/// The memory is raw and reused from batch to batch: the reading thread writes a batch through one
/// ``FeaturesAhead/Storage`` value and the learning thread reads it through another, each taken once per batch, so
/// no per-value access goes through the class (whose stored properties Swift checks for exclusive access at run
/// time, and whose arrays it checks for uniqueness).
public final class FeaturesAhead: @unchecked Sendable {
    /// The buffers and how much of them a batch uses.
    public struct Storage {
        let namespaces: Int
        var keys: UnsafeMutablePointer<EventKeys>
        /// Per entry, where its values start in `hashes` and `values`.
        var starts: UnsafeMutablePointer<Int32>
        var truncated: UnsafeMutablePointer<UInt32>
        /// Per entry, `namespaces` counts.
        var counts: UnsafeMutablePointer<UInt16>
        var hashes: UnsafeMutablePointer<UInt32>
        var values: UnsafeMutablePointer<Float>
        var entryCapacity: Int
        var valueCapacity: Int
        /// Entries and values written.
        var entries = 0
        var valueCount = 0

        init(namespaces: Int, entryCapacity: Int, valueCapacity: Int) {
            self.namespaces = namespaces
            self.entryCapacity = entryCapacity
            self.valueCapacity = valueCapacity
            keys = .allocate(capacity: entryCapacity)
            starts = .allocate(capacity: entryCapacity)
            truncated = .allocate(capacity: entryCapacity)
            counts = .allocate(capacity: entryCapacity * max(namespaces, 1))
            hashes = .allocate(capacity: valueCapacity)
            values = .allocate(capacity: valueCapacity)
        }

        func deallocate() {
            keys.deallocate(); starts.deallocate(); truncated.deallocate()
            counts.deallocate(); hashes.deallocate(); self.values.deallocate()
        }

        /// Room for one more entry of up to `values` values.
        @inline(__always)
        mutating func reserve(values more: Int) {
            if entries == entryCapacity || valueCount &+ more > valueCapacity { grow(values: more) }
        }

        @inline(never)
        mutating func grow(values more: Int) {
            var bigger = Storage(
                namespaces: namespaces, entryCapacity: entries == entryCapacity ? 2 * entryCapacity : entryCapacity,
                valueCapacity: valueCount + more > valueCapacity ? max(2 * valueCapacity, valueCount + more) : valueCapacity)
            bigger.keys.update(from: keys, count: entries)
            bigger.starts.update(from: starts, count: entries)
            bigger.truncated.update(from: truncated, count: entries)
            bigger.counts.update(from: counts, count: entries * namespaces)
            bigger.hashes.update(from: hashes, count: valueCount)
            bigger.values.update(from: values, count: valueCount)
            bigger.entries = entries
            bigger.valueCount = valueCount
            deallocate()
            self = bigger
        }

        /// An entry with no event (a rejected input): keeps the entries' indices those of the batch.
        @inline(__always)
        mutating func appendEmpty() {
            reserve(values: 0)
            keys[entries] = EventKeys(user: 0, item: 0, item2: 0)
            starts[entries] = Int32(truncatingIfNeeded: valueCount)
            truncated[entries] = 0
            (counts + entries &* namespaces).update(repeating: 0, count: namespaces)
            entries &+= 1
        }
    }

    /// The batch's buffers: read once per batch by whoever reads or writes it.
    public internal(set) var storage: Storage

    public init(namespaces: Int) { storage = Storage(namespaces: namespaces, entryCapacity: 8_192, valueCapacity: 65_536) }

    deinit { storage.deallocate() }

    /// The number of entries recorded.
    public var count: Int { storage.entries }
}

/// A pipeline's featurizing for ``FeaturesAhead``: a featurizer of its own (the pipeline's, copied: their scratch is
/// not shared) and the seeds of the pipeline's keys. Made by ``Pipeline/makeFeaturizerAhead()``.
public struct FeaturizerAhead: Sendable {
    var featurizer: Featurizer
    let userSeed: UInt32
    let itemSeed: UInt32
    let itemSeed2: UInt32

    /// A batch of features the size of this pipeline's rows.
    public func makeBatch() -> FeaturesAhead { FeaturesAhead(namespaces: featurizer.namespaceCount) }

    /// Featurizes every entry of `batch` into `ahead` (emptied first).
    public mutating func featurize(_ batch: EventBatch, into ahead: FeaturesAhead) {
        var s = ahead.storage
        s.entries = 0
        s.valueCount = 0
        let hasher = featurizer.hasher, perEvent = featurizer.namespaceCount * featurizer.slotWidth
        for entry in batch.entries {
            guard case .event(let event) = entry else {
                s.appendEmpty()
                continue
            }
            let truncatedBefore = featurizer.truncatedValues
            featurizer.extract(event)
            s.reserve(values: perEvent)
            s.keys[s.entries] = EventKeys(
                user: hasher.hash(bytes: event.userID, seed: userSeed), item: hasher.hash(bytes: event.itemID, seed: itemSeed),
                item2: hasher.hash(bytes: event.itemID, seed: itemSeed2))
            s.truncated[s.entries] = UInt32(truncatingIfNeeded: featurizer.truncatedValues &- truncatedBefore)
            featurizer.record(into: &s)
        }
        ahead.storage = s
    }
}

extension Featurizer {
    /// Appends the scratch's namespaces (what ``extract(_:)`` left) as the next entry's values (room reserved).
    @inline(__always)
    func record(into s: inout FeaturesAhead.Storage) {
        let e = s.entries
        s.starts[e] = Int32(truncatingIfNeeded: s.valueCount)
        var k = s.valueCount
        let entryCounts = s.counts + e &* namespaceCount
        for n in 0..<namespaceCount {
            let c = counts[n], base = n &* slotWidth
            entryCounts[n] = UInt16(truncatingIfNeeded: c)
            // Most namespaces hold one or two values: a loop, not a call to memmove.
            var j = 0
            while j < c {
                s.hashes[k &+ j] = hashes[base &+ j]
                s.values[k &+ j] = values[base &+ j]
                j &+= 1
            }
            k &+= c
        }
        s.valueCount = k
        s.entries = e &+ 1
    }

    /// Puts entry `i` of `ahead` into scratch, as ``extract(_:)`` of its event would, and counts its dropped values.
    @inline(__always)
    mutating func load(_ ahead: FeaturesAhead.Storage, entry i: Int) {
        makeUnique()
        let h = hashes, v = values, counts = self.counts, width = slotWidth
        truncatedValues &+= UInt64(ahead.truncated[i])
        var k = Int(ahead.starts[i])
        let entryCounts = ahead.counts + i &* namespaceCount
        for n in 0..<namespaceCount {
            let c = Int(entryCounts[n]), base = n &* width
            var j = 0
            while j < c {
                h[base &+ j] = ahead.hashes[k &+ j]
                v[base &+ j] = ahead.values[k &+ j]
                j &+= 1
            }
            counts[n] = c
            k &+= c
        }
    }
}
