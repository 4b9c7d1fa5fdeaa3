// MARK: - RejectReason

/// Why an input was rejected; it goes to the dead-letter topic together with the original bytes.
///
/// Created only on the rejection path (it owns `String`s), never for accepted events.
public struct RejectReason: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable machine-readable reason, one of ``RejectCode``'s raw values (e.g. `"missing_field"`).
    public var code: String
    /// The field concerned, e.g. `"user_id"` or `"context.age"`; `nil` for whole-input problems such as syntax errors.
    public var field: String?
    /// Human-readable explanation with the byte offset, e.g. `expected string for user_id at byte 34, found true`.
    public var detail: String

    /// A reason with an arbitrary code (prefer ``init(_:field:detail:)``).
    public init(code: String, field: String?, detail: String) {
        self.code = code
        self.field = field
        self.detail = detail
    }

    /// A reason with one of the standard codes.
    public init(_ code: RejectCode, field: String? = nil, detail: String) {
        self.init(code: code.rawValue, field: field, detail: detail)
    }

    /// The standard code, or `nil` when ``code`` is not one of ``RejectCode``'s values.
    public var rejectCode: RejectCode? { RejectCode(rawValue: code) }

    /// `code [field]: detail`.
    public var description: String {
        if let field { "\(code) [\(field)]: \(detail)" } else { "\(code): \(detail)" }
    }
}
