import Events
import Learning

/// Turns decoded events into hashed ``FeatureRow``s, as a pipeline's ``FeatureSpec`` says.
///
/// Works in two steps so candidate items can be scored for the same user: ``extract(_:)`` hashes each namespace's
/// values into per-namespace scratch slots; ``emit(into:)`` writes namespaces and crosses into a row. Item-side
/// namespaces can be overwritten from the ``ItemCatalog`` between the two (``loadItem(_:from:)``). Nothing is
/// allocated per event after the first.
public struct Featurizer: Sendable {
    /// The spec this featurizer implements.
    public let spec: FeatureSpec
    /// The hasher (bits from the spec).
    public let hasher: FeatureHasher
    /// The context keys the event decoder must extract, in slot order.
    public let contextKeys: [String]

    let plans: [NamespacePlan]
    /// The row layout (see ``writeRow(_:_:_:)``): namespace indices, and crosses with their field, in row order. The
    /// first `independentNamespaces` namespaces and `independentCrosses` crosses involve no item-side namespace.
    let rowNamespaces: [Int]
    let rowCrosses: [RowCross]
    let independentNamespaces: Int
    let independentCrosses: Int
    /// Scratch: namespace `n` holds `counts[n]` hashes/values at `n * slotWidth`, and the emitted row.
    var scratch: FeaturizerScratch
    var hashes: UnsafeMutablePointer<UInt32> { scratch.hashes }
    var values: UnsafeMutablePointer<Float> { scratch.values }
    var counts: UnsafeMutablePointer<Int> { scratch.counts }
    let namespaceCount: Int
    let slotWidth: Int
    /// Values dropped because an array held more than `maxValuesPerField`.
    public internal(set) var truncatedValues: UInt64 = 0
    /// Whether each namespace is item-side, by namespace index.
    let itemSide: [Bool]
    /// Indices of item-side namespaces.
    public let itemNamespaces: [Int]
    /// By namespace index: its position in ``itemNamespaces``, or -1 for user-side namespaces.
    let itemGroup: [Int]
    /// Steps compiled by ``prepareLinearCandidates(model:)`` (in `scratch.candidates.candidateSteps`).
    var candidateStepCount = 0
    /// Of the prepared user: the margin of the row's item-independent part (bias first, then its terms in row
    /// order), where every candidate's sum starts.
    var candidatePrefix: Double = 0
    /// Of the prepared row layout: whether it has an item × item cross (whose length is a product of two runs). A
    /// candidate row's length is, per item group `g`, `scratch.candidates.groupTerms[g]` terms per catalog value of `g`, plus
    /// the item × item products.
    var candidateHasItemItem = false

    /// The largest number of features one event can produce (bounds join-buffer slots).
    public let maxFeatures: Int

    public init(spec: FeatureSpec) {
        self.spec = spec
        self.hasher = FeatureHasher(bits: spec.bits)
        var keys: [String] = []
        var plans: [NamespacePlan] = []
        for (index, ns) in spec.namespaces.enumerated() {
            var source: NamespacePlan.Source
            switch ns.source {
            case .userID: source = .userID
            case .itemID: source = .itemID
            case .eventType: source = .eventType
            case .hourOfDay: source = .hourOfDay
            case .dayOfWeek: source = .dayOfWeek
            case .context(let key):
                if let slot = keys.firstIndex(of: key) {
                    source = .context(slot)
                } else {
                    keys.append(key)
                    source = .context(keys.count - 1)
                }
            }
            plans.append(NamespacePlan(
                field: UInt8(index), seed: FeatureHasher.seed(forNamespace: ns.name), source: source, transform: ns.transform))
        }
        self.plans = plans
        self.contextKeys = keys
        self.slotWidth = spec.maxValuesPerField
        self.namespaceCount = plans.count
        self.itemNamespaces = spec.namespaces.indices.filter { spec.namespaces[$0].side == .item }
        self.itemSide = spec.namespaces.map { $0.side == .item }
        var itemGroup = Array(repeating: -1, count: spec.namespaces.count)
        for (g, n) in itemNamespaces.enumerated() { itemGroup[n] = g }
        self.itemGroup = itemGroup
        let itemSide = self.itemSide
        let independent = spec.namespaces.indices.filter { !itemSide[$0] }
        self.rowNamespaces = independent + itemNamespaces
        self.independentNamespaces = independent.count
        let independentCrosses = spec.crosses.indices.filter { !itemSide[spec.crosses[$0].first] && !itemSide[spec.crosses[$0].second] }
        self.rowCrosses = (independentCrosses + spec.crosses.indices.filter { !independentCrosses.contains($0) }).map {
            RowCross(first: spec.crosses[$0].first, second: spec.crosses[$0].second,
                     field: UInt8(truncatingIfNeeded: spec.namespaces.count + $0) & 63)
        }
        self.independentCrosses = independentCrosses.count
        var maxFeatures = plans.count * spec.maxValuesPerField
        for _ in spec.crosses { maxFeatures += spec.maxValuesPerField * spec.maxValuesPerField }
        self.maxFeatures = maxFeatures
        self.scratch = FeaturizerScratch(namespaces: plans.count, slotWidth: spec.maxValuesPerField, maxFeatures: maxFeatures)
    }

    /// Copies the scratch if another featurizer value shares it (copy-on-write); every mutating entry point calls it
    /// once, so the per-value writes below need no checks.
    @inline(__always)
    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&scratch) { scratch = scratch.copy() }
    }

    // MARK: Extract

    /// Hashes every namespace of `event` into scratch.
    public mutating func extract(_ event: borrowing EventView) {
        makeUnique()
        for n in 0..<namespaceCount {
            counts[n] = 0
            let plan = plans[n]
            switch plan.source {
            case .userID: addBytes(event.userID, namespace: n)
            case .itemID: addBytes(event.itemID, namespace: n)
            case .eventType: addInteger(UInt64(event.type.rawValue), namespace: n)
            case .hourOfDay: addNumber(Double((event.timestamp / 3_600_000) % 24), namespace: n)
            case .dayOfWeek: addNumber(Double((event.timestamp / 86_400_000 + 4) % 7), namespace: n)  // 1970-01-01 was a Thursday
            case .context(let slot):
                switch event.context(slot) {
                case .absent, .null: break
                case .string(let bytes): addBytes(bytes, namespace: n)
                case .number(let x): addNumber(x, namespace: n)
                case .bool(let b): addInteger(b ? 1 : 0, namespace: n)
                case .strings(let list):
                    for bytes in list { addBytes(bytes, namespace: n) }
                }
            }
        }
    }

    @inline(__always)
    mutating func push(_ hash: UInt32, _ value: Float, namespace n: Int) {
        let c = counts[n]
        guard c < slotWidth else {
            truncatedValues &+= 1
            return
        }
        let slot = n &* slotWidth &+ c
        hashes[slot] = hash
        values[slot] = value
        counts[n] = c &+ 1
    }

    mutating func addBytes(_ bytes: UnsafeRawBufferPointer, namespace n: Int) {
        let plan = plans[n]
        switch plan.transform {
        case .categorical:
            push(hasher.hash(bytes: bytes, seed: plan.seed), 1, namespace: n)
        case .bucket, .numeric:
            // A numeric transform on a string field: parse it as a number when it is one, else ignore it.
            if let x = Featurizer.parseNumber(bytes) { addNumber(x, namespace: n) }
        }
    }

    mutating func addInteger(_ v: UInt64, namespace n: Int) {
        push(hasher.hash(integer: v, seed: plans[n].seed), 1, namespace: n)
    }

    mutating func addNumber(_ x: Double, namespace n: Int) {
        let plan = plans[n]
        switch plan.transform {
        case .categorical:
            if x == x.rounded(), abs(x) < 9.0e15 {
                push(hasher.hash(integer: UInt64(bitPattern: Int64(x)), seed: plan.seed), 1, namespace: n)
            } else {
                push(hasher.hash(integer: x.bitPattern, seed: plan.seed ^ 0x9E37_79B9), 1, namespace: n)
            }
        case .bucket(let width):
            let b = (x / width).rounded(.down)
            guard b.isFinite, abs(b) < 9.0e15 else { return }
            push(hasher.hash(integer: UInt64(bitPattern: Int64(b)), seed: plan.seed), 1, namespace: n)
        case .numeric(let scale):
            let v = Float(x * scale)
            guard v.isFinite else { return }
            push(hasher.hash(integer: 0, seed: plan.seed), v, namespace: n)
        }
    }

    /// Parses an ASCII decimal integer or plain decimal (digits, optional sign and point); nil otherwise.
    static func parseNumber(_ bytes: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        var negative = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var value = 0.0
        var scale = 0.0
        var digits = 0
        while i < bytes.count {
            let c = bytes[i]
            if c >= 48 && c <= 57 {
                value = value * 10 + Double(c - 48)
                if scale > 0 { scale *= 10 }
                digits += 1
            } else if c == UInt8(ascii: "."), scale == 0 {
                scale = 1
            } else {
                return nil
            }
            i += 1
        }
        guard digits > 0 else { return nil }
        if scale > 0 { value /= scale }
        return negative ? -value : value
    }

    // MARK: Items

    /// Number of item-side features currently in scratch (for storing in the catalog).
    public func itemFeatureCount() -> Int { itemNamespaces.reduce(0) { $0 + counts[$1] } }

    /// Copies the item-side scratch into `catalog` entry `item` (at most `featureWidth` features). Inlined into the
    /// per-event step: called out of line, the featurizer value would be copied for the call.
    @inline(__always)
    public func storeItem(_ item: Int, in catalog: inout ItemCatalog) {
        let h = hashes, v = values, counts = self.counts, slotWidth = self.slotWidth
        let width = catalog.featureWidth
        itemNamespaces.withUnsafeBufferPointer { itemNamespaces in
            catalog.updateFeatures(of: item) { ch, cv, cn, cg in
                var k = 0
                for g in 0..<itemNamespaces.count {
                    let n = itemNamespaces[g]
                    let base = n &* slotWidth, count = counts[n], field = UInt8(truncatingIfNeeded: n)
                    var j = 0
                    while j < count && k < width {
                        ch[k] = h[base &+ j]
                        cv[k] = v[base &+ j]
                        cn[k] = field
                        k &+= 1
                        j &+= 1
                    }
                    cg[g] = UInt16(truncatingIfNeeded: j)
                }
                return k
            }
        }
    }

    /// Replaces the item-side scratch with catalog entry `item` (to score it as a candidate for the current user).
    /// The catalog holds an item's features grouped by item namespace, in `itemNamespaces` order, with their count
    /// per group (``storeItem(_:in:)``): each group is one run, capped at `slotWidth` here.
    public mutating func loadItem(_ item: Int, from catalog: ItemCatalog) {
        makeUnique()
        precondition(catalog.groups == max(itemNamespaces.count, 1), "catalog built for another featurizer")
        let h = hashes, v = values, counts = self.counts, width = slotWidth
        var k = catalog.slotStart(item)
        let counted = item &* catalog.groups
        catalog.hashes.withUnsafeBufferPointer { ch in
        catalog.values.withUnsafeBufferPointer { cv in
        catalog.groupCounts.withUnsafeBufferPointer { cg in
        itemNamespaces.withUnsafeBufferPointer { itemNamespaces in
            for g in 0..<itemNamespaces.count {
                let n = itemNamespaces[g], run = Int(cg[counted &+ g]), c = min(run, width), slot = n &* width
                for j in 0..<c {
                    h[slot &+ j] = ch[k &+ j]
                    v[slot &+ j] = cv[k &+ j]
                }
                counts[n] = c
                k &+= run
            }
        }
        }
        }
        }
    }

    // MARK: Emit

    /// Writes the scratch namespaces and their crosses into `row` (cleared first).
    public func emit(into row: inout FeatureRow) {
        row.removeAll()
        let n = writeRow(scratch.rowIndices, scratch.rowValues, scratch.rowFields)
        for j in 0..<n { row.append(index: scratch.rowIndices[j], value: scratch.rowValues[j], field: scratch.rowFields[j]) }
    }

    /// Writes the scratch namespaces and their crosses into the featurizer's own row buffer and returns a view of
    /// it, valid until the next mutating call on this featurizer. Same features, same order as ``emit(into:)``.
    @inline(__always)
    public mutating func emit() -> FeatureSlice {
        makeUnique()
        let n = writeRow(scratch.rowIndices, scratch.rowValues, scratch.rowFields)
        return FeatureSlice(indices: scratch.rowIndices, values: scratch.rowValues, fields: scratch.rowFields, count: n)
    }

    /// The row's first part (see ``writeRow(_:_:_:)``): the features that involve no item-side namespace, into the
    /// featurizer's own row buffer, valid until the next mutating call. With ``emitItemDependent()`` after it, the
    /// same features in the same order as ``emit()``.
    public mutating func emitItemIndependent() -> FeatureSlice {
        makeUnique()
        let n = writeRowPart(
            namespaces: 0..<independentNamespaces, crosses: 0..<independentCrosses,
            scratch.rowIndices, scratch.rowValues, scratch.rowFields, at: 0)
        return FeatureSlice(indices: scratch.rowIndices, values: scratch.rowValues, fields: scratch.rowFields, count: n)
    }

    /// The row's second part: the item-side namespaces and the crosses that involve one (see ``emitItemIndependent()``).
    public mutating func emitItemDependent() -> FeatureSlice {
        makeUnique()
        let n = writeRowPart(
            namespaces: independentNamespaces..<namespaceCount, crosses: independentCrosses..<rowCrosses.count,
            scratch.rowIndices, scratch.rowValues, scratch.rowFields, at: 0)
        return FeatureSlice(indices: scratch.rowIndices, values: scratch.rowValues, fields: scratch.rowFields, count: n)
    }

    /// The item-side namespaces alone, without crosses: the item's own features (its MF tower), into the
    /// featurizer's own row buffer, valid until the next mutating call.
    public mutating func emitItemNamespaces() -> FeatureSlice {
        makeUnique()
        let n = writeRowPart(
            namespaces: independentNamespaces..<namespaceCount, crosses: independentCrosses..<independentCrosses,
            scratch.rowIndices, scratch.rowValues, scratch.rowFields, at: 0)
        return FeatureSlice(indices: scratch.rowIndices, values: scratch.rowValues, fields: scratch.rowFields, count: n)
    }

    /// The row (at most `maxFeatures` features); returns the count. Row order: first the features that involve no
    /// item-side namespace — those namespaces in spec order, then the crosses of two of them in spec order — then the
    /// item-side namespaces in spec order, then the remaining crosses in spec order. A model sums a row in row order,
    /// so the margin of the item-independent part is a prefix of every candidate item's margin for the same user
    /// (``prepareLinearCandidates(model:)`` computes it once per refresh, to the bit).
    ///
    /// Most namespaces hold one value (one user, one item, one gender …), so a namespace or a cross of two
    /// single-valued namespaces is written straight; runs of several values take the loops of ``writeRun`` and
    /// ``writeCross``, kept out of line so this stays small where it is inlined.
    @inline(__always)
    func writeRow(
        _ indices: UnsafeMutablePointer<UInt32>, _ outValues: UnsafeMutablePointer<Float>, _ fields: UnsafeMutablePointer<UInt8>
    ) -> Int {
        let k = writeRowPart(
            namespaces: 0..<independentNamespaces, crosses: 0..<independentCrosses, indices, outValues, fields, at: 0)
        return writeRowPart(
            namespaces: independentNamespaces..<namespaceCount, crosses: independentCrosses..<rowCrosses.count,
            indices, outValues, fields, at: k)
    }

    /// Writes the namespaces `rowNamespaces[namespaces]`, then the crosses `rowCrosses[crosses]`, at `start`.
    @inline(__always)
    func writeRowPart(
        namespaces: Range<Int>, crosses crossRange: Range<Int>,
        _ indices: UnsafeMutablePointer<UInt32>, _ outValues: UnsafeMutablePointer<Float>, _ fields: UnsafeMutablePointer<UInt8>,
        at start: Int
    ) -> Int {
        let width = slotWidth
        let h = hashes, v = values, counts = self.counts
        let mask = hasher.mask
        var k = start
        rowNamespaces.withUnsafeBufferPointer { order in
            for r in namespaces {
                let n = order[r]
                let base = n &* width
                let field = UInt8(truncatingIfNeeded: n) & 63
                let count = counts[n]
                if count == 1 {
                    indices[k] = h[base] & mask
                    outValues[k] = v[base]
                    fields[k] = field
                    k &+= 1
                } else if count > 1 {
                    k = Featurizer.writeRun(h + base, v + base, count, field, mask, indices, outValues, fields, at: k)
                }
            }
        }
        rowCrosses.withUnsafeBufferPointer { order in
            for r in crossRange {
                let cross = order[r]
                let a = cross.first &* width
                let b = cross.second &* width
                let field = cross.field
                let ca = counts[cross.first], cb = counts[cross.second]
                if ca == 1 && cb == 1 {
                    indices[k] = hasher.cross(h[a], h[b]) & mask
                    outValues[k] = v[a] * v[b]
                    fields[k] = field
                    k &+= 1
                } else if ca > 0 && cb > 0 {
                    k = Featurizer.writeCross(hasher, h + a, v + a, ca, h + b, v + b, cb, field, indices, outValues, fields, at: k)
                }
            }
        }
        return k
    }

    /// Writes one namespace's run of `count` values at `k`; returns the new count.
    @inline(never)
    static func writeRun(
        _ h: UnsafeMutablePointer<UInt32>, _ v: UnsafeMutablePointer<Float>, _ count: Int, _ field: UInt8, _ mask: UInt32,
        _ indices: UnsafeMutablePointer<UInt32>, _ outValues: UnsafeMutablePointer<Float>, _ fields: UnsafeMutablePointer<UInt8>,
        at start: Int
    ) -> Int {
        var k = start
        for j in 0..<count {
            indices[k] = h[j] & mask
            outValues[k] = v[j]
            fields[k] = field
            k &+= 1
        }
        return k
    }

    /// Writes the cross of two runs (the first run is the outer loop) at `k`; returns the new count.
    @inline(never)
    static func writeCross(
        _ hasher: FeatureHasher, _ ha: UnsafeMutablePointer<UInt32>, _ va: UnsafeMutablePointer<Float>, _ ca: Int,
        _ hb: UnsafeMutablePointer<UInt32>, _ vb: UnsafeMutablePointer<Float>, _ cb: Int, _ field: UInt8,
        _ indices: UnsafeMutablePointer<UInt32>, _ outValues: UnsafeMutablePointer<Float>, _ fields: UnsafeMutablePointer<UInt8>,
        at start: Int
    ) -> Int {
        let mask = hasher.mask
        var k = start
        for i in 0..<ca {
            let x = ha[i], y = va[i]
            for j in 0..<cb {
                indices[k] = hasher.cross(x, hb[j]) & mask
                outValues[k] = y * vb[j]
                fields[k] = field
                k &+= 1
            }
        }
        return k
    }
}

/// The featurizer's scratch: per-namespace hashes and values, and the emitted row, in memory allocated once.
/// Owned by one ``Featurizer`` value at a time (copy-on-write through ``Featurizer/makeUnique()``), so the
/// unchecked `Sendable` holds: a shared instance is never written.
final class FeaturizerScratch: @unchecked Sendable {
    let namespaces: Int
    let slotWidth: Int
    let maxFeatures: Int
    let hashes: UnsafeMutablePointer<UInt32>
    let values: UnsafeMutablePointer<Float>
    let counts: UnsafeMutablePointer<Int>
    let rowIndices: UnsafeMutablePointer<UInt32>
    let rowValues: UnsafeMutablePointer<Float>
    let rowFields: UnsafeMutablePointer<UInt8>
    /// The candidate scorer's buffers (`Featurizer+Candidates.swift`).
    let candidates: CandidateScratch

    init(namespaces: Int, slotWidth: Int, maxFeatures: Int) {
        self.namespaces = namespaces
        self.slotWidth = slotWidth
        self.maxFeatures = maxFeatures
        let slots = max(namespaces * slotWidth, 1)
        hashes = .allocate(capacity: slots)
        hashes.initialize(repeating: 0, count: slots)
        values = .allocate(capacity: slots)
        values.initialize(repeating: 0, count: slots)
        counts = .allocate(capacity: max(namespaces, 1))
        counts.initialize(repeating: 0, count: max(namespaces, 1))
        let row = max(maxFeatures, 1)
        rowIndices = .allocate(capacity: row)
        rowIndices.initialize(repeating: 0, count: row)
        rowValues = .allocate(capacity: row)
        rowValues.initialize(repeating: 0, count: row)
        rowFields = .allocate(capacity: row)
        rowFields.initialize(repeating: 0, count: row)
        candidates = CandidateScratch(namespaces: namespaces, maxFeatures: maxFeatures)
    }

    deinit {
        hashes.deallocate(); values.deallocate(); counts.deallocate()
        rowIndices.deallocate(); rowValues.deallocate(); rowFields.deallocate()
    }

    func copy() -> FeaturizerScratch {
        let c = FeaturizerScratch(namespaces: namespaces, slotWidth: slotWidth, maxFeatures: maxFeatures)
        let slots = max(namespaces * slotWidth, 1)
        c.hashes.update(from: hashes, count: slots)
        c.values.update(from: values, count: slots)
        c.counts.update(from: counts, count: max(namespaces, 1))
        // The row buffer is output only (rewritten by every emit); nothing to carry over.
        c.candidates.carry(from: candidates)
        return c
    }
}

/// A cross of namespaces `first` × `second` (the outer loop is `first`'s values) and its row field.
struct RowCross: Sendable {
    var first: Int
    var second: Int
    var field: UInt8
}

/// How one namespace is computed (resolved from the spec once).
@usableFromInline
struct NamespacePlan: Sendable {
    enum Source: Sendable {
        case userID, itemID, eventType, hourOfDay, dayOfWeek
        case context(Int)
    }
    var field: UInt8
    var seed: UInt32
    var source: Source
    var transform: FeatureTransform
}
