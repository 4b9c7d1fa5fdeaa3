// MARK: - ContextValue

/// The value of one requested context key in a decoded event (see ``EventView/context(_:)``).
///
/// Byte spans follow the lifetime rule of ``EventView``.
public enum ContextValue {
    /// The key is not in the event (or the event has no `context`).
    case absent
    /// The key is present with JSON `null`.
    case null
    /// A string, as UTF-8 bytes (unescaped).
    case string(UnsafeRawBufferPointer)
    /// A finite number.
    case number(Double)
    /// `true` or `false`.
    case bool(Bool)
    /// An array of strings (e.g. genres); iterate it without allocating.
    case strings(ContextStrings)
}
