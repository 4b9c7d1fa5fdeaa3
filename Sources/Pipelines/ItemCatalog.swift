/// Items seen on the stream: their ids (for score messages) and their latest item-side features (for scoring
/// them as candidates). Bounded by `capacity`; storage grows with distinct items up to it, never with events.
public struct ItemCatalog: Sendable {
    /// Maximum number of items kept; new items past it are counted in ``overflow`` and not added.
    public let capacity: Int
    /// Item-side feature slots per item.
    public let featureWidth: Int
    /// Items currently known.
    public var count: Int { idStarts.count }
    /// New items refused because the catalog was full.
    public internal(set) var overflow: UInt64 = 0

    private var index = UInt64Map()
    private var keys: [UInt64] = []
    private var idBytes: [UInt8] = []
    private var idStarts: [Int32] = []
    private var idLengths: [Int32] = []
    var hashes: [UInt32] = []
    var values: [Float] = []
    var namespaces: [UInt8] = []
    var featureCounts: [UInt16] = []

    public init(capacity: Int, featureWidth: Int) {
        self.capacity = capacity
        self.featureWidth = max(1, featureWidth)
        index = UInt64Map(minimumCapacity: min(capacity, 1 << 12))
    }

    @inline(__always) func slotStart(_ item: Int) -> Int { item * featureWidth }

    /// The catalog index of the item with `key` (a 64-bit hash of its id), inserting it when new; nil when full.
    public mutating func lookupOrInsert(key: UInt64, id: UnsafeRawBufferPointer) -> Int? {
        if let found = index[key] { return found }
        guard count < capacity else {
            overflow &+= 1
            return nil
        }
        let item = count
        index[key] = item
        keys.append(key)
        idStarts.append(Int32(idBytes.count))
        idLengths.append(Int32(id.count))
        idBytes.append(contentsOf: id)
        hashes.append(contentsOf: repeatElement(0, count: featureWidth))
        values.append(contentsOf: repeatElement(0, count: featureWidth))
        namespaces.append(contentsOf: repeatElement(0, count: featureWidth))
        featureCounts.append(0)
        return item
    }

    /// The key of catalog entry `item`.
    func keyOf(_ item: Int) -> UInt64 { keys[item] }

    /// The catalog index of `key`, if known.
    public func lookup(key: UInt64) -> Int? { index[key] }

    /// The item's id as a string.
    public func id(of item: Int) -> String {
        let start = Int(idStarts[item])
        return String(decoding: idBytes[start..<start + Int(idLengths[item])], as: UTF8.self)
    }

    /// Calls `body` with the item's id bytes.
    public func withID<R>(of item: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let start = Int(idStarts[item])
        return try idBytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<start + Int(idLengths[item])])) }
    }
}
