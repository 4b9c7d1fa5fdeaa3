extension Model {
    /// A copy that shares no storage with this model: what a reader on another thread holds while this model keeps
    /// learning. Costs one pass over the parameter table (its size: `2^bits` slots × the layout's stride), paid
    /// here, by the caller, rather than by this model's next update (which is what copy-on-write would do).
    public func detachedCopy() -> Model {
        var copy = self
        copy.makeUnique()
        return copy
    }

}
