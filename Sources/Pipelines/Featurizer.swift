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
    let crosses: [CrossSpec]
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
        self.crosses = spec.crosses
        self.contextKeys = keys
        self.slotWidth = spec.maxValuesPerField
        self.namespaceCount = plans.count
        self.itemNamespaces = spec.namespaces.indices.filter { spec.namespaces[$0].side == .item }
        self.itemSide = spec.namespaces.map { $0.side == .item }
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

    mutating func push(_ hash: UInt32, _ value: Float, namespace n: Int) {
        let c = counts[n]
        guard c < slotWidth else {
            truncatedValues &+= 1
            return
        }
        hashes[n * slotWidth + c] = hash
        values[n * slotWidth + c] = value
        counts[n] = c + 1
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

    /// Copies the item-side scratch into `catalog` entry `item`.
    public func storeItem(_ item: Int, in catalog: inout ItemCatalog) {
        var k = 0
        let base = catalog.slotStart(item)
        let width = catalog.featureWidth
        for n in itemNamespaces {
            for j in 0..<counts[n] where k < width {
                catalog.hashes[base + k] = hashes[n * slotWidth + j]
                catalog.values[base + k] = values[n * slotWidth + j]
                catalog.namespaces[base + k] = UInt8(n)
                k += 1
            }
        }
        catalog.featureCounts[item] = UInt16(k)
    }

    /// Replaces the item-side scratch with catalog entry `item` (to score it as a candidate for the current user).
    public mutating func loadItem(_ item: Int, from catalog: ItemCatalog) {
        makeUnique()
        for n in itemNamespaces { counts[n] = 0 }
        let base = catalog.slotStart(item)
        for k in 0..<Int(catalog.featureCounts[item]) {
            let n = Int(catalog.namespaces[base + k])
            let c = counts[n]
            guard c < slotWidth else { continue }
            hashes[n * slotWidth + c] = catalog.hashes[base + k]
            values[n * slotWidth + c] = catalog.values[base + k]
            counts[n] = c + 1
        }
    }

    // MARK: Candidate scoring (logistic)

    /// Caches, for the user whose event is in scratch, the linear term `w·x` of every feature that involves no
    /// item-side namespace (user-side namespaces, and crosses of two of them), in row order. Those terms are the
    /// same for every candidate item: ``stagedLinearMargin(_:count:model:bias:)`` then adds them instead of
    /// hashing and looking them up again. Valid until the next ``extract(_:)`` or model update.
    public mutating func prepareLinearCandidates(model: Model) {
        makeUnique()
        let terms = scratch.userTerms
        let h = hashes, v = values, counts = self.counts, width = slotWidth, mask = hasher.mask
        var u = 0
        for n in 0..<namespaceCount where !itemSide[n] {
            let base = n &* width
            for j in 0..<counts[n] {
                terms[u] = Double(model.linearWeight(at: h[base &+ j] & mask)) * Double(v[base &+ j])
                u &+= 1
            }
        }
        for cross in crosses where !itemSide[cross.first] && !itemSide[cross.second] {
            let a = cross.first &* width, b = cross.second &* width
            for i in 0..<counts[cross.first] {
                let ha = h[a &+ i], va = v[a &+ i]
                for j in 0..<counts[cross.second] {
                    let value = va * v[b &+ j]
                    terms[u] = Double(model.linearWeight(at: hasher.cross(ha, h[b &+ j]) & mask)) * Double(value)
                    u &+= 1
                }
            }
        }
    }

    /// Writes the row of catalog entry `item` as a candidate for the user prepared by
    /// ``prepareLinearCandidates(model:)`` into staging slot `slot` (`0..<FeaturizerScratch.stageSlots`): the same
    /// features in the same order as ``emit()`` after ``loadItem(_:from:)``, except that features involving no
    /// item-side namespace are only marked (their terms are cached). Returns the feature count. Staging a few
    /// candidates ahead lets their parameters be prefetched (``stagedSlice(_:count:)``) before they are summed.
    @inline(__always)
    public mutating func stageCandidate(_ item: Int, from catalog: ItemCatalog, slot: Int) -> Int {
        loadItem(item, from: catalog)
        let start = slot &* maxFeatures
        let indices = scratch.stageIndices + start, outValues = scratch.stageValues + start
        let userMark = scratch.stageUser + start
        let h = hashes, v = values, counts = self.counts, width = slotWidth, mask = hasher.mask
        var k = 0
        for n in 0..<namespaceCount {
            let base = n &* width
            let user: UInt8 = itemSide[n] ? 0 : 1
            for j in 0..<counts[n] {
                indices[k] = h[base &+ j] & mask
                outValues[k] = v[base &+ j]
                userMark[k] = user
                k &+= 1
            }
        }
        crosses.withUnsafeBufferPointer { crosses in
            for c in 0..<crosses.count {
                let cross = crosses[c]
                let ca = counts[cross.first], cb = counts[cross.second]
                if !itemSide[cross.first] && !itemSide[cross.second] {
                    for _ in 0..<(ca &* cb) {
                        indices[k] = 0
                        outValues[k] = 0
                        userMark[k] = 1
                        k &+= 1
                    }
                    continue
                }
                let a = cross.first &* width, b = cross.second &* width
                for i in 0..<ca {
                    let ha = h[a &+ i], va = v[a &+ i]
                    for j in 0..<cb {
                        indices[k] = hasher.cross(ha, h[b &+ j]) & mask
                        outValues[k] = va * v[b &+ j]
                        userMark[k] = 0
                        k &+= 1
                    }
                }
            }
        }
        return k
    }

    /// The staged row in `slot` as a slice (for ``Model/prefetch(_:)``).
    @inline(__always)
    public func stagedSlice(_ slot: Int, count: Int) -> FeatureSlice {
        let start = slot &* maxFeatures
        return FeatureSlice(
            indices: scratch.stageIndices + start, values: scratch.stageValues + start, fields: scratch.stageUser + start,
            count: count)
    }

    /// Scores `candidates` entries of `catalog` — `pool[0..<candidates]`, or items `0..<candidates` without a pool — as
    /// candidates for the user prepared by ``prepareLinearCandidates(model:)`` and offers each margin to `heap`.
    /// Candidates are staged `stageSlots - 1` items before they are summed and their parameters prefetched
    /// meanwhile: the table reads are cache misses, and this overlaps them instead of stalling on each in turn.
    /// Margins are bit-identical to ``stagedLinearMargin(_:count:model:bias:)``.
    mutating func offerLinearCandidates(
        _ catalog: ItemCatalog, candidates n: Int, pool: UnsafeBufferPointer<Int32>?, model: Model, to heap: inout TopK
    ) {
        let bias = model.bias
        let slots = FeaturizerScratch.stageSlots
        let ahead = slots &- 1
        let staged = scratch.stageCounts
        @inline(__always) func item(_ c: Int) -> Int { pool.map { Int($0[c]) } ?? c }
        for j in 0..<(n &+ ahead) {
            if j < n {
                let slot = j % slots
                let count = stageCandidate(item(j), from: catalog, slot: slot)
                staged[slot] = count
                model.prefetch(stagedSlice(slot, count: count))
            }
            let i = j &- ahead
            if i >= 0 {
                heap.offer(item: item(i), score: stagedLinearMargin(i % slots, count: staged[i % slots], model: model, bias: bias))
            }
        }
    }

    /// The logistic margin of the candidate staged in `slot`: bit-identical to `model.margin` of the row ``emit()``
    /// would write after ``loadItem(_:from:)``, because it adds the same terms `w·x` in the same order as the
    /// kernel (bias, namespaces, then crosses), taking the item-independent ones from the cache. `bias` is
    /// `model.bias`.
    @inline(__always)
    public func stagedLinearMargin(_ slot: Int, count: Int, model: Model, bias: Double) -> Double {
        let start = slot &* maxFeatures
        let indices = scratch.stageIndices + start, stagedValues = scratch.stageValues + start
        let userMark = scratch.stageUser + start
        let terms = scratch.userTerms
        var linear = bias
        var u = 0
        for k in 0..<count {
            if userMark[k] != 0 {
                linear += terms[u]
                u &+= 1
            } else {
                linear += Double(model.linearWeight(at: indices[k])) * Double(stagedValues[k])
            }
        }
        return linear
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

    /// Namespaces in order, then crosses in order (at most `maxFeatures`); returns the count.
    @inline(__always)
    func writeRow(
        _ indices: UnsafeMutablePointer<UInt32>, _ outValues: UnsafeMutablePointer<Float>, _ fields: UnsafeMutablePointer<UInt8>
    ) -> Int {
        let width = slotWidth
        let h = hashes, v = values, counts = self.counts
        let mask = hasher.mask
        var k = 0
        for n in 0..<namespaceCount {
            let base = n &* width
            let field = UInt8(truncatingIfNeeded: n) & 63
            for j in 0..<counts[n] {
                indices[k] = h[base &+ j] & mask
                outValues[k] = v[base &+ j]
                fields[k] = field
                k &+= 1
            }
        }
        let crossBase = namespaceCount
        crosses.withUnsafeBufferPointer { crosses in
            for c in 0..<crosses.count {
                let cross = crosses[c]
                let a = cross.first &* width
                let b = cross.second &* width
                let field = UInt8(truncatingIfNeeded: crossBase &+ c) & 63
                let ca = counts[cross.first], cb = counts[cross.second]
                for i in 0..<ca {
                    let ha = h[a &+ i], va = v[a &+ i]
                    for j in 0..<cb {
                        indices[k] = hasher.cross(ha, h[b &+ j]) & mask
                        outValues[k] = va * v[b &+ j]
                        fields[k] = field
                        k &+= 1
                    }
                }
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
    /// Linear terms of the current user's item-independent features (``Featurizer/prepareLinearCandidates(model:)``).
    let userTerms: UnsafeMutablePointer<Double>
    /// Candidate rows staged for scoring (``Featurizer/stageCandidate(_:from:slot:)``), `stageSlots` rows of
    /// `maxFeatures`: indices, values, and 1 where the term is an item-independent (cached) one.
    let stageIndices: UnsafeMutablePointer<UInt32>
    let stageValues: UnsafeMutablePointer<Float>
    let stageUser: UnsafeMutablePointer<UInt8>
    /// Feature count of each staged row.
    let stageCounts: UnsafeMutablePointer<Int>
    /// Candidates staged ahead of the one being summed, plus one.
    static let stageSlots = 4

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
        userTerms = .allocate(capacity: row)
        userTerms.initialize(repeating: 0, count: row)
        let staged = row * FeaturizerScratch.stageSlots
        stageIndices = .allocate(capacity: staged)
        stageIndices.initialize(repeating: 0, count: staged)
        stageValues = .allocate(capacity: staged)
        stageValues.initialize(repeating: 0, count: staged)
        stageUser = .allocate(capacity: staged)
        stageUser.initialize(repeating: 0, count: staged)
        stageCounts = .allocate(capacity: FeaturizerScratch.stageSlots)
        stageCounts.initialize(repeating: 0, count: FeaturizerScratch.stageSlots)
    }

    deinit {
        hashes.deallocate(); values.deallocate(); counts.deallocate()
        rowIndices.deallocate(); rowValues.deallocate(); rowFields.deallocate(); userTerms.deallocate()
        stageIndices.deallocate(); stageValues.deallocate(); stageUser.deallocate(); stageCounts.deallocate()
    }

    func copy() -> FeaturizerScratch {
        let c = FeaturizerScratch(namespaces: namespaces, slotWidth: slotWidth, maxFeatures: maxFeatures)
        let slots = max(namespaces * slotWidth, 1)
        c.hashes.update(from: hashes, count: slots)
        c.values.update(from: values, count: slots)
        c.counts.update(from: counts, count: max(namespaces, 1))
        // The row buffer is output only (rewritten by every emit); nothing to carry over.
        c.userTerms.update(from: userTerms, count: max(maxFeatures, 1))
        let staged = max(maxFeatures, 1) * FeaturizerScratch.stageSlots
        c.stageIndices.update(from: stageIndices, count: staged)
        c.stageValues.update(from: stageValues, count: staged)
        c.stageUser.update(from: stageUser, count: staged)
        c.stageCounts.update(from: stageCounts, count: FeaturizerScratch.stageSlots)
        return c
    }
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
