import Events

/// One ranking decision of the decision log (the worker's rankings topic, schema 1; a JSON object per line):
///
///     {"schema": 1, "ranking_id": "…", "ts": 1796000000000, "user_id": "…", "context": {…},
///      "candidates": ["item", …], "items": [{"item_id": "…", "score": 0.83, "propensity": 0.91}, …],
///      "policy": "…", "pipeline": "…", "model_version": 7}
///
/// `items` is the ranking, best first; each item's `propensity` is the probability that the logging policy put it
/// in that position. Off-policy evaluation uses the first item and its propensity.
public struct LoggedDecision: Sendable, Equatable {
    public struct Item: Sendable, Equatable, Decodable {
        public var itemID: String
        public var score: Double?
        public var propensity: Double
        public init(itemID: String, score: Double?, propensity: Double) {
            self.itemID = itemID
            self.score = score
            self.propensity = propensity
        }
        enum CodingKeys: String, CodingKey {
            case score, propensity
            case itemID = "item_id"
        }
    }

    public var rankingID: String
    public var timestamp: Int64
    public var candidates: [String]
    public var items: [Item]
    public var policy: String?
    public var pipeline: String?
    public var modelVersion: UInt64?
    /// The position of the first item among the candidates.
    public var loggedIndex: Int
}

/// Reads decision lines strictly: a line is one decision or a ``RejectReason`` naming the field and the reason.
///
/// `ts`, `user_id` and `context` are read by an ``EventDecoder`` with the pipeline's context keys — the decoder the
/// pipeline reads its events with — so a decision's user and context are featurized exactly as an event's, and the
/// same rules apply to them (`ts` an integer ≥ 0, `user_id` a non-empty string or integer, context values strings,
/// numbers, booleans, null or arrays of strings). It reads the line as an event: the line behind a prefix that
/// supplies the event fields a decision has no use for (`event_id`, `type`, `item_id`); so a decision may not
/// carry top-level `event_id`, `type` or `item_id` keys (`duplicate_field`); the type is the one a ranking scores
/// (`Pipeline.requestEventType`), for pipelines with an event-type feature. Lines up to ``maxBytes``. The rest is
/// read from the line the decoder accepted by ``DecisionScanner``:
///
/// - required: `schema` (1), `ranking_id` (non-empty string), `candidates` (non-empty array of distinct non-empty
///   strings), `items` (non-empty array of `{item_id: string, propensity: number, score: number or absent}`);
/// - optional: `policy`, `pipeline` (strings), `model_version` (integer ≥ 0), `context` (object or null);
/// - every item is a candidate, with a propensity in (0, 1]; other keys are ignored, as in events; a known key
///   given twice is `duplicate_field`.
///
/// Codes: the event decoder's (`not_json`, `missing_field`, `wrong_type`, …) and `unsupported_schema`,
/// `bad_propensity`, `not_a_candidate`, `duplicate_candidate`.
public struct DecisionParser {
    var decoder: EventDecoder
    /// The prefixed line the last decoded view points into (valid until the next ``parse(_:)``).
    let scratch = ByteScratch()
    let prefix: [UInt8]

    /// The longest decision line read (a ranking over a large candidate pool is longer than an event).
    public static let maxBytes = 4 << 20

    /// A parser reading the context keys the pipeline's featurizer uses (`Pipeline.contextKeys`); the request is
    /// an event of type `type` (`Pipeline.requestEventType`).
    public init(contextKeys: [String], type: EventType = .click) {
        decoder = EventDecoder(contextKeys: contextKeys, maxBytes: Self.maxBytes)
        prefix = Array(#"{"event_id":"-","type":"\#(type.name)","item_id":"-","#.utf8)
    }

    /// Parses one line: the decision, and the request (user, context, time) as an event view for
    /// `Pipeline.probabilities(of:for:into:)`, valid until the next call.
    public mutating func parse(_ line: UnsafeRawBufferPointer) throws(RejectReason) -> (decision: LoggedDecision, request: EventView) {
        var start = 0
        while start < line.count, [0x20, 0x09, 0x0D].contains(line[start]) { start += 1 }
        guard start < line.count else { throw RejectReason(.empty, detail: "empty line") }
        guard line[start] == UInt8(ascii: "{") else {
            throw RejectReason(.notJSON, detail: "expected '{' at byte \(start), found '\(Character(UnicodeScalar(line[start])))'")
        }
        var rest = start + 1
        while rest < line.count, [0x20, 0x09, 0x0D, 0x0A].contains(line[rest]) { rest += 1 }
        // `{}`: no comma after the prefix.
        let prefix = rest < line.count && line[rest] == UInt8(ascii: "}") ? self.prefix.dropLast() : self.prefix[...]
        let bytes = scratch.fill(prefix, UnsafeRawBufferPointer(rebasing: line[(start + 1)...]))
        let request: EventView
        do {
            request = try decoder.decode(bytes)
        } catch {
            // The decoder's byte offsets count the prefix: shift them back to the line's.
            throw RejectReason(code: error.code, field: error.field, detail: Self.shiftingOffsets(error.detail, by: prefix.count - start - 1))
        }
        let wire = try DecisionScanner.scan(line)
        if let version = wire.modelVersion {
            guard version == version.rounded(), abs(version) < 0x1p53 else {
                throw RejectReason(.wrongType, field: "model_version", detail: "model_version: expected an integer, got \(version)")
            }
            guard version >= 0 else {
                throw RejectReason(.outOfRange, field: "model_version", detail: "model_version \(Int64(version)) is negative")
            }
        }
        let schema = wire.schema!
        guard schema == 1 else {
            throw RejectReason(code: "unsupported_schema", field: "schema", detail: "schema \(schema == schema.rounded() && abs(schema) < 1e15 ? String(Int64(schema)) : String(schema)); this replay reads schema 1")
        }
        let decision = LoggedDecision(
            rankingID: wire.rankingID!, timestamp: request.timestamp, candidates: wire.candidates!, items: wire.items!,
            policy: wire.policy, pipeline: wire.pipeline, modelVersion: wire.modelVersion.map { UInt64($0) }, loggedIndex: 0)
        return (try Self.validate(decision), request)
    }

    /// `detail` with every "byte N" made "byte N − shift".
    static func shiftingOffsets(_ detail: String, by shift: Int) -> String {
        var out = "", rest = Substring(detail)
        while let r = rest.range(of: "byte ") {
            out += rest[..<r.upperBound]
            rest = rest[r.upperBound...]
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            if let n = Int(digits) {
                out += String(max(n - shift, 0))
                rest = rest.dropFirst(digits.count)
            }
        }
        return out + rest
    }

    /// Checks what the types cannot say; returns the decision with its logged index.
    static func validate(_ decision: LoggedDecision) throws(RejectReason) -> LoggedDecision {
        var d = decision
        guard !d.rankingID.isEmpty else { throw RejectReason(.emptyField, field: "ranking_id", detail: "ranking_id is empty") }
        guard !d.candidates.isEmpty else { throw RejectReason(.emptyField, field: "candidates", detail: "no candidates") }
        var seen = Set<String>()
        for (i, c) in d.candidates.enumerated() {
            guard !c.isEmpty else { throw RejectReason(.emptyField, field: "candidates[\(i)]", detail: "empty item id") }
            guard seen.insert(c).inserted else {
                throw RejectReason(code: "duplicate_candidate", field: "candidates[\(i)]", detail: "\"\(c)\" is listed twice")
            }
        }
        guard !d.items.isEmpty else { throw RejectReason(.emptyField, field: "items", detail: "the ranking has no items") }
        for (i, item) in d.items.enumerated() {
            guard item.propensity > 0, item.propensity <= 1 else {
                throw RejectReason(code: "bad_propensity", field: "items[\(i)].propensity", detail: "must be in (0, 1], got \(item.propensity)")
            }
            guard seen.contains(item.itemID) else {
                throw RejectReason(code: "not_a_candidate", field: "items[\(i)].item_id", detail: "\"\(item.itemID)\" is not among the candidates")
            }
        }
        d.loggedIndex = d.candidates.firstIndex(of: d.items[0].itemID)!
        return d
    }
}

/// A byte buffer reused from line to line, whose address stays put until the next ``fill(_:_:)`` (an event view
/// points into it).
final class ByteScratch {
    private var buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 8)

    /// `head` followed by `tail`, in the buffer (grown as needed).
    func fill(_ head: ArraySlice<UInt8>, _ tail: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let count = head.count + tail.count
        if count > buffer.count {
            buffer.deallocate()
            buffer = .allocate(byteCount: max(count, 2 * buffer.count), alignment: 8)
        }
        head.withUnsafeBytes { buffer.copyMemory(from: $0) }
        UnsafeMutableRawBufferPointer(rebasing: buffer[head.count..<count]).copyMemory(from: tail)
        return UnsafeRawBufferPointer(rebasing: buffer[0..<count])
    }

    deinit { buffer.deallocate() }
}
