import Events
import Learning

// Scoring an item for a request: the user and context of an event that asks, any item id. Reads the model and the
// catalog, changes neither (nothing is learned or inserted), so a caller may score between two steps.

extension Pipeline {
    /// The model's probabilities for the items `itemIDs` as the item of `request` (an event view whose user,
    /// context, type and time ask; its own item is ignored), into `result` (cleared first; one per id, in order);
    /// returns how many ids the catalog did not hold. A known item is scored as a score refresh scores it, by
    /// ``scoreCandidates(count:pool:_:)`` over the request's row, so bit for bit the refresh's probability; an
    /// unknown item from its id alone: the row an event for it would make with the request's user and context,
    /// without the request's item-side context (which describes other items). The ranking API scores candidates
    /// by the same rules (issue 14), with the same link (unclamped σ).
    public mutating func probabilities(of itemIDs: [String], for request: EventView, into result: inout [Double]) -> Int {
        let unknown = margins(of: itemIDs, for: request, into: &result)
        for c in result.indices { result[c] = sigmoid(result[c]) }
        return unknown
    }

    /// ``probabilities(of:for:into:)`` before the link: the model's margins (log-odds) for the items, the numbers
    /// the ranking API orders and explores by (``Ranker``).
    public mutating func margins(of itemIDs: [String], for request: EventView, into result: inout [Double]) -> Int {
        result.removeAll(keepingCapacity: true)
        var known: [Int32] = [], unknown: [Int] = []
        for (c, id) in itemIDs.enumerated() {
            var id = id
            let item = id.withUTF8 { bytes in
                let raw = UnsafeRawBufferPointer(bytes)
                return catalog.lookup(key: catalogKey(raw, itemHash: featurizer.hasher.hash(bytes: raw, seed: itemSeed)))
            }
            result.append(.nan)
            if let item { known.append(Int32(truncatingIfNeeded: item)) } else { unknown.append(c) }
        }
        if !known.isEmpty {
            featurizer.extract(request)
            var margins: [Double] = []
            known.withUnsafeBufferPointer { pool in
                scoreCandidates(count: pool.count, pool: pool) { margins.append($1) }
            }
            var m = 0
            for c in result.indices where !unknown.contains(c) {
                result[c] = margins[m]
                m += 1
            }
        }
        for c in unknown {
            var view = request
            var id = itemIDs[c]
            result[c] = id.withUTF8 { bytes in
                view.itemID = UnsafeRawBufferPointer(bytes)
                featurizer.extract(view)
                featurizer.clearItemSideContext()
                return model.margin(featurizer.emit())
            }
        }
        return unknown.count
    }

    /// The event type a request is featurized as: the label rule's first example type (by raw value), as a
    /// ranking scores the examples the model learns from.
    public var requestEventType: EventType {
        EventType.allCases.filter { spec.label.exampleWeights[$0] != nil }.min { $0.rawValue < $1.rawValue } ?? .click
    }

    /// The catalog key of an item id whose hash under `itemSeed` is `itemHash` (that hash is also the join key's).
    @inline(__always)
    func catalogKey(_ itemID: UnsafeRawBufferPointer, itemHash: UInt32, itemHash2: UInt32? = nil) -> UInt64 {
        let second: UInt32
        if let itemHash2 { second = itemHash2 } else { second = featurizer.hasher.hash(bytes: itemID, seed: itemSeed2) }
        return UInt64(itemHash) << 32 | UInt64(second)
    }

    /// The catalog key of an item id (the one key every item is filed under).
    func catalogKey(_ itemID: UnsafeRawBufferPointer) -> UInt64 {
        catalogKey(itemID, itemHash: featurizer.hasher.hash(bytes: itemID, seed: itemSeed))
    }
}

extension Featurizer {
    /// Empties the item-side namespaces read from the context (an unknown item's row has none).
    mutating func clearItemSideContext() {
        makeUnique()
        for n in itemNamespaces {
            if case .context = plans[n].source { counts[n] = 0 }
        }
    }
}
