import Pipelines
import Testing
@testable import Worker

/// The ranking request parser: the query's byte ranges are the body's own tokens, ids are unescaped, and every
/// malformed body is refused with a reason (never a crash).
@Suite struct RankRequestParserTests {
    func parse(_ body: String, maxCandidates: Int = 10) throws(RankRequestError) -> RankQuery {
        var query = RankQuery()
        try RankRequestParser.parse(Array(body.utf8), maxCandidates: maxCandidates, defaultK: 7, into: &query)
        return query
    }

    func text(_ q: RankQuery, _ r: Range<Int>) -> String { String(decoding: q.body[r], as: UTF8.self) }

    @Test func rangesAreTheBodysOwnTokensAndIdsAreUnescaped() throws {
        let q = try parse(#" { "user_id" : "u\"1" , "context": {"age": 3e1, "tags": ["a", {"b": null}], "x\u0041": true},"#
            + #" "candidates": ["m1", "\u00e9\ud83d\ude00", "a\/b"] } "#)
        #expect(text(q, q.user) == #""u\"1""#)
        #expect(q.context.map(\.key) == ["age", "tags", "xA"])
        #expect(q.context.map { text(q, $0.member) } == [#""age": 3e1"#, #""tags": ["a", {"b": null}]"#, #""x\u0041": true"#])
        #expect(q.candidates?.map { text(q, $0) } == [#""m1""#, #""\u00e9\ud83d\ude00""#, #""a\/b""#])
        #expect(q.candidateIDRanges.map { String(decoding: q.candidateIDs[$0], as: UTF8.self) } == ["m1", "é😀", "a/b"])
        #expect(q.k == 7)
        #expect(try parse(#"{"k":1000,"user_id":"x"}"#).k == 1000)
        #expect(try parse(#"{"user_id":"x","context":{}}"#).context.isEmpty)
    }

    @Test(arguments: [
        ("", "malformed JSON"), ("{", "malformed JSON"), ("{}", "user_id: missing"), (#"{"user_id":"x",}"#, "malformed JSON"),
        (#"{"user_id":"x" "k":1}"#, "',' or '}'"), (#"{"user_id":"x","context":{"a":[1,]}}"#, "malformed JSON"),
        (#"{"user_id":"x","context":{"a":1,"a":2}}"#, "key 'a' appears twice"), (#"{"user_id":""}"#, "must not be empty"),
        (#"{"user_id":"\ud800"}"#, "lone surrogate"), (#"{"user_id":"a\qb"}"#, "a valid escape"), ("{\"user_id\":\"a\u{1}\"}", "control character"),
        (#"{"user_id":"x","candidates":["1","2","3","4","5","6","7","8","9","10","11"]}"#, "more than 10"),
        (#"{"user_id":"x","candidates":[""]}"#, "empty item id"), (#"{"user_id":"x","k":01}"#, "k: expected an integer"),
        (#"{"user_id":"x","k":-1}"#, "k: expected an integer"), (#"{"user_id":"x","k":1e1}"#, "k: expected an integer"),
        (#"{"user_id":"x","context":{"a":"#.appending(String(repeating: "[", count: 40)), "nested deeper than 32"),
        (#"{"user_id":"x","context":{"a":tru}}"#, "'true'"), (#"{"user_id":"x","context":{"a":-}}"#, "malformed JSON"),
        (#"{"user_id":"x"}{}"#, "unexpected data after the object"),
    ])
    func malformedBodiesAreRefusedWithAReason(body: String, reason: String) {
        do {
            _ = try parse(body)
            Issue.record("accepted: \(body)")
        } catch {
            #expect(error.reason.contains(reason), "\(body): \(error.reason)")
        }
    }

    @Test func invalidUTF8IsRefused() {
        var query = RankQuery()
        #expect(throws: RankRequestError.self) {
            try RankRequestParser.parse(Array(#"{"user_id":""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8), maxCandidates: 5, defaultK: 1, into: &query)
        }
    }
}
