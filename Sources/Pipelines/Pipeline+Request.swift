import Events
import Learning

// Scoring an item for a request: the user and context of an event that asks, any item id. Reads the model and the
// catalog, changes neither (nothing is learned or inserted), so a caller may score between two steps.

extension Pipeline {
    /// The model's probability for item `itemID` as the item of `request` (an event view whose user, context and
    /// time ask; its own item is ignored). An item the catalog holds is scored with its catalog features, as a
    /// score refresh scores it; an unknown item with the features of `request` carrying `itemID` — its id and
    /// whatever item-side context the request holds. `known` says which.
    public mutating func probability(of itemID: UnsafeRawBufferPointer, for request: EventView) -> (probability: Double, known: Bool) {
        var view = request
        view.itemID = itemID
        featurizer.extract(view)
        let item = catalog.lookup(key: catalogKey(itemID, itemHash: featurizer.hasher.hash(bytes: itemID, seed: itemSeed)))
        if let item { featurizer.loadItem(item, from: catalog) }
        return (Model.probability(margin: model.margin(featurizer.emit())), item != nil)
    }

    /// The catalog key of an item id whose hash under `itemSeed` is `itemHash` (that hash is also the join key's).
    @inline(__always)
    func catalogKey(_ itemID: UnsafeRawBufferPointer, itemHash: UInt32) -> UInt64 {
        UInt64(itemHash) << 32 | UInt64(featurizer.hasher.hash(bytes: itemID, seed: itemSeed2))
    }
}
