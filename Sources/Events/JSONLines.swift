#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - JSONLines

/// The lines of a JSONL buffer: each without its `\n` (and without a `\r` before it), skipping blank lines (empty or
/// only spaces/tabs/`\r`), numbered from 1 as in the file. Uses `memchr`, so splitting runs at memory speed.
///
/// The spans point into `buffer`, which must outlive the iteration.
public struct JSONLines: Sequence {
    /// One non-blank line.
    public struct Line {
        /// 1-based line number in the buffer (blank lines count).
        public var number: Int
        /// Byte offset of the line's first byte in the buffer.
        public var offset: Int
        /// The line's bytes, without the line terminator.
        public var bytes: UnsafeRawBufferPointer
    }

    /// Walks the buffer line by line.
    public struct Iterator: IteratorProtocol {
        let buffer: UnsafeRawBufferPointer
        var position = 0
        var lineNumber = 0

        init(buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

        /// The next non-blank line, or `nil` at the end.
        public mutating func next() -> Line? {
            guard let base = buffer.baseAddress else { return nil }
            let count = buffer.count
            while position < count {
                let lineStart = position
                let remaining = count - lineStart
                var lineEnd: Int
                if let newline = memchr(base + lineStart, 0x0A, remaining) {
                    lineEnd = UnsafeRawPointer(newline) - base
                    position = lineEnd + 1
                } else {
                    lineEnd = count
                    position = count
                }
                lineNumber += 1
                if lineEnd > lineStart && buffer[lineEnd - 1] == 0x0D { lineEnd -= 1 }
                var i = lineStart
                while i < lineEnd, buffer[i] == 0x20 || buffer[i] == 0x09 || buffer[i] == 0x0D { i += 1 }
                if i == lineEnd { continue }
                return Line(
                    number: lineNumber, offset: lineStart,
                    bytes: UnsafeRawBufferPointer(start: base + lineStart, count: lineEnd - lineStart))
            }
            return nil
        }
    }

    /// The buffer to split.
    public let buffer: UnsafeRawBufferPointer

    /// Lines of `buffer` (which must outlive the iteration).
    public init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    /// An iterator from the first line.
    public func makeIterator() -> Iterator { Iterator(buffer: buffer) }
}
