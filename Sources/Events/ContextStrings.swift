// MARK: - ContextStrings

/// The strings of a context array value (e.g. `"genres":["Comedy","Drama"]`), as UTF-8 byte spans.
///
/// A random-access collection over decoder-owned storage: iterating it allocates nothing. The spans follow the
/// lifetime rule of ``EventView``.
public struct ContextStrings: RandomAccessCollection {
    /// The spans, in array order.
    @usableFromInline let spans: UnsafeBufferPointer<UnsafeRawBufferPointer>

    /// Wraps decoder-owned spans.
    @inlinable init(spans: UnsafeBufferPointer<UnsafeRawBufferPointer>) {
        self.spans = spans
    }

    /// Always 0.
    @inlinable public var startIndex: Int { 0 }
    /// The number of strings.
    @inlinable public var endIndex: Int { spans.count }

    /// The UTF-8 bytes of the string at `position`.
    @inlinable public subscript(position: Int) -> UnsafeRawBufferPointer {
        precondition(position >= 0 && position < spans.count, "ContextStrings index out of range")
        return spans[position]
    }
}
