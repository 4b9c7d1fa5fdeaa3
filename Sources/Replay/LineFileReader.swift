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
public struct LineFileReader: ~Copyable {
    private let fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private var eof = false
    /// Bytes read so far.
    public private(set) var bytesRead: UInt64 = 0
    /// Size of the file at open (for progress), or nil when unknown (pipes).
    public let fileSize: UInt64?

    /// Opens `path` for reading ("-" = standard input).
    public init(path: String, chunkSize: Int = 1 << 20) throws(ReplayError) {
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
                let n = read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw ReplayError.io("read failed: \(String(cString: strerror(errno)))")
                }
                if n == 0 { eof = true } else { filled += n; bytesRead += UInt64(n) }
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
                        appendLine(start..<nl, bytes, &lines)
                        start = nl + 1
                        i = start
                    } else {
                        break
                    }
                }
            }
            if eof && start < filled {
                appendLine(start..<filled, bytes, &lines)
                start = filled
            }
            if !lines.isEmpty {
                lines.withUnsafeBufferPointer { body($0, bytes) }
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
                // One line longer than the buffer: grow (the decoder rejects oversized events with a reason).
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 64)
                bigger.copyMemory(from: UnsafeRawBufferPointer(buffer))
                buffer.deallocate()
                buffer = bigger
            }
        }
    }

    private func appendLine(_ range: Range<Int>, _ bytes: UnsafeRawBufferPointer, _ lines: inout [Range<Int>]) {
        var r = range
        if r.upperBound > r.lowerBound && bytes[r.upperBound - 1] == 0x0D { r = r.lowerBound..<(r.upperBound - 1) }
        lines.append(r)
    }
}

/// Failures of the replay tool itself (not of events, which are counted and reported).
public enum ReplayError: Error, CustomStringConvertible, Sendable {
    case io(String)
    case usage(String)

    public var description: String {
        switch self {
        case .io(let m): "I/O error: \(m)"
        case .usage(let m): m
        }
    }
}
