import Events
import Testing

/// The shared JSON escape decoder (ranking request parser, decision scanner).
@Suite struct JSONEscapeTests {
    static func decode(_ text: String) -> Result<([UInt8], Int), JSONEscape.Failure> {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { b in
            var out: [UInt8] = []
            do throws(JSONEscape.Failure) {
                let end = try JSONEscape.decode(b, at: 0, into: &out)
                return .success((out, end))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test func escapesDecodeToTheirUTF8() throws {
        for (text, expected) in [(#"\n"#, "\n"), (#"\""#, "\""), (#"\/"#, "/"), (#"\u0041"#, "A"), (#"\u00e9"#, "é"),
                                 (#"\u20AC"#, "€"), (#"\ud83d\ude00"#, "😀")] {
            let (out, end) = try Self.decode(text + "x").get()
            #expect(out == Array(expected.utf8) && end == text.utf8.count, "\(text)")
        }
    }

    @Test func badEscapesFailWithTheirOffset() {
        #expect(throws: JSONEscape.Failure.invalidEscape(offset: 1)) { try Self.decode(#"\q"#).get() }
        #expect(throws: JSONEscape.Failure.invalidEscape(offset: 1)) { try Self.decode("\\").get() }
        #expect(throws: JSONEscape.Failure.badHex(offset: 4)) { try Self.decode(#"\u00g0"#).get() }
        #expect(throws: JSONEscape.Failure.loneSurrogate(scalar: 0xD83D, offset: 6)) { try Self.decode(#"\ud83dx"#).get() }
        #expect(throws: JSONEscape.Failure.loneSurrogate(scalar: 0xDE00, offset: 6)) { try Self.decode(#"\ude00"#).get() }
    }
}
