import Events
import Testing

// MARK: - JSONLines

@Suite("JSONLines")
struct JSONLinesTests {
    /// (number, offset, text) of every line of `text`.
    func lines(_ text: String) -> [(Int, Int, String)] {
        Array(text.utf8).withUnsafeBytes { buffer in
            JSONLines(buffer).map { ($0.number, $0.offset, String(decoding: $0.bytes, as: UTF8.self)) }
        }
    }

    @Test func splitsOnNewlinesWithOneBasedLineNumbersAndOffsets() {
        let result = lines("{\"a\":1}\n{\"b\":2}\n")
        #expect(result.map(\.0) == [1, 2])
        #expect(result.map(\.1) == [0, 8])
        #expect(result.map(\.2) == ["{\"a\":1}", "{\"b\":2}"])
    }

    @Test func stripsCarriageReturnsAndKeepsALastLineWithoutNewline() {
        let result = lines("a\r\nb\r\nc")
        #expect(result.map(\.2) == ["a", "b", "c"])
        #expect(result.map(\.0) == [1, 2, 3])
    }

    @Test func skipsBlankLinesButCountsThem() {
        let result = lines("\n\na\n \t\r\n\r\nb\n\n")
        #expect(result.map(\.2) == ["a", "b"])
        #expect(result.map(\.0) == [3, 6])
        #expect(result.map(\.1) == [2, 10])
    }

    @Test func yieldsNothingForAnEmptyOrBlankBuffer() {
        #expect(lines("").isEmpty)
        #expect(lines("\n\r\n  \n").isEmpty)
        #expect(JSONLines(UnsafeRawBufferPointer(start: nil, count: 0)).map(\.number).isEmpty)
    }

    @Test func keepsInteriorWhitespaceAndInvalidBytesForTheDecoderToJudge() {
        let bytes: [UInt8] = Array("  {\"x\" }  \n".utf8) + [0xFF, 0x0A]
        let result = bytes.withUnsafeBytes { buffer in JSONLines(buffer).map { Array($0.bytes) } }
        #expect(result == [Array("  {\"x\" }  ".utf8), [0xFF]])
    }

    @Test func feedsTheDecoderLineByLine() throws {
        let text = exampleEvent.split(separator: "\n").joined() + "\n\n" + "{bad}\r\n"
            + #"{"event_id":"e-2","type":"purchase","user_id":"196","item_id":"242","ts":881250949001}"#
        var decoder = EventDecoder(contextKeys: ["age"])
        var outcomes: [String] = []
        Array(text.utf8).withUnsafeBytes { buffer in
            for line in JSONLines(buffer) {
                do throws(RejectReason) {
                    let event = try decoder.decode(line.bytes)
                    outcomes.append("\(line.number):\(event.type.name)")
                } catch {
                    outcomes.append("\(line.number):\(error.code)")
                }
            }
        }
        #expect(outcomes == ["1:click", "3:not_json", "4:purchase"])
    }
}
