import Events
import Testing
@testable import Replay

/// Decision lines are read strictly: a valid line gives the decision and its request (user, time, context as the
/// pipeline's event decoder reads them); a bad one a reason naming the field.
@Suite struct DecisionParserTests {
    static let valid = #"{"schema":1,"ranking_id":"r-1","ts":1796000000000,"user_id":"u7","context":{"segment":"s3","hour":9},"#
        + #""candidates":["i1","i2","i3"],"items":[{"item_id":"i2","score":0.8,"propensity":0.9},{"item_id":"i1","score":0.5,"propensity":0.6}],"#
        + #""policy":"epsilon_greedy","pipeline":"p","model_version":12}"#

    static func parse(_ line: String) -> Result<LoggedDecision, RejectReason> {
        var parser = DecisionParser(contextKeys: ["segment"])
        var bytes = Array(line.utf8)
        return bytes.withUnsafeMutableBytes { raw in
            Result { () throws(RejectReason) in
                let (decision, request) = try parser.parse(UnsafeRawBufferPointer(raw))
                #expect(String(decoding: request.userID, as: UTF8.self) == "u7" || line != Self.valid)
                if case .string(let s) = request.context(0) { #expect(String(decoding: s, as: UTF8.self) == "s3" || line != Self.valid) }
                return decision
            }
        }
    }

    @Test func aValidLineGivesTheDecisionAndItsRequest() throws {
        let d = try Self.parse(Self.valid).get()
        #expect(d.rankingID == "r-1" && d.timestamp == 1_796_000_000_000 && d.candidates == ["i1", "i2", "i3"])
        #expect(d.items.map(\.itemID) == ["i2", "i1"] && d.items[0].propensity == 0.9 && d.items[0].score == 0.8)
        #expect(d.loggedIndex == 1 && d.policy == "epsilon_greedy" && d.pipeline == "p" && d.modelVersion == 12)
    }

    /// Escapes, unknown keys holding nested values (with brackets and quotes inside strings), a null score and
    /// spaces everywhere JSON allows them.
    @Test func escapesUnknownNestedKeysAndSpacesAreRead() throws {
        let line = #"  { "extra" : {"a":[1,{"b":"}]\""}], "c":null} , "schema" : 1 , "ranking_id" : "r\u00e9-\"1\"" ,"#
            + #" "ts":5, "user_id":"u7", "candidates" : [ "i\/1" , "i\ud83d\ude00" ] , "#
            + #""items":[ { "score" : null , "item_id" : "i\ud83d\ude00" , "propensity" : 1e-1, "more": [[]] } ] }  "#
        let d = try Self.parse(line).get()
        #expect(d.rankingID == "ré-\"1\"" && d.candidates == ["i/1", "i😀"])
        #expect(d.items == [LoggedDecision.Item(itemID: "i😀", score: nil, propensity: 0.1)] && d.loggedIndex == 1)
        #expect(d.policy == nil && d.modelVersion == nil && d.timestamp == 5)
    }

    static func replacing(_ old: String, _ new: String) -> String {
        precondition(valid.contains(old))
        return valid.replacingOccurrences(of: old, with: new)
    }

    @Test(arguments: [
        ("", "empty", nil),
        ("not json", "not_json", nil),
        (replacing(#""schema":1,"#, ""), "missing_field", "schema"),
        (replacing(#""ranking_id":"r-1","#, ""), "missing_field", "ranking_id"),
        (replacing(#""user_id":"u7","#, ""), "missing_field", "user_id"),
        (replacing(#""ts":1796000000000"#, #""ts":-5"#), "out_of_range", "ts"),
        (replacing(#""ts":1796000000000"#, #""ts":"soon""#), "wrong_type", "ts"),
        (replacing(#""schema":1"#, #""schema":2"#), "unsupported_schema", "schema"),
        (replacing(#""ranking_id":"r-1""#, #""ranking_id":"""#), "empty_field", "ranking_id"),
        (replacing(#"["i1","i2","i3"]"#, "[]"), "empty_field", "candidates"),
        (replacing(#"["i1","i2","i3"]"#, #"["i1","i2","i1"]"#), "duplicate_candidate", "candidates[2]"),
        (replacing(#""propensity":0.9"#, #""propensity":0"#), "bad_propensity", "items[0].propensity"),
        (replacing(#""propensity":0.6"#, #""propensity":1.5"#), "bad_propensity", "items[1].propensity"),
        (replacing(#""propensity":0.9"#, #""propensity":"0.9""#), "wrong_type", "items[0].propensity"),
        (replacing(#""score":0.8,"propensity":0.9"#, #""score":0.8"#), "missing_field", "items[0].propensity"),
        (replacing(#""item_id":"i2""#, #""item_id":"i9""#), "not_a_candidate", "items[0].item_id"),
        (replacing(#""model_version":12"#, #""model_version":-1"#), "out_of_range", "model_version"),
        (replacing(#""model_version":12"#, #""model_version":1.5"#), "wrong_type", "model_version"),
        (replacing(#"{"segment":"s3","hour":9}"#, #"{"segment":{"nested":1}}"#), "bad_context", "context.segment"),
        (replacing(#""schema":1,"#, #""schema":1,"type":"click","#), "duplicate_field", "type"),
        (replacing(#""policy":"#, #""ranking_id":"again","policy":"#), "duplicate_field", "ranking_id"),
        (replacing(#""score":0.8,"#, #""score":0.8,"propensity":0.5,"#), "duplicate_field", "items[0].propensity"),
        (replacing(#"["i1","i2","i3"]"#, #"["i1",2,"i3"]"#), "wrong_type", "candidates[1]"),
        (replacing(#""candidates":["i1","i2","i3"]"#, #""candidates":"i1""#), "wrong_type", "candidates"),
        (replacing(#"{"item_id":"i2","score":0.8,"propensity":0.9}"#, #"["i2"]"#), "wrong_type", "items[0]"),
        (replacing(#""ranking_id":"r-1""#, #""ranking_id":7"#), "wrong_type", "ranking_id"),
        (replacing(#""schema":1"#, #""schema":"1""#), "wrong_type", "schema"),
    ] as [(String, String, String?)])
    func aMalformedLineIsRejectedNamingTheFieldAndTheReason(line: String, code: String, field: String?) {
        switch Self.parse(line) {
        case .success: Issue.record("accepted: \(line)")
        case .failure(let reason):
            #expect(reason.code == code, "\(reason)")
            #expect(reason.field == field, "\(reason)")
        }
    }

    /// The decoder reads the line behind a prefix; its byte offsets are the line's.
    @Test func byteOffsetsInReasonsCountTheLinesBytes() {
        let line = #"  {"schema":1,"ts":1,"user_id":true}"#
        guard case .failure(let reason) = Self.parse(line) else { Issue.record("accepted"); return }
        let offset = line.utf8.distance(from: line.startIndex, to: line.range(of: "true")!.lowerBound)
        #expect(reason.detail.contains("at byte \(offset)"), "\(reason)")
    }
}
