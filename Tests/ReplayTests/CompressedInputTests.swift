import CZlib
import CZstd
import Foundation
import Pipelines
import Testing
@testable import Replay

/// `--input` reads gzip and zstd files: a compressed file replays to the report of the plain one, whatever its name
/// and the thread count; a corrupt, truncated or misnamed one stops the replay with an error that says so.
@Suite struct CompressedInputTests {
    typealias Fixture = ParallelReplayTests

    /// The fixture's lines as a file's text.
    static let text = Array((Fixture.lines.joined(separator: "\n") + "\n").utf8)

    /// `bytes` gzipped, as one member per `members` part (concatenated members are one gzip stream).
    static func gzip(_ bytes: [UInt8], members: Int = 1) -> [UInt8] {
        var out: [UInt8] = []
        let size = (bytes.count + members - 1) / members
        for part in stride(from: 0, to: bytes.count, by: size) {
            var stream = z_stream()
            precondition(feedloop_deflate_init_gzip(&stream, 6) == Z_OK)
            var input = Array(bytes[part..<min(part + size, bytes.count)])
            var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 64)
            let written = input.withUnsafeMutableBufferPointer { src in
                output.withUnsafeMutableBufferPointer { dst in
                    stream.next_in = src.baseAddress
                    stream.avail_in = UInt32(src.count)
                    stream.next_out = dst.baseAddress
                    stream.avail_out = UInt32(dst.count)
                    precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
                    return dst.count - Int(stream.avail_out)
                }
            }
            deflateEnd(&stream)
            out += output[..<written]
        }
        return out
    }

    /// `bytes` as zstd frames (level 3, with the content checksum), one per `frames` part.
    static func zstd(_ bytes: [UInt8], frames: Int = 1) -> [UInt8] {
        var out: [UInt8] = []
        let size = (bytes.count + frames - 1) / frames
        for part in stride(from: 0, to: bytes.count, by: size) {
            let input = Array(bytes[part..<min(part + size, bytes.count)])
            var output = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
            // With the content checksum, as the zstd tool writes frames.
            let context = ZSTD_createCCtx()
            defer { ZSTD_freeCCtx(context) }
            ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 1)
            let written = output.withUnsafeMutableBytes { dst in
                input.withUnsafeBytes { src in ZSTD_compress2(context, dst.baseAddress, dst.count, src.baseAddress, src.count) }
            }
            precondition(ZSTD_isError(written) == 0)
            out += output[..<written]
        }
        return out
    }

    static func write(_ bytes: [UInt8], _ name: String) throws -> String {
        let path = Fixture.temporaryPath(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// The JSON reports of a replay of `path` (timing left out), or the error that stopped it.
    static func reports(_ path: String, threads: Int, batchBytes: Int = 1 << 20) throws -> [Data] {
        var replay = Replay(pipelines: try Fixture.specs())
        replay.threads = threads
        replay.batchBytes = batchBytes
        var deadLetters: DeadLetterFile? = nil
        try replay.run(path: path, deadLetters: &deadLetters)
        return try replay.pipelines.map(Fixture.report)
    }

    @Test(arguments: [
        ("gzip", "events.jsonl.gz", 1), ("gzip", "events.jsonl", 1), ("gzip", "events.jsonl.gz", 3),
        ("zstd", "events.jsonl.zst", 1), ("zstd", "events.log", 1), ("zstd", "events.jsonl.zst", 4),
    ])
    func aCompressedFileReplaysToThePlainFilesReport(format: String, name: String, parts: Int) throws {
        let plain = try Self.write(Self.text, "events.jsonl")
        let compressed = try Self.write(format == "gzip" ? Self.gzip(Self.text, members: parts) : Self.zstd(Self.text, frames: parts), name)
        defer { for path in [plain, compressed] { try? FileManager.default.removeItem(atPath: path) } }
        #expect(try Data(contentsOf: URL(fileURLWithPath: compressed)).count < Self.text.count / 2)
        let expected = try Self.reports(plain, threads: 1)
        #expect(try Self.reports(compressed, threads: 1) == expected, "\(format) \(name), one thread")
        #expect(try Self.reports(compressed, threads: 2, batchBytes: 4096) == expected, "\(format) \(name), reading thread")
    }

    /// The line reader hands out the same lines from a compressed file whatever its buffer's size (the
    /// decompressor fills whatever room is left).
    @Test(arguments: [7, 64, 4096])
    func linesAreTheSameFromACompressedFile(chunkSize: Int) throws {
        let path = try Self.write(Self.zstd(Self.text, frames: 2), "small.zst")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var reader = try LineFileReader(path: path, chunkSize: chunkSize)
        var lines: [String] = []
        while try reader.nextBatch({ ranges, bytes in
            for r in ranges { lines.append(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)) }
        }) {}
        #expect(lines == Fixture.lines)
        #expect(reader.bytesRead == reader.fileSize)
    }

    static func error(replaying bytes: [UInt8], named name: String) throws -> String? {
        let path = try write(bytes, name)
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            _ = try reports(path, threads: 2)
            return nil
        } catch let error as ReplayError {
            return error.description
        }
    }

    @Test func aCorruptGzipFileIsAClearError() throws {
        var bytes = Self.gzip(Self.text)
        for i in stride(from: bytes.count / 2, to: bytes.count / 2 + 64, by: 1) { bytes[i] ^= 0x5A }
        let message = try #require(try Self.error(replaying: bytes, named: "bad.jsonl.gz"))
        #expect(message.contains("corrupt compressed input") && message.contains("bad.jsonl.gz") && message.contains("gzip"), "\(message)")
    }

    @Test func aCorruptZstdFileIsAClearError() throws {
        var bytes = Self.zstd(Self.text)
        for i in stride(from: bytes.count / 2, to: bytes.count / 2 + 64, by: 1) { bytes[i] ^= 0x5A }
        let message = try #require(try Self.error(replaying: bytes, named: "bad.zst"))
        #expect(message.contains("corrupt compressed input") && message.contains("zstd"), "\(message)")
    }

    @Test(arguments: ["gzip", "zstd"])
    func aTruncatedFileIsAClearError(format: String) throws {
        let whole = format == "gzip" ? Self.gzip(Self.text) : Self.zstd(Self.text)
        let message = try #require(try Self.error(replaying: Array(whole.prefix(whole.count * 2 / 3)), named: "cut.bin"))
        #expect(message.contains("truncated"), "\(message)")
    }

    @Test func aPlainFileNamedGzIsAClearError() throws {
        let message = try #require(try Self.error(replaying: Self.text, named: "plain.jsonl.gz"))
        #expect(message.contains("named as gzip"), "\(message)")
    }
}
