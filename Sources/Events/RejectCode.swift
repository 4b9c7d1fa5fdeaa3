// MARK: - RejectCode

/// The stable, machine-readable reasons an input is rejected (sent to the dead-letter topic).
///
/// The raw value is the snake_case string carried by ``RejectReason/code`` and by dead-letter headers; it never
/// changes, so dashboards and alerts can key on it.
public enum RejectCode: String, Sendable, CaseIterable {
    /// The input has no bytes, or only JSON whitespace: an empty Kafka message value, a blank line of a replayed
    /// event log.
    case empty = "empty"
    /// The bytes are not one well-formed JSON object (syntax error, bad escape, unescaped control character,
    /// leading zero, `+1`, truncated input, …); input with nothing but whitespace is ``empty`` instead.
    case notJSON = "not_json"
    /// A required field (`event_id`, `type`, `user_id`, `item_id`, `ts`) is absent.
    case missingField = "missing_field"
    /// A known field holds a JSON value of the wrong kind (e.g. `"ts":"123"`, `"ts":1.5`, `"user_id":true`).
    case wrongType = "wrong_type"
    /// A number is not finite: `NaN`, `Infinity`, `-Infinity` tokens, or a literal such as `1e999` that overflows.
    case nonFinite = "non_finite"
    /// The input is longer than the decoder's `maxBytes` (checked before scanning).
    case oversized = "oversized"
    /// `type` is a string but not one of the ``EventType`` names.
    case unknownType = "unknown_type"
    /// A string holds bytes that are not UTF-8, or a `\u` escape names an unpaired surrogate.
    case invalidUTF8 = "invalid_utf8"
    /// A known field (or an extracted context key) appears twice.
    case duplicateField = "duplicate_field"
    /// `event_id`, `user_id`, `item_id` or `ranking_id` is the empty string.
    case emptyField = "empty_field"
    /// Something other than whitespace follows the event object.
    case trailingData = "trailing_data"
    /// A context value is not a string, number, bool, null or array of strings (e.g. a nested object).
    case badContext = "bad_context"
    /// `ts` is a negative integer or does not fit `Int64`; `position` is negative or does not fit `Int32`.
    case outOfRange = "out_of_range"
    /// Unknown (ignored) fields nest arrays/objects deeper than ``EventDecoder/maxDepth`` levels.
    case tooDeep = "too_deep"
}
