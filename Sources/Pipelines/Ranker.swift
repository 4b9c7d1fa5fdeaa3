import Events
import Foundation
import Learning

/// What a ranking request reads: a copy of the model and the item catalog, made by the single writer (the worker
/// loop) and never written again, so any number of readers on any threads may score with it while the writer
/// keeps learning.
///
/// Invariant: `model` shares no storage with the writer's model (``Model/detachedCopy()``, paid by the writer when
/// it publishes); `catalog` is a copy-on-write value: the writer's next change to each of its arrays copies that
/// array, so a view never sees a later write. A view is as old as the time since it was published (the worker
/// publishes one at most every `serving.snapshot_interval`; docs/serving.md).
public struct ModelView: Sendable {
    public let model: Model
    public let catalog: ItemCatalog
    /// The writer's event count when the view was taken (a view with the same count is the same state).
    public let events: UInt64
    /// Monotonic time (ns) the view was taken.
    public let takenAt: UInt64

    public init(model: Model, catalog: ItemCatalog, events: UInt64, takenAt: UInt64) {
        self.model = model
        self.catalog = catalog
        self.events = events
        self.takenAt = takenAt
    }
}

extension Pipeline {
    /// A view of the current model and catalog for readers on other threads (see ``ModelView``).
    public func servingView(takenAt: UInt64) -> ModelView {
        var none: Model? = nil
        return servingView(takenAt: takenAt, reusing: &none)
    }

    /// ``servingView(takenAt:)`` whose model goes into `spare`'s table when no reader holds it any more (a retired
    /// view's model, ``Model/detachedCopy(reusing:)``); `spare` is left nil.
    public func servingView(takenAt: UInt64, reusing spare: inout Model?) -> ModelView {
        ModelView(model: model.detachedCopy(reusing: &spare), catalog: catalog, events: counters.events, takenAt: takenAt)
    }
}

/// A ranking request in the terms of the request's JSON text (`body`), already checked for its shape (the worker's
/// request parser): byte ranges of JSON tokens in `body`, so nothing is re-encoded.
public struct RankQuery: Sendable {
    /// The request body.
    public var body: [UInt8] = []
    /// The `user_id` JSON string token (quotes included).
    public var user: Range<Int> = 0..<0
    /// Each member of the `context` object: its key (unescaped) and the member's `"key": value` text.
    public var context: [(key: String, member: Range<Int>)] = []
    /// The candidates' JSON string tokens, nil for the pipeline's candidate pool.
    public var candidates: [Range<Int>]? = nil
    /// The candidates' ids, unescaped, packed in `candidateIDs` (same order as `candidates`).
    public var candidateIDs: [UInt8] = []
    public var candidateIDRanges: [Range<Int>] = []
    /// Positions to fill.
    public var k: Int = 10
    /// Event time of the request (ms): hour-of-day and day-of-week features read it.
    public var timestampMs: Int64 = 0

    public init() {}
}

/// One ranked position.
public struct RankedPosition: Sendable {
    /// Index into the query's candidates, or -1 when the candidates are the pool.
    public var candidate: Int
    /// Catalog index of the item in the view's catalog, or -1 for an item the catalog does not know (scored from
    /// its id alone).
    public var item: Int
    /// The model's probability for (user, context, item).
    public var score: Double
    /// The probability the policy put this item at this position given the positions above it (``Exploration``).
    public var propensity: Double
}

/// Why a request cannot be ranked (answered 400 with `reason`).
public struct RankError: Error, Sendable {
    public var reason: String
}

/// Scores a ranking request against a ``ModelView`` and applies the exploration policy. One ranker per thread (it
/// holds scratch); the view it reads is shared.
///
/// Invariant: a candidate's score is the one the worker's score refresh gives the same item for the same user and
/// context (the same ``Pipeline/scoreCandidates(count:pool:_:)`` over the same model and catalog); an item the
/// catalog does not know is scored from its id alone — the row an event for it would make, with the request's
/// user and context but no item-side context — and reported so.
public struct Ranker: Sendable {
    /// Scratch scorer: its own featurizer and decoder; `model` and `catalog` are the current view's.
    var scorer: Pipeline
    /// `takenAt` of the view `scorer` holds.
    var viewTakenAt: UInt64 = .max
    /// The example type a ranking scores (the label rule's first example type, e.g. click), as JSON.
    let typeJSON: [UInt8]
    /// Context keys of item-side namespaces: left out when an unknown item is scored from its id.
    let itemSideKeys: Set<String>
    var event: [UInt8] = []
    var margins: [(candidate: Int, item: Int, margin: Double)] = []
    var sorted: [Double] = []
    var known: [Int32] = []
    var knownCandidates: [Int] = []
    var weights: [Double] = []
    var picks: [(index: Int, propensity: Double)] = []
    /// Seeded once from the system's generator (a system draw per choice is a system call).
    var rng: SplitMix64
    /// Open addressing of the known candidates' catalog indices, -1 when empty (repeat detection).
    var seen: [Int32] = []

    public init(spec: PipelineSpec) {
        var scratch = spec
        scratch.label.bufferCapacity = 1  // never used: no example is ever inserted
        scratch.evaluation.ranking = nil
        scorer = Pipeline(spec: scratch)
        let type = EventType.allCases.filter { spec.label.exampleWeights[$0] != nil }.min { $0.rawValue < $1.rawValue } ?? .click
        typeJSON = Array("\"\(type.name)\"".utf8)
        itemSideKeys = Set(spec.features.namespaces.compactMap { ns in
            if ns.side == .item, case .context(let key) = ns.source { return key }
            return nil
        })
        scorer.decoder = EventDecoder(contextKeys: scorer.featurizer.contextKeys, maxBytes: 1 << 22)
        var system = SystemRandomNumberGenerator()
        rng = SplitMix64(seed: system.next())
    }

    /// Ranks `query` on `view` with `policy`: `result` gets the first `query.k` positions (fewer when there are
    /// fewer candidates), best first under the policy. `candidates` is set to the catalog indices of the pool when
    /// the query named none (for the decision log).
    public mutating func rank(
        _ query: RankQuery, view: ModelView, policy: Exploration, into result: inout [RankedPosition], pool candidates: inout [Int32]
    ) throws(RankError) {
        result.removeAll(keepingCapacity: true)
        candidates.removeAll(keepingCapacity: true)
        if view.takenAt != viewTakenAt {
            scorer.model = view.model
            scorer.catalog = view.catalog
            viewTakenAt = view.takenAt
        }
        margins.removeAll(keepingCapacity: true)
        // The user's (and context's) part of every row.
        try featurize(query, item: nil, itemSideContext: true)
        if let given = query.candidates {
            known.removeAll(keepingCapacity: true)
            knownCandidates.removeAll(keepingCapacity: true)
            var unknown: [Int] = []
            let catalog = scorer.catalog
            for c in given.indices {
                let r = query.candidateIDRanges[c]
                let item = query.candidateIDs.withUnsafeBytes { ids in
                    scorer.catalogIndex(ofID: UnsafeRawBufferPointer(rebasing: ids[r]), in: catalog)
                }
                if let item {
                    known.append(Int32(item))
                    knownCandidates.append(c)
                } else {
                    unknown.append(c)
                }
            }
            try refuseRepeats(query, unknown: unknown)
            var scored: [(candidate: Int, item: Int, margin: Double)] = []
            swap(&scored, &margins)
            var n = 0
            let map = knownCandidates
            known.withUnsafeBufferPointer { pool in
                scorer.scoreCandidates(count: pool.count, pool: pool) { item, margin in
                    scored.append((map[n], item, margin))
                    n += 1
                }
            }
            swap(&scored, &margins)
            for c in unknown {
                try featurize(query, item: given[c], itemSideContext: false)
                margins.append((c, -1, scorer.model.margin(scorer.featurizer.emit())))
            }
        } else {
            var scored: [(candidate: Int, item: Int, margin: Double)] = []
            swap(&scored, &margins)
            let catalog = scorer.catalog
            catalog.withCandidates { count, pool in
                scorer.scoreCandidates(count: count, pool: pool) { item, margin in
                    scored.append((-1, item, margin))
                    candidates.append(Int32(item))
                }
            }
            swap(&scored, &margins)
        }
        // Best first; ties by candidate order (then catalog order), so the greedy order is deterministic.
        margins.sort {
            $0.margin > $1.margin || ($0.margin == $1.margin && ($0.candidate, $0.item) < ($1.candidate, $1.item))
        }
        sorted.removeAll(keepingCapacity: true)
        for m in margins { sorted.append(m.margin.isNaN ? -.infinity : m.margin) }
        policy.choose(k: query.k, margins: sorted, rng: &rng, weights: &weights, into: &picks)
        for pick in picks {
            let m = margins[pick.index]
            result.append(RankedPosition(candidate: m.candidate, item: m.item, score: sigmoid(m.margin), propensity: pick.propensity))
        }
    }

    /// Throws when a candidate is named twice: two known ones are the same catalog entry, two unknown ones have the
    /// same id.
    mutating func refuseRepeats(_ query: RankQuery, unknown: [Int]) throws(RankError) {
        // The first known candidate whose catalog entry an earlier one named, by a table at most half full.
        var size = 16
        while size < 2 * known.count { size <<= 1 }
        seen.removeAll(keepingCapacity: true)
        seen.append(contentsOf: repeatElement(-1, count: size))
        let mask = size - 1, shift = UInt32(32 - size.trailingZeroBitCount)
        var repeated: Int? = nil
        seen.withUnsafeMutableBufferPointer { table in
            for (n, item) in known.enumerated() {
                // Fibonacci hashing: the product's high bits.
                var at = Int((UInt32(bitPattern: item) &* 0x9E37_79B1) >> shift)
                while table[at] >= 0 {
                    if table[at] == item { repeated = n; return }
                    at = (at + 1) & mask
                }
                table[at] = item
            }
        }
        if let repeated {
            throw RankError(reason: "candidates[\(knownCandidates[repeated])]: '\(scorer.catalog.id(of: Int(known[repeated])))' appears twice")
        }
        for (n, a) in unknown.enumerated() {
            let ra = query.candidateIDRanges[a]
            for b in unknown[(n + 1)...] where query.candidateIDs[query.candidateIDRanges[b]] == query.candidateIDs[ra] {
                throw RankError(reason: "candidates[\(b)]: '\(String(decoding: query.candidateIDs[ra], as: UTF8.self))' appears twice")
            }
        }
    }

    /// Featurizes the event a ranking scores: the request's user and context, and `item` (a candidate's JSON token)
    /// or a placeholder item id whose features no known candidate uses (candidates bring their catalog features).
    mutating func featurize(_ query: RankQuery, item: Range<Int>?, itemSideContext: Bool) throws(RankError) {
        event.removeAll(keepingCapacity: true)
        func raw(_ s: StaticString) { s.withUTF8Buffer { event.append(contentsOf: $0) } }
        raw("{\"event_id\":\"ranking\",\"type\":")
        event.append(contentsOf: typeJSON)
        raw(",\"user_id\":")
        event.append(contentsOf: query.body[query.user])
        raw(",\"item_id\":")
        if let item { event.append(contentsOf: query.body[item]) } else { raw("\"-\"") }
        raw(",\"ts\":")
        event.append(contentsOf: String(query.timestampMs).utf8)
        raw(",\"context\":{")
        var first = true
        for member in query.context where itemSideContext || !itemSideKeys.contains(member.key) {
            if !first { event.append(0x2C) }
            first = false
            event.append(contentsOf: query.body[member.member])
        }
        raw("}}")
        let reason = event.withUnsafeBytes { bytes -> RejectReason? in
            do throws(RejectReason) {
                let view = try scorer.decoder.decode(bytes)
                scorer.featurizer.extract(view)
                return RejectReason?.none
            } catch {
                return error
            }
        }
        if let reason {
            let field = reason.field.map { $0.isEmpty ? "" : "\($0): " } ?? ""
            throw RankError(reason: "\(field)\(Self.withoutOffsets(reason.detail)) (\(reason.code))")
        }
    }
}

extension Ranker {
    /// A decoder's detail without its byte offsets (" at byte N"): they count in the event the ranker wrote, not in
    /// the request.
    static func withoutOffsets(_ detail: String) -> String {
        var text = Substring(detail)
        var out = ""
        while let range = text.range(of: " at byte ") {
            out += text[..<range.lowerBound]
            text = text[range.upperBound...].drop { $0.isNumber }
        }
        return out + text
    }
}

extension Pipeline {
    /// The catalog index of the item whose id is `id`, in `catalog` (the key ``itemIndex(_:itemHash:)`` files it
    /// under), or nil when the catalog does not hold it.
    func catalogIndex(ofID id: UnsafeRawBufferPointer, in catalog: ItemCatalog) -> Int? {
        catalog.lookup(key: catalogKey(id))
    }
}
