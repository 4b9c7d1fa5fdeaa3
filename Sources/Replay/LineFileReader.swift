#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a JSONL file in fixed-size chunks and hands out batches of complete lines, so memory stays bounded
/// whatever the file size. Lines are byte ranges into the current chunk (valid during the callback).
///
/// Every line is handed out, blank ones included (the decoder rejects them with reason `empty`, as the worker does
/// an empty message): a line is what a `\n` ends, or the bytes after the last `\n`. A final `\n` ends the last
/// line and starts none, so `a\nb\n` is two lines and `a\n\nb\n` three.
///
/// The buffer grows to hold the longest line, up to `maxLineBytes`: a longer line (without its `\n` or `\r\n`)
/// stops the read with ``ReplayError/lineTooLong(line:byteOffset:limit:)`` instead of growing without bound (a
/// file with no newline is not an event log). Lines up to the bound reach the decoder, which rejects events longer
/// than its own limit as `oversized`.
///
/// A gzip or zstd file is decompressed as it is read (``InputCompression``): named `.gz` or `.zst` (then it must
/// be one), or recognised by its first bytes whatever its name (standard input included). The lines are those of
/// the decompressed text; a corrupt or truncated stream stops the read with
/// ``ReplayError/corruptInput(path:detail:)``.
public struct LineFileReader: ~Copyable {
    /// The default bound on a line's length: far above any event the decoder accepts (64 KiB by default).
    public static let defaultMaxLineBytes = 64 << 20
    private let fd: Int32
    private let path: String
    /// The decompressor, once the first bytes showed a compressed input.
    private var decompressor: Decompressor?
    /// Whether the first bytes were looked at (for compression).
    private var sniffed = false
    /// Bytes of the (decompressed) text put into the buffer so far.
    private var textBytes: UInt64 = 0
    private var buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var eof = false
    /// Bytes read from the file so far (compressed bytes for a compressed file: what ``fileSize`` counts).
    public private(set) var bytesRead: UInt64 = 0
    /// Size of the file at open (for progress), or nil when unknown (pipes).
    public let fileSize: UInt64?
    /// The longest line accepted, in bytes (without its line ending).
    public let maxLineBytes: Int
    /// Lines handed out so far.
    private var linesRead = 0

    /// Opens `path` for reading ("-" = standard input).
    public init(path: String, chunkSize: Int = 1 << 20, maxLineBytes: Int = LineFileReader.defaultMaxLineBytes) throws(ReplayError) {
        self.maxLineBytes = max(1, maxLineBytes)
        self.path = path
        if path == "-" {
            fd = 0
        } else {
            fd = open(path, O_RDONLY)
            if fd < 0 { throw ReplayError.io("cannot open \(path): \(String(cString: strerror(errno)))") }
        }
        var st = stat()
        fileSize = fstat(fd, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG ? UInt64(st.st_size) : nil
        buffer = .allocate(byteCount: chunkSize, alignment: 64)
    }

    deinit {
        buffer.deallocate()
        if fd > 0 { close(fd) }
    }

    /// Calls `body` with the next batch of complete lines (each without its `\n` or `\r\n`); false at end of input.
    /// A final line without a trailing newline is delivered too.
    public mutating func nextBatch(_ body: (_ lines: UnsafeBufferPointer<Range<Int>>, _ bytes: UnsafeRawBufferPointer) -> Void) throws(ReplayError) -> Bool {
        var lines: [Range<Int>] = []
        lines.reserveCapacity(8192)
        while true {
            if !eof && filled < buffer.count {
                let n = try readText(into: buffer.baseAddress! + filled, count: buffer.count - filled)
                if n == 0 { eof = true } else { filled += n; textBytes += UInt64(n) }
            }
            // Split what we have into complete lines.
            lines.removeAll(keepingCapacity: true)
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0..<filled])
            var start = 0
            var i = 0
            if let base = bytes.baseAddress {
                while i < filled {
                    if let p = memchr(base + i, 0x0A, filled - i) {
                        let nl = base.distance(to: UnsafeRawPointer(p))
                        try appendLine(start..<nl, bytes, &lines)
                        start = nl + 1
                        i = start
                    } else {
                        break
                    }
                }
            }
            if eof && start < filled {
                try appendLine(start..<filled, bytes, &lines)
                start = filled
            }
            if !lines.isEmpty {
                lines.withUnsafeBufferPointer { body($0, bytes) }
                linesRead += lines.count
            }
            // Keep the incomplete tail for the next round.
            let rest = filled - start
            if rest > 0 && start > 0 {
                (buffer.baseAddress! + 0).copyMemory(from: buffer.baseAddress! + start, byteCount: rest)
            }
            filled = rest
            if !lines.isEmpty { return true }
            if eof { return false }
            if filled == buffer.count {
                // One line longer than the buffer: grow, up to the bound (+ 2 for its `\r\n`).
                if filled > maxLineBytes + 1 { throw lineTooLong(at: 0) }
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: min(buffer.count * 2, maxLineBytes + 2), alignment: 64)
                bigger.copyMemory(from: UnsafeRawBufferPointer(buffer))
                buffer.deallocate()
                buffer = bigger
            }
        }
    }

    /// Reads up to `count` bytes of text into `destination` (0 at the end): the file's bytes, or their
    /// decompression. The first read looks at the first bytes for a compression's magic.
    private mutating func readText(into destination: UnsafeMutableRawPointer, count: Int) throws(ReplayError) -> Int {
        if let decompressor {
            let n = try decompressor.read(into: destination, count: count)
            bytesRead = decompressor.compressedBytes
            return n
        }
        var n = try readFile(into: destination, count: count)
        guard !sniffed else { return n }
        sniffed = true
        // Enough bytes for the magic (a pipe may hand out fewer at first).
        while n > 0 && n < InputCompression.magicBytes && n < count {
            let more = try readFile(into: destination + n, count: count - n)
            if more == 0 { break }
            n += more
        }
        let prefix = UnsafeRawBufferPointer(start: destination, count: n)
        let detected = InputCompression.detect(prefix)
        if let named = InputCompression.named(path), named != detected {
            throw ReplayError.corruptInput(path: path, detail: "named as \(named.rawValue) but does not start as \(named.rawValue) data does")
        }
        guard let detected else { return n }
        let decompressor = try Decompressor(format: detected, fd: fd, path: path, prefix: prefix)
        self.decompressor = decompressor
        let text = try decompressor.read(into: destination, count: count)
        bytesRead = decompressor.compressedBytes
        return text
    }

    /// Reads up to `count` bytes of the file.
    private mutating func readFile(into destination: UnsafeMutableRawPointer, count: Int) throws(ReplayError) -> Int {
        while true {
            let n = read(fd, destination, count)
            if n < 0 {
                if errno == EINTR { continue }
                throw ReplayError.io("read failed: \(String(cString: strerror(errno)))")
            }
            bytesRead += UInt64(n)
            return n
        }
    }

    private func appendLine(_ range: Range<Int>, _ bytes: UnsafeRawBufferPointer, _ lines: inout [Range<Int>]) throws(ReplayError) {
        var r = range
        if r.upperBound > r.lowerBound && bytes[r.upperBound - 1] == 0x0D { r = r.lowerBound..<(r.upperBound - 1) }
        if r.count > maxLineBytes { throw lineTooLong(at: range.lowerBound, linesBefore: lines.count) }
        lines.append(r)
    }

    /// The error for a line that starts at `start` in the buffer and is longer than the bound, after `linesBefore`
    /// lines of this round (which are not handed out: the read stops).
    private func lineTooLong(at start: Int, linesBefore: Int = 0) -> ReplayError {
        .lineTooLong(line: linesRead + linesBefore + 1, byteOffset: textBytes - UInt64(filled) + UInt64(start), limit: maxLineBytes)
    }
}

/// Failures of the replay tool itself (not of events, which are counted and reported).
public enum ReplayError: Error, CustomStringConvertible, Sendable {
    case io(String)
    case usage(String)
    /// A line of the input file longer than the reader's bound (1-based line number, byte offset of its start in
    /// the text, decompressed).
    case lineTooLong(line: Int, byteOffset: UInt64, limit: Int)
    /// A compressed input that is not valid data of its compression, ends inside a member or frame, or is named
    /// as a compression it is not.
    case corruptInput(path: String, detail: String)

    public var description: String {
        switch self {
        case .io(let m): "I/O error: \(m)"
        case .usage(let m): m
        case .lineTooLong(let line, let offset, let limit):
            "line \(line) (at byte \(offset)) is longer than \(limit) bytes: not an event log with one event per line?"
        case .corruptInput(let path, let detail): "corrupt compressed input \(path): \(detail)"
        }
    }
}
