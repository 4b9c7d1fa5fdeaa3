extension Model {
    /// A copy that shares no storage with this model: what a reader on another thread holds while this model keeps
    /// learning. Costs one pass over the materialized slots (``ParameterStorage/copy(into:)``), paid here, by the
    /// caller, rather than by this model's next update (which is what copy-on-write would do). The copy tracks no
    /// increments (a reader's copy).
    public func detachedCopy() -> Model {
        var none: Model? = nil
        return detachedCopy(reusing: &none)
    }

    /// ``detachedCopy()`` into `spare`'s table when nothing else holds it — a copy this model handed out before and
    /// whose readers are done (the ranking API's retired view) — else into a new table; `spare` is left nil either
    /// way. Reusing a table spares the new one's page faults and the kernel's zeroing of them, and the old one's
    /// unmapping: most of what a copy of a large table costs.
    public func detachedCopy(reusing spare: inout Model?) -> Model {
        var copy = self
        copy.increments = nil
        if var target = spare.take(), target.configuration == configuration, isKnownUniquelyReferenced(&target.storage) {
            storage.copy(into: target.storage)
            copy.storage = target.storage
        } else {
            copy.storage = storage.copy()
        }
        return copy
    }
}
