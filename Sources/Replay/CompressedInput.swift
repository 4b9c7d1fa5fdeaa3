import CZlib
import CZstd

#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif

/// The compressions ``LineFileReader`` reads: gzip (RFC 1952; concatenated members, as `cat a.gz b.gz` or pigz
/// write them, are one stream) and zstd (concatenated frames likewise).
public enum InputCompression: String, Sendable, Equatable {
    case gzip
    case zstd

    /// The compression whose magic bytes `prefix` starts with (gzip: `1f 8b`; a zstd frame: `28 b5 2f fd`), or nil.
    static func detect(_ prefix: UnsafeRawBufferPointer) -> InputCompression? {
        if prefix.count >= 2, prefix[0] == 0x1F, prefix[1] == 0x8B { return .gzip }
        if prefix.count >= 4, prefix[0] == 0x28, prefix[1] == 0xB5, prefix[2] == 0x2F, prefix[3] == 0xFD { return .zstd }
        return nil
    }

    /// The compression a file's name announces (`.gz`, `.zst`), or nil.
    static func named(_ path: String) -> InputCompression? {
        if path.hasSuffix(".gz") { return .gzip }
        if path.hasSuffix(".zst") { return .zstd }
        return nil
    }

    /// The magic bytes the longest detection reads.
    static let magicBytes = 4
}

/// Decompresses a gzip or zstd stream read from a file descriptor, into the caller's buffer: the line reader's
/// source when its input is compressed (on the thread that reads, so decompression runs there too). A corrupt
/// stream, or one that ends inside a gzip member or zstd frame, is an error naming the file and where it is.
final class Decompressor {
    let format: InputCompression
    let fd: Int32
    let path: String
    /// Compressed bytes read from the file but not yet decompressed: `input[start..<end]`.
    private var input: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var inputEOF = false
    /// Compressed bytes read from the file so far.
    private(set) var compressedBytes: UInt64 = 0
    /// Whether the stream stands between two members (frames): the only place it may end.
    private var atFrameEnd = true
    private var frames = 0
    private var zlib: UnsafeMutablePointer<z_stream>?
    private var zstd: OpaquePointer?

    /// A decompressor of `format` for `fd`, whose first bytes (`prefix`) were already read from it.
    init(format: InputCompression, fd: Int32, path: String, prefix: UnsafeRawBufferPointer) throws(ReplayError) {
        self.format = format
        self.fd = fd
        self.path = path
        input = .allocate(byteCount: max(1 << 18, prefix.count), alignment: 64)
        if let base = prefix.baseAddress, prefix.count > 0 { input.baseAddress!.copyMemory(from: base, byteCount: prefix.count) }
        end = prefix.count
        compressedBytes = UInt64(prefix.count)
        switch format {
        case .gzip:
            let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
            stream.initialize(to: z_stream())
            guard feedloop_inflate_init_gzip(stream) == Z_OK else {
                stream.deallocate()
                input.deallocate()
                throw .io("\(path): cannot start gzip decompression")
            }
            zlib = stream
        case .zstd:
            guard let context = ZSTD_createDCtx() else {
                input.deallocate()
                throw .io("\(path): cannot start zstd decompression")
            }
            zstd = context
        }
    }

    deinit {
        if let zlib {
            inflateEnd(zlib)
            zlib.deallocate()
        }
        if let zstd { ZSTD_freeDCtx(zstd) }
        input.deallocate()
    }

    /// Decompresses up to `count` bytes into `destination`: how many, 0 only at the end of the stream.
    func read(into destination: UnsafeMutableRawPointer, count: Int) throws(ReplayError) -> Int {
        while true {
            if start == end && !inputEOF { try refill() }
            let exhausted = start == end && inputEOF
            if exhausted && atFrameEnd {
                if frames == 0 { throw corrupt("empty \(format.rawValue) stream") }
                return 0
            }
            let produced = try step(into: destination, count: count)
            if produced > 0 { return produced }
            if exhausted {
                throw corrupt("truncated: the file ends inside a \(format == .gzip ? "gzip member" : "zstd frame")")
            }
        }
    }

    private func refill() throws(ReplayError) {
        start = 0
        end = 0
        while true {
            let n = systemRead(fd, input.baseAddress!, input.count)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io("\(path): read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { inputEOF = true } else { end = n; compressedBytes += UInt64(n) }
            return
        }
    }

    /// One decompression call over the buffered input; the bytes it produced (0: it needs more input).
    private func step(into destination: UnsafeMutableRawPointer, count: Int) throws(ReplayError) -> Int {
        let available = end - start
        switch format {
        case .gzip:
            let stream = zlib!
            if atFrameEnd && available > 0 {
                // The next member (after the first, which inflateInit prepared).
                if frames > 0 && inflateReset(stream) != Z_OK { throw corrupt("cannot restart after a member") }
                atFrameEnd = false
                frames += 1
            }
            stream.pointee.next_in = (input.baseAddress! + start).assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_in = UInt32(clamping: available)
            stream.pointee.next_out = destination.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = UInt32(clamping: count)
            let outputSpace = Int(stream.pointee.avail_out)
            let rc = inflate(stream, Z_NO_FLUSH)
            start += available - Int(stream.pointee.avail_in)
            switch rc {
            case Z_OK, Z_BUF_ERROR: break  // Z_BUF_ERROR: no progress without more input
            case Z_STREAM_END: atFrameEnd = true
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "error \(rc)"
                throw corrupt("not valid gzip data (\(message))")
            }
            return outputSpace - Int(stream.pointee.avail_out)
        case .zstd:
            if atFrameEnd && available > 0 {
                atFrameEnd = false
                frames += 1
            }
            var source = ZSTD_inBuffer(src: input.baseAddress! + start, size: available, pos: 0)
            var sink = ZSTD_outBuffer(dst: destination, size: count, pos: 0)
            let rc = ZSTD_decompressStream(zstd, &sink, &source)
            if ZSTD_isError(rc) != 0 { throw corrupt("not valid zstd data (\(String(cString: ZSTD_getErrorName(rc))))") }
            start += source.pos
            // 0: a frame is complete and flushed; the next bytes, if any, start another.
            if rc == 0 { atFrameEnd = true }
            return sink.pos
        }
    }

    /// The error for a stream that is not what its format says, with the compressed position reached.
    private func corrupt(_ detail: String) -> ReplayError {
        .corruptInput(path: path, detail: "\(detail), near compressed byte \(compressedBytes - UInt64(end - start))")
    }
}
