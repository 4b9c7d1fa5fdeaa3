import Learning

// Candidate scoring for logistic models: the scores of many candidate items for one user, bit-identical to
// scoring each item's full row.
//
// Invariant: a candidate's margin adds the same terms in the same order as `Model.margin` over the row that
// `Featurizer.emit()` would write for that item — the bias, the item-independent part (summed once per user into
// `candidatePrefix`), then the item-dependent terms in row order — so the sum is bit-identical
// (CandidateScoringTests). Everything here is scratch of one refresh or ranking evaluation: prepared by
// `prepareLinearCandidates(model:)` and valid until the next `extract(_:)`, `loadItem(_:from:)` or model update.
// Factor models (FM, MF) continue each candidate from the prefix in `Model.margin(_:after:state:)` instead.

extension Featurizer {
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
        let steps = scratch.candidates.candidateSteps
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
        let groupTerms = scratch.candidates.groupTerms
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
    /// Candidates go in blocks of ``CandidateScratch/candidateBlock``, step by step rather than candidate by
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
        let steps = scratch.candidates.candidateSteps, stepCount = candidateStepCount
        let groups = max(itemNamespaces.count, 1)
        let block = CandidateScratch.candidateBlock, ahead = CandidateScratch.prefetchAhead
        let gs = scratch.candidates.groupStart, gc = scratch.candidates.groupCount
        let offsets = scratch.candidates.rowOffsets, cursors = scratch.candidates.rowCursors
        let rowIndices = scratch.candidates.stageIndices, rowValues = scratch.candidates.stageValues
        let h = hashes, v = self.values, counts = self.counts, width = slotWidth, mask = hasher.mask
        let groupTerms = scratch.candidates.groupTerms, hasItemItem = candidateHasItemItem
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
}

/// The candidate scorer's buffers, allocated once per featurizer. Owned through ``FeaturizerScratch`` (copy-on-write
/// with it), so the unchecked `Sendable` holds: a shared instance is never written.
final class CandidateScratch: @unchecked Sendable {
    let namespaces: Int
    let maxFeatures: Int
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

    init(namespaces: Int, maxFeatures: Int) {
        self.namespaces = namespaces
        self.maxFeatures = maxFeatures
        let row = max(maxFeatures, 1)
        // Trivial element types, always written before they are read: left uninitialized, so that only the pages a
        // block's rows actually use become resident (the capacity is the worst case, rows are ~1% of it).
        let block = CandidateScratch.candidateBlock
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
        stageIndices.deallocate(); stageValues.deallocate()
        rowOffsets.deallocate(); rowCursors.deallocate()
        candidateSteps.deallocate(); groupStart.deallocate(); groupCount.deallocate(); groupTerms.deallocate()
    }

    /// Copies the prepared row layout of `other` (same dimensions). The stage buffers are scratch of one
    /// forEachLinearCandidate call; nothing to carry over.
    func carry(from other: CandidateScratch) {
        candidateSteps.update(from: other.candidateSteps, count: max(maxFeatures, 1) + namespaces)
        groupTerms.update(from: other.groupTerms, count: max(namespaces, 1))
    }
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
