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
    /// Steps compiled by ``prepareLinearCandidates(model:)`` (in `scratch.candidateSteps`).
    var candidateStepCount = 0
    /// Of the prepared user: the margin of the row's item-independent part (bias first, then its terms in row
    /// order), where every candidate's sum starts.
    var candidatePrefix: Double = 0
    /// Of the prepared row layout: whether it has an item × item cross (whose length is a product of two runs). A
    /// candidate row's length is, per item group `g`, `scratch.groupTerms[g]` terms per catalog value of `g`, plus
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

    // MARK: Candidate scoring (logistic)

    /// Prepares scoring candidate items for the user (and context) whose event is in scratch: the margin of the
    /// row's item-independent part — the bias, then the terms of the features that involve no item-side namespace,
    /// which ``writeRow(_:_:_:)`` puts first — and the layout of the rest of every candidate's row as
    /// ``CandidateStep``s: how its terms are made from the candidate's catalog features (and the user's). Valid
    /// until the next ``extract(_:)``, ``loadItem(_:from:)`` or model update.
    public mutating func prepareLinearCandidates(model: Model) {
        makeUnique()
        let h = hashes, v = values, counts = self.counts, width = slotWidth
        // The item-independent part, summed as the model sums a row (bias, then each term in row order).
        candidatePrefix = model.beginRows(emitItemIndependent(), state: nil)
        // The steps of the item-dependent part, in the order `writeRow` writes it: item namespaces, then crosses.
        let steps = scratch.candidateSteps
        var n = 0
        for r in independentNamespaces..<namespaceCount {
            steps[n] = CandidateStep(kind: .item, group: Int32(itemGroup[rowNamespaces[r]]))
            n &+= 1
        }
        for r in independentCrosses..<rowCrosses.count {
            let cross = rowCrosses[r]
            let first = cross.first, second = cross.second
            switch (itemSide[first], itemSide[second]) {
            case (false, false):
                preconditionFailure("item-independent cross in the item-dependent part of the row")
            case (false, true):
                // One step per user value (the outer loop of the cross), each over the candidate's values.
                for i in 0..<counts[first] {
                    steps[n] = CandidateStep(
                        kind: .userItem, group: Int32(itemGroup[second]), hash: h[first &* width &+ i], value: v[first &* width &+ i])
                    n &+= 1
                }
            case (true, false):
                switch counts[second] {
                case 0: break
                case 1:  // the common case (one gender, one age bucket, …): the user's value goes into the step
                    steps[n] = CandidateStep(
                        kind: .itemUserOne, group: Int32(itemGroup[first]), hash: h[second &* width], value: v[second &* width])
                    n &+= 1
                default:
                    steps[n] = CandidateStep(kind: .itemUser, group: Int32(itemGroup[first]), other: Int32(second))
                    n &+= 1
                }
            case (true, true):
                steps[n] = CandidateStep(kind: .itemItem, group: Int32(itemGroup[first]), other: Int32(itemGroup[second]))
                n &+= 1
            }
        }
        candidateStepCount = n
        // Terms per catalog value of each item group (item × item crosses aside), for the rows' lengths.
        let groupTerms = scratch.groupTerms
        var hasItemItem = false
        for g in 0..<max(itemNamespaces.count, 1) { groupTerms[g] = 0 }
        for s in 0..<n {
            let step = steps[s], g = Int(step.group)
            switch step.kind {
            case .item, .userItem, .itemUserOne: groupTerms[g] &+= 1
            case .itemUser: groupTerms[g] &+= counts[Int(step.other)]
            case .itemItem: hasItemItem = true
            }
        }
        candidateHasItemItem = hasItemItem
    }

    /// Calls `body(item, margin)` for each of `candidates` entries of `catalog` — `pool[0..<candidates]`, or items
    /// `0..<candidates` without a pool — in that order, scored as candidates for the user prepared by
    /// ``prepareLinearCandidates(model:)``.
    ///
    /// Candidates go in blocks of ``FeaturizerScratch/candidateBlock``, step by step rather than candidate by
    /// candidate, so each step of the row layout is one tight loop over the block: (0) find each candidate's run of
    /// catalog features per item-side namespace and its row length; (1) write every row's item-dependent weight
    /// indices and values, rows packed one after another; (2) sum each row, starting from the prepared
    /// item-independent margin, while the weights of the rows `prefetchAhead` further on are prefetched (the table
    /// reads are cache misses). Margins are bit-identical to the model's margin of each candidate's full row
    /// (``emit()`` after ``loadItem(_:from:)``): the same terms `w·x`, added in the same order as the kernel.
    ///
    /// The catalog's features of an item are grouped by namespace in `itemNamespaces` order (``storeItem(_:in:)``
    /// writes them so, with their count per group), so each item-side namespace is one run of them, capped at
    /// `slotWidth` as in ``loadItem(_:from:)``.
    @inline(__always)
    mutating func forEachLinearCandidate(
        _ catalog: ItemCatalog, candidates n: Int, pool: UnsafeBufferPointer<Int32>?, model: Model,
        _ body: (_ item: Int, _ margin: Double) -> Void
    ) {
        makeUnique()
        let prefix = candidatePrefix
        let weights = model.linearWeights
        let steps = scratch.candidateSteps, stepCount = candidateStepCount
        let groups = max(itemNamespaces.count, 1)
        let block = FeaturizerScratch.candidateBlock, ahead = FeaturizerScratch.prefetchAhead
        let gs = scratch.groupStart, gc = scratch.groupCount
        let offsets = scratch.rowOffsets, cursors = scratch.rowCursors
        let rowIndices = scratch.stageIndices, rowValues = scratch.stageValues
        let h = hashes, v = self.values, counts = self.counts, width = slotWidth, mask = hasher.mask
        let groupTerms = scratch.groupTerms, hasItemItem = candidateHasItemItem
        let featureWidth = catalog.featureWidth
        precondition(catalog.groups == groups, "catalog built for \(catalog.groups) item groups, featurizer has \(groups)")
        @inline(__always) func item(_ c: Int) -> Int { pool.map { Int($0[c]) } ?? c }
        catalog.hashes.withUnsafeBufferPointer { ch in
        catalog.values.withUnsafeBufferPointer { cv in
        catalog.groupCounts.withUnsafeBufferPointer { cg in
            let ch = ch.baseAddress!, cv = cv.baseAddress!, cg = cg.baseAddress!
            var first = 0
            while first < n {
                let m = min(block, n &- first)
                // (0) Runs of catalog features per item group (absolute catalog positions), row lengths, offsets.
                // The runs come in group order (storeItem writes them so), their lengths from the catalog's counts.
                var total = 0
                for c in 0..<m {
                    let it = item(first &+ c)
                    let g0 = c &* groups, counted = it &* groups
                    var start = it &* featureWidth
                    var length = 0
                    for g in 0..<groups {
                        let run = Int(cg[counted &+ g])
                        let count = min(run, width)
                        gs[g0 &+ g] = start
                        gc[g0 &+ g] = count
                        length &+= count &* groupTerms[g]
                        start &+= run
                    }
                    if hasItemItem {
                        for s in 0..<stepCount where steps[s].kind == .itemItem {
                            length &+= gc[g0 &+ Int(steps[s].group)] &* gc[g0 &+ Int(steps[s].other)]
                        }
                    }
                    offsets[c] = total
                    cursors[c] = total
                    total &+= length
                }
                offsets[m] = total
                // (1) The rows, step by step.
                /// Appends to every row of the block one term per value of its run in item group `g`.
                @inline(__always) func appendRuns(of g: Int, _ term: (UInt32, Float) -> (index: UInt32, value: Float)) {
                    for c in 0..<m {
                        var k = cursors[c]
                        let b = gs[c &* groups &+ g]
                        for j in 0..<gc[c &* groups &+ g] {
                            let t = term(ch[b &+ j], cv[b &+ j])
                            rowIndices[k] = t.index
                            rowValues[k] = t.value
                            k &+= 1
                        }
                        cursors[c] = k
                    }
                }
                /// Appends to every row of the block the cross of its run in item group `g` (outer loop) with the
                /// values `second(c)` gives for row `c` (inner loop).
                @inline(__always) func appendCrosses(
                    of g: Int, _ second: (Int) -> (hashes: UnsafePointer<UInt32>, values: UnsafePointer<Float>, count: Int)
                ) {
                    for c in 0..<m {
                        var k = cursors[c]
                        let b = gs[c &* groups &+ g]
                        let inner = second(c)
                        for i in 0..<gc[c &* groups &+ g] {
                            let ha = ch[b &+ i], va = cv[b &+ i]
                            for j in 0..<inner.count {
                                rowIndices[k] = hasher.cross(ha, inner.hashes[j]) & mask
                                rowValues[k] = va * inner.values[j]
                                k &+= 1
                            }
                        }
                        cursors[c] = k
                    }
                }
                for s in 0..<stepCount {
                    let step = steps[s]
                    let g = Int(step.group)
                    switch step.kind {
                    case .item:
                        appendRuns(of: g) { hash, value in (hash & mask, value) }
                    case .userItem:
                        let hu = step.hash, vu = step.value
                        appendRuns(of: g) { hash, value in (hasher.cross(hu, hash) & mask, vu * value) }
                    case .itemUserOne:
                        let hu = step.hash, vu = step.value
                        appendRuns(of: g) { hash, value in (hasher.cross(hash, hu) & mask, value * vu) }
                    case .itemUser:
                        let o = Int(step.other) &* width, co = counts[Int(step.other)]
                        appendCrosses(of: g) { _ in (UnsafePointer(h + o), UnsafePointer(v + o), co) }
                    case .itemItem:
                        let g2 = Int(step.other)
                        appendCrosses(of: g) { c in
                            let b2 = gs[c &* groups &+ g2]
                            return (ch + b2, cv + b2, gc[c &* groups &+ g2])
                        }
                    }
                }
                // (2) Sums in row order, prefetching ahead.
                @inline(__always) func prefetchRow(_ c: Int) {
                    for k in offsets[c]..<offsets[c &+ 1] { weights.prefetch(rowIndices[k]) }
                }
                for c in 0..<min(ahead, m) { prefetchRow(c) }
                for c in 0..<m {
                    if c &+ ahead < m { prefetchRow(c &+ ahead) }
                    var linear = prefix
                    for k in offsets[c]..<offsets[c &+ 1] {
                        linear += Double(weights[rowIndices[k]]) * Double(rowValues[k])
                    }
                    body(item(first &+ c), linear)
                }
                first &+= m
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
    /// The candidate rows of one block (``Featurizer/forEachLinearCandidate(_:candidates:pool:model:_:)``), packed:
    /// weight indices and values of their item-dependent part. Capacity `candidateBlock * maxFeatures` (the worst case); only the rows' actual
    /// length is touched.
    let stageIndices: UnsafeMutablePointer<UInt32>
    let stageValues: UnsafeMutablePointer<Float>
    /// Where each row of the block starts in the stage buffers (`candidateBlock + 1` entries), and the write cursors.
    let rowOffsets: UnsafeMutablePointer<Int>
    let rowCursors: UnsafeMutablePointer<Int>
    /// The candidate row layout of the prepared user (``Featurizer/prepareLinearCandidates(model:)``): at most one
    /// step per namespace and one per user value of each cross, so `maxFeatures + namespaces` bounds it.
    let candidateSteps: UnsafeMutablePointer<CandidateStep>
    /// Per candidate of the block and item-side namespace: where its run of catalog features starts, how long.
    let groupStart: UnsafeMutablePointer<Int>
    let groupCount: UnsafeMutablePointer<Int>
    /// Per item-side namespace of the prepared row layout: terms per catalog value
    /// (``Featurizer/prepareLinearCandidates(model:)`` sets them; item × item crosses aside).
    let groupTerms: UnsafeMutablePointer<Int>
    /// Candidates scored per block.
    static let candidateBlock = 32
    /// Rows whose weights are prefetched ahead of the one being summed.
    static let prefetchAhead = 3

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
        // Trivial element types, always written before they are read: left uninitialized, so that only the pages a
        // block's rows actually use become resident (the capacity is the worst case, rows are ~1% of it).
        let block = FeaturizerScratch.candidateBlock
        stageIndices = .allocate(capacity: row * block)
        stageValues = .allocate(capacity: row * block)
        rowOffsets = .allocate(capacity: block + 1)
        rowCursors = .allocate(capacity: block)
        candidateSteps = .allocate(capacity: row + namespaces)
        candidateSteps.initialize(repeating: CandidateStep(kind: .item), count: row + namespaces)
        groupStart = .allocate(capacity: max(namespaces, 1) * block)
        groupCount = .allocate(capacity: max(namespaces, 1) * block)
        groupTerms = .allocate(capacity: max(namespaces, 1))
        groupTerms.initialize(repeating: 0, count: max(namespaces, 1))
    }

    deinit {
        hashes.deallocate(); values.deallocate(); counts.deallocate()
        rowIndices.deallocate(); rowValues.deallocate(); rowFields.deallocate()
        stageIndices.deallocate(); stageValues.deallocate()
        rowOffsets.deallocate(); rowCursors.deallocate()
        candidateSteps.deallocate(); groupStart.deallocate(); groupCount.deallocate(); groupTerms.deallocate()
    }

    func copy() -> FeaturizerScratch {
        let c = FeaturizerScratch(namespaces: namespaces, slotWidth: slotWidth, maxFeatures: maxFeatures)
        let slots = max(namespaces * slotWidth, 1)
        c.hashes.update(from: hashes, count: slots)
        c.values.update(from: values, count: slots)
        c.counts.update(from: counts, count: max(namespaces, 1))
        // The row buffer is output only (rewritten by every emit); nothing to carry over.
        // The stage buffers are scratch of one forEachLinearCandidate call; nothing to carry over.
        c.candidateSteps.update(from: candidateSteps, count: max(maxFeatures, 1) + namespaces)
        c.groupTerms.update(from: groupTerms, count: max(namespaces, 1))
        return c
    }
}

/// A cross of namespaces `first` × `second` (the outer loop is `first`'s values) and its row field.
struct RowCross: Sendable {
    var first: Int
    var second: Int
    var field: UInt8
}

/// One step of a candidate row (see ``Featurizer/prepareLinearCandidates(model:)``), in row order.
struct CandidateStep {
    enum Kind: UInt8 {
        /// The candidate's values of item-side namespace `group` (a position in `itemNamespaces`).
        case item
        /// A user × item cross for one user value (`hash`, `value`) and the candidate's values of `group`.
        case userItem
        /// An item × user cross: the candidate's values of `group` × the user's values of namespace `other`.
        case itemUser
        /// An item × user cross whose user namespace has one value (`hash`, `value`).
        case itemUserOne
        /// An item × item cross: the candidate's values of `group` × those of group `other`.
        case itemItem
    }
    var kind: Kind
    var group: Int32 = 0
    var other: Int32 = 0
    var hash: UInt32 = 0
    var value: Float = 0
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
