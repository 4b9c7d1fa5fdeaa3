// MARK: - SyntaxError

/// A grammar-level failure inside the parser: small and allocation-free, turned into a ``RejectReason`` (with a
/// readable detail) only once, at the decoder's boundary.
struct SyntaxError: Error {
    /// What went wrong.
    enum Problem: UInt8 {
        case emptyInput, expectedObject, expectedKey, expectedColon, expectedCommaOrBrace, expectedCommaOrBracket
        case expectedValue, unterminatedString, controlCharacter, badEscape, badUnicodeEscape, unpairedSurrogate
        case invalidUTF8, leadingZero, expectedDigit, badLiteral, trailingData, tooDeep
    }

    var problem: Problem
    /// Byte offset into the input.
    var offset: Int

    init(_ problem: Problem, offset: Int) {
        self.problem = problem
        self.offset = offset
    }

    /// The dead-letter reason, with the offending byte quoted from `input`.
    func reason(input: UnsafeRawBufferPointer) -> RejectReason {
        let at = "at byte \(offset)"
        let found = "found \(Self.describeByte(in: input, at: offset))"
        switch problem {
        case .emptyInput: return RejectReason(.empty, detail: input.isEmpty ? "empty input" : "only whitespace")
        case .expectedObject: return RejectReason(.notJSON, detail: "expected '{' \(at), \(found)")
        case .expectedKey: return RejectReason(.notJSON, detail: "expected '\"' starting an object key \(at), \(found)")
        case .expectedColon: return RejectReason(.notJSON, detail: "expected ':' \(at), \(found)")
        case .expectedCommaOrBrace: return RejectReason(.notJSON, detail: "expected ',' or '}' \(at), \(found)")
        case .expectedCommaOrBracket: return RejectReason(.notJSON, detail: "expected ',' or ']' \(at), \(found)")
        case .expectedValue: return RejectReason(.notJSON, detail: "expected a JSON value \(at), \(found)")
        case .unterminatedString: return RejectReason(.notJSON, detail: "unterminated string starting \(at)")
        case .controlCharacter:
            return RejectReason(.notJSON, detail: "unescaped control character in string \(at), \(found)")
        case .badEscape: return RejectReason(.notJSON, detail: "invalid escape sequence \(at)")
        case .badUnicodeEscape: return RejectReason(.notJSON, detail: "invalid \\u escape (needs 4 hex digits) \(at)")
        case .unpairedSurrogate:
            return RejectReason(.invalidUTF8, detail: "\\u escape names an unpaired UTF-16 surrogate \(at)")
        case .invalidUTF8: return RejectReason(.invalidUTF8, detail: "invalid UTF-8 sequence in string \(at), \(found)")
        case .leadingZero: return RejectReason(.notJSON, detail: "number with a leading zero \(at)")
        case .expectedDigit: return RejectReason(.notJSON, detail: "expected a digit \(at), \(found)")
        case .badLiteral: return RejectReason(.notJSON, detail: "invalid literal \(at)")
        case .trailingData: return RejectReason(.trailingData, detail: "unexpected data after the event object \(at), \(found)")
        case .tooDeep:
            return RejectReason(.tooDeep, detail: "arrays/objects nested deeper than \(EventDecoder.maxDepth) levels \(at)")
        }
    }

    /// `'x'` for printable ASCII, `0xNN` otherwise, `end of input` past the end.
    static func describeByte(in input: UnsafeRawBufferPointer, at offset: Int) -> String {
        guard offset >= 0 && offset < input.count else { return "end of input" }
        let b = input[offset]
        if b >= 0x21 && b < 0x7F { return "'\(Character(Unicode.Scalar(b)))'" }
        let hex = String(b, radix: 16, uppercase: true)
        return b < 0x10 ? "0x0\(hex)" : "0x\(hex)"
    }
}
