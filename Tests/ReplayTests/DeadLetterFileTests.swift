import Events
import Foundation
import Pipelines
import Replay
import Learning
import Testing

/// `feedloop replay --dead-letters FILE`: every rejected input comes back byte for byte, whatever its bytes.
@Suite struct DeadLetterFileTests {
    static func temporaryPath(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("dead-letters-\(UUID().uuidString)-\(name)").path
    }

    /// Byte strings that stress a JSON text encoding: invalid UTF-8 (lone continuation bytes, truncated and overlong
    /// sequences, surrogates encoded in UTF-8, bytes 0xF5–0xFF), NUL and other control bytes, `\n`, `\r`, quotes,
    /// backslashes, valid multi-byte characters, and uniform random bytes.
    static func randomInput(_ rng: inout SplitMix64) -> [UInt8] {
        let pieces: [[UInt8]] = [
            [0x00], [0x0A], [0x0D], [0x0D, 0x0A], [0x22], [0x5C], [0x2F], [0x09], [0x1F], [0x7F],
            [0x80], [0xBF], [0xC0, 0xAF], [0xC3], [0xC3, 0x28], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
            [0xF5], [0xFF], [0xFE], Array("é".utf8), Array("日本".utf8), Array("😀".utf8), Array("\u{2028}".utf8),
            Array(#"{"event_id":"e","type":"click"}"#.utf8), Array("plain text ".utf8),
        ]
        var bytes: [UInt8] = []
        for _ in 0..<Int.random(in: 0...24, using: &rng) {
            if Bool.random(using: &rng) {
                bytes += pieces[Int.random(in: 0..<pieces.count, using: &rng)]
            } else {
                bytes.append(UInt8.random(in: 0...255, using: &rng))
            }
        }
        return bytes
    }

    @Test func everyByteStringIsRecoveredExactlyAndTextOnlyWhenItIsValidUTF8() throws {
        var rng = SplitMix64(seed: 0xDEAD_1E77)
        var inputs: [[UInt8]] = [[], [0x0A], [0x00], [0xFF], Array("ok".utf8)]
        for _ in 0..<3_000 { inputs.append(Self.randomInput(&rng)) }
        #expect(inputs.contains { String(decoding: $0, as: UTF8.self).utf8.elementsEqual($0) == false }, "no invalid UTF-8 generated")

        let path = Self.temporaryPath("roundtrip.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var file = try DeadLetterFile(path: path)
        for (i, input) in inputs.enumerated() {
            let reason = RejectReason(.notJSON, field: i % 2 == 0 ? nil : "user_id", detail: "case \(i)")
            input.withUnsafeBytes { file.write(reason, input: $0) }
        }
        #expect(file.count == inputs.count)

        let records = try DeadLetterFile.read(path: path)
        try #require(records.count == inputs.count, "one line per record (no raw newline inside one)")
        for (i, (record, input)) in zip(records, inputs).enumerated() {
            #expect(record.input == input, "case \(i): \(input) came back as \(record.input)")
            #expect(record.reason == "not_json" && record.detail == "case \(i)" && record.field == (i % 2 == 0 ? "" : "user_id"))
        }

        // `input` is the text when the bytes are UTF-8, and absent otherwise (never a U+FFFD stand-in).
        let lines = try #require(FileManager.default.contents(atPath: path)).split(separator: 0x0A)
        for (i, (line, input)) in zip(lines, inputs).enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            let text = String(decoding: input, as: UTF8.self)
            if text.utf8.elementsEqual(input) {
                #expect(object["input"] as? String == text, "case \(i): valid UTF-8 without its text field")
            } else {
                #expect(object["input"] == nil, "case \(i): invalid UTF-8 with a text field \(String(describing: object["input"]))")
            }
        }
    }

    /// A replayed file's rejected lines are the dead letters, exactly: invalid UTF-8, NUL, a `\r` inside a line; the
    /// `\r` of a `\r\n` line end is the line end's, not the input's.
    @Test func aReplayedFilesRejectedLinesAreItsDeadLettersByteForByte() throws {
        let good = Array(#"{"event_id":"c-1-2","type":"click","user_id":"1","item_id":"2","ts":874724710000}"#.utf8)
        let bad: [[UInt8]] = [
            Array(#"{"event_id":"x","type":"click","user_id":"1"#.utf8) + [0xC3, 0x28] + Array(#"","item_id":"2","ts":1}"#.utf8),
            [0xFF, 0xFE, 0x00, 0x41],
            Array("not json\rstill the same line".utf8),
            Array(#"{"event_id":"x","type":"clack","user_id":"1","item_id":"2","ts":1}"#.utf8),
        ]
        let text = good + [0x0A] + bad[0] + [0x0A] + bad[1] + [0x0D, 0x0A] + good + [0x0A] + bad[2] + [0x0A] + bad[3] + [0x0A]
        let input = Self.temporaryPath("input.jsonl"), output = Self.temporaryPath("dlq.jsonl")
        defer { for path in [input, output] { try? FileManager.default.removeItem(atPath: path) } }
        try Data(text).write(to: URL(fileURLWithPath: input))

        var replay = Replay(pipelines: [(try ReplayFixtures.spec(), "test")])
        var deadLetters: DeadLetterFile? = try DeadLetterFile(path: output)
        try replay.run(path: input, deadLetters: &deadLetters)
        let records = try DeadLetterFile.read(path: output)
        #expect(records.map(\.input) == bad)
        #expect(records.map(\.reason) == ["invalid_utf8", "not_json", "not_json", "unknown_type"])
        #expect(replay.reports(input: input)[0].rejected == 4)
    }
}


/// Pipelines for replay tests that are not about learned numbers.
enum ReplayFixtures {
    static func spec() throws -> PipelineSpec {
        try PipelineSpec.parse(yaml: """
            version: 1
            name: fixture
            features:
              bits: 12
              namespaces:
                - {name: u, field: user_id}
                - {name: i, field: item_id}
            label:
              examples: {click: 1.0}
              positives: [purchase]
              attribution_window: 0s
            model:
              type: logistic
            optimizer: {type: ftrl, alpha: 0.3, beta: 1.0, l1: 0.0, l2: 0.0}
            evaluation:
              window: 100
              ranking: off
            """)
    }
}
