import Events
import Testing

/// `ranking_id` and `position` (issue 14, item 4): optional, read strictly, exposed as spans and integers of the
/// view; an event without them decodes as before.
@Suite struct EventDecoderRankingTests {
    static let base = #""event_id":"e","type":"click","user_id":"u","item_id":"i","ts":5"#

    /// Decodes `json`, returning (ranking id, position) copied out, or the rejection.
    static func decode(_ json: String) -> Result<(String?, Int32), RejectReason> {
        var decoder = EventDecoder(contextKeys: ["segment"])
        let bytes = Array(json.utf8)
        return bytes.withUnsafeBytes { buffer in
            do throws(RejectReason) {
                let view = try decoder.decode(buffer)
                return .success((view.hasRanking ? String(decoding: view.rankingID, as: UTF8.self) : nil, view.position))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test func bothFieldsAreReadInAnyOrderWithEscapes() throws {
        let (id, position) = try Self.decode(#"{"ranking_id":"r\u00e9-\"1\"","#  + Self.base + #","position":3}"#).get()
        #expect(id == "ré-\"1\"" && position == 3)
        let (id2, position2) = try Self.decode("{" + Self.base + #","context":{"segment":"s"},"position":0,"ranking_id":"abc-7"}"#).get()
        #expect(id2 == "abc-7" && position2 == 0)
    }

    @Test func absentFieldsLeaveAnEmptyIDAndPositionMinusOne() throws {
        let (id, position) = try Self.decode("{" + Self.base + "}").get()
        #expect(id == nil && position == -1)
        let (id2, position2) = try Self.decode("{" + Self.base + #","ranking_id":"r"}"#).get()
        #expect(id2 == "r" && position2 == -1)
    }

    @Test(arguments: [
        (#""ranking_id":5"#, "wrong_type", "ranking_id"),
        (#""ranking_id":null"#, "wrong_type", "ranking_id"),
        (#""ranking_id":["r"]"#, "wrong_type", "ranking_id"),
        (#""ranking_id":"""#, "empty_field", "ranking_id"),
        (#""ranking_id":"a","ranking_id":"b""#, "duplicate_field", "ranking_id"),
        (#""position":"1""#, "wrong_type", "position"),
        (#""position":1.5"#, "wrong_type", "position"),
        (#""position":1e2"#, "wrong_type", "position"),
        (#""position":null"#, "wrong_type", "position"),
        (#""position":-1"#, "out_of_range", "position"),
        (#""position":2147483648"#, "out_of_range", "position"),
        (#""position":1,"position":2"#, "duplicate_field", "position"),
        (#""position":NaN"#, "non_finite", "position"),
    ])
    func wrongValuesAreRejectedWithTheirReason(member: String, code: String, field: String) {
        guard case .failure(let reason) = Self.decode("{" + Self.base + "," + member + "}") else {
            Issue.record("accepted \(member)")
            return
        }
        #expect(reason.code == code && reason.field == field, "\(member) → \(reason)")
    }

    @Test func theLargestPositionIsAccepted() throws {
        #expect(try Self.decode("{" + Self.base + #","position":2147483647}"#).get().1 == Int32.max)
    }

    /// Keys of the same length as the new ones are still unknown keys (ignored).
    @Test func lookalikeKeysStayUnknown() throws {
        let (id, position) = try Self.decode("{" + Self.base + #","rankingXid":5,"positiox":"p","position_":[]}"#).get()
        #expect(id == nil && position == -1)
    }
}
