import Foundation
import Replay
import Testing

/// The file reader of a replay: lines across chunk boundaries, CR LF, a final line without a newline, blank lines,
/// growth up to the longest line, and the bound on a line's length.
@Suite struct LineFileReaderTests {
    /// Every line of the file at `path`, as strings, read in chunks of `chunkSize` bytes.
    static func lines(of text: String, chunkSize: Int, maxLineBytes: Int = LineFileReader.defaultMaxLineBytes) throws -> [String] {
        let path = DeadLetterFileTests.temporaryPath("lines.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        var reader = try LineFileReader(path: path, chunkSize: chunkSize, maxLineBytes: maxLineBytes)
        var out: [String] = []
        while try reader.nextBatch({ lines, bytes in
            for range in lines { out.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)) }
        }) {}
        #expect(reader.bytesRead == UInt64(text.utf8.count))
        return out
    }

    @Test(arguments: [1, 2, 3, 7, 64, 1 << 20])
    func linesAreTheSameWhateverTheChunkSize(_ chunkSize: Int) throws {
        let text = "alpha\nbeta\r\n\ngamma-gamma-gamma-gamma\n\r\nomega"
        #expect(try Self.lines(of: text, chunkSize: chunkSize) == ["alpha", "beta", "", "gamma-gamma-gamma-gamma", "", "omega"])
    }

    @Test func theFinalNewlineEndsTheLastLineAndStartsNone() throws {
        #expect(try Self.lines(of: "a\nb\n", chunkSize: 4) == ["a", "b"])
        #expect(try Self.lines(of: "a\n\nb\n", chunkSize: 4) == ["a", "", "b"])
        #expect(try Self.lines(of: "", chunkSize: 4) == [])
        #expect(try Self.lines(of: "\n", chunkSize: 4) == [""])
    }

    @Test func aLineLongerThanTheChunkGrowsTheBufferUpToTheBound() throws {
        let long = String(repeating: "x", count: 1000)
        #expect(try Self.lines(of: "a\n\(long)\nb", chunkSize: 16, maxLineBytes: 1000) == ["a", long, "b"])
        #expect(try Self.lines(of: "a\n\(long)\r\nb", chunkSize: 16, maxLineBytes: 1000) == ["a", long, "b"])
        #expect(try Self.lines(of: "a\n\(long)", chunkSize: 16, maxLineBytes: 1000) == ["a", long])
    }

    @Test(arguments: ["\n", "\r\n", ""])
    func aLineLongerThanTheBoundIsRejectedWithItsPlace(_ ending: String) throws {
        let long = String(repeating: "x", count: 1001)
        do {
            _ = try Self.lines(of: "a\nbb\n\(long)\(ending)c\n", chunkSize: 16, maxLineBytes: 1000)
            Issue.record("no error for a line of 1,001 bytes with a bound of 1,000")
        } catch ReplayError.lineTooLong(let line, let byteOffset, let limit) {
            #expect(line == 3)
            #expect(byteOffset == 5)
            #expect(limit == 1000)
        }
    }

    @Test func aLineFarLongerThanTheBoundStopsGrowingAtTheBound() throws {
        // 1 MiB without a newline against a bound of 4 KiB: rejected once the line passes the bound, not read whole.
        let path = DeadLetterFileTests.temporaryPath("long.jsonl")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(repeating: UInt8(ascii: "x"), count: 1 << 20).write(to: URL(fileURLWithPath: path))
        var reader = try LineFileReader(path: path, chunkSize: 256, maxLineBytes: 4096)
        #expect(throws: ReplayError.self) { while try reader.nextBatch({ _, _ in }) {} }
        #expect(reader.bytesRead < 16 * 1024)
    }

    @Test func theReplayReportsATooLongLineWithTheReason() throws {
        let error = ReplayError.lineTooLong(line: 3, byteOffset: 5, limit: 1000)
        #expect(error.description.contains("line 3"))
        #expect(error.description.contains("1000"))
    }
}
