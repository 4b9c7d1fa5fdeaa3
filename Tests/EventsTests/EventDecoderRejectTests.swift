import Events
import Testing

// MARK: - One test per reject reason

/// The required fields, for building inputs.
private let required = #""event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1"#

private func event(_ extra: String) -> String { "{\(required),\(extra)}" }

@Suite("EventDecoder rejections")
struct EventDecoderRejectTests {
    @Test(arguments: [
        "null", "[]", #""text""#, "{", #"{"event_id""#, #"{"event_id":}"#, #"{"event_id" "e"}"#,
        #"{"event_id":"e",}"#, #"{"event_id":"e""type":"click"}"#, "{'event_id':'e'}", #"{"event_id":"e"#,
        "{\"a\":\"tab\there\"}", #"{"a":"\x41"}"#, #"{"a":"\u12G4"}"#, #"{"a":"\u12"}"#, #"{"a":01}"#, #"{"a":+1}"#,
        #"{"a":.5}"#, #"{"a":1.}"#, #"{"a":1e}"#, #"{"a":-}"#, #"{"a":--1}"#, #"{"a":tru}"#, #"{"a":nul}"#,
        #"{"a":True}"#, #"{"a":[1,]}"#, #"{"a":[1 2]}"#, #"{"a":{"b"}}"#, #"{"a":undefined}"#, #"{"a":nan}"#,
    ])
    func rejectsMalformedJSONAsNotJSON(_ json: String) {
        let reason = rejection(json)
        #expect(reason?.code == "not_json", "\(json) → \(String(describing: reason))")
        #expect(reason?.field == nil)
    }

    /// Nothing, or nothing but JSON whitespace: `empty`, the code a blank replay line and an empty Kafka message share.
    @Test(arguments: [("", "empty input"), (" ", "only whitespace"), ("\t\r\n  ", "only whitespace")])
    func rejectsEmptyAndWhitespaceOnlyInputAsEmpty(_ input: String, _ detail: String) {
        let reason = rejection(input)
        #expect(reason?.code == "empty", "\(input.debugDescription) → \(String(describing: reason))")
        #expect(reason?.rejectCode == .empty && reason?.field == nil && reason?.detail == detail)
    }

    @Test func syntaxErrorsWinOverSchemaErrors() {
        // Unknown type and wrong ts type, but the object is never closed: the input is not JSON.
        #expect(rejection(#"{"event_id":"","type":"bogus","user_id":true,"ts":"x""#)?.code == "not_json")
        #expect(rejection(#"{"type":"bogus"} x"#)?.code == "trailing_data")
    }

    @Test(arguments: ["event_id", "type", "user_id", "item_id", "ts"])
    func rejectsAMissingRequiredField(_ field: String) {
        let members = [
            ("event_id", #""e""#), ("type", #""click""#), ("user_id", #""u""#), ("item_id", #""i""#), ("ts", "1"),
        ].filter { $0.0 != field }.map { "\"\($0.0)\":\($0.1)" }
        let reason = rejection("{\(members.joined(separator: ",")),\"value\":1}")
        #expect(reason?.code == "missing_field")
        #expect(reason?.field == field)
    }

    @Test(arguments: [
        (#"{"event_id":1,"type":"click","user_id":"u","item_id":"i","ts":1}"#, "event_id"),
        (#"{"event_id":"e","type":3,"user_id":"u","item_id":"i","ts":1}"#, "type"),
        (#"{"event_id":"e","type":"click","user_id":true,"item_id":"i","ts":1}"#, "user_id"),
        (#"{"event_id":"e","type":"click","user_id":"u","item_id":1.5,"ts":1}"#, "item_id"),
        (#"{"event_id":"e","type":"click","user_id":"u","item_id":["i"],"ts":1}"#, "item_id"),
        (#"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":"1"}"#, "ts"),
        (#"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1.0}"#, "ts"),
        (#"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1e3}"#, "ts"),
        (#"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":null}"#, "ts"),
        (event(#""value":"19.99""#), "value"),
        (event(#""value":{}"#), "value"),
        (event(#""context":[]"#), "context"),
        (event(#""context":"device=mobile""#), "context"),
    ])
    func rejectsAFieldOfTheWrongType(_ json: String, field: String) {
        let reason = rejection(json)
        #expect(reason?.code == "wrong_type", "\(json) → \(String(describing: reason))")
        #expect(reason?.field == field)
    }

    @Test(arguments: [
        (event(#""value":NaN"#), "value"), (event(#""value":Infinity"#), "value"),
        (event(#""value":-Infinity"#), "value"), (event(#""value":1e999"#), "value"),
        (event(#""value":-2.5e400"#), "value"), (event(#""context":{"age":NaN}"#), "context.age"),
        (event(#""context":{"age":1e309}"#), "context.age"), (event(#""context":{"other":-Infinity}"#), "context.other"),
        (event(#""extra":{"x":[NaN]}"#), "extra"),
    ])
    func rejectsNonFiniteNumbers(_ json: String, field: String) {
        let reason = rejection(json, keys: ["age"])
        #expect(reason?.code == "non_finite", "\(json) → \(String(describing: reason))")
        #expect(reason?.field == field)
    }

    @Test func rejectsOversizedInputWithoutScanningIt() {
        let json = exampleEvent
        let reason = rejection(json, maxBytes: json.utf8.count - 1)
        #expect(reason?.code == "oversized")
        #expect(reason?.field == nil)
        #expect(rejection(json, maxBytes: json.utf8.count) == nil)
        // Not scanned: garbage of the same size is still "oversized", not "not_json".
        #expect(rejection([UInt8](repeating: 0xFF, count: 100), maxBytes: 99)?.code == "oversized")
    }

    @Test(arguments: [#""Click""#, #""clicked""#, #""""#, #""add-to-cart""#, #""purchase ""#])
    func rejectsAnUnknownEventType(_ type: String) {
        let reason = rejection(#"{"event_id":"e","type":\#(type),"user_id":"u","item_id":"i","ts":1}"#)
        #expect(reason?.code == "unknown_type")
        #expect(reason?.field == "type")
    }

    @Test(arguments: [
        [0xFF], [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
        [0xF5, 0x80, 0x80, 0x80], [0x80], [0xC3], [0xE2, 0x82], [0xC3, 0x28],
    ] as [[UInt8]])
    func rejectsInvalidUTF8InStrings(_ bad: [UInt8]) {
        let prefix = Array(#"{"event_id":"e","type":"click","user_id":"u"#.utf8)
        let suffix = Array(#"","item_id":"i","ts":1}"#.utf8)
        let reason = rejection(prefix + bad + suffix)
        #expect(reason?.code == "invalid_utf8", "\(bad) → \(String(describing: reason))")
        // Also inside ignored fields and keys.
        #expect(rejection(Array(#"{"x":"#.utf8) + [0x22] + bad + [0x22] + Array(",\(required)}".utf8))?.code == "invalid_utf8")
        #expect(rejection([0x7B, 0x22] + bad + Array(#"":1,"#.utf8) + Array("\(required)}".utf8))?.code == "invalid_utf8")
    }

    @Test(arguments: [#"\uD800"#, #"\uDC00"#, #"\uD83Dx"#, #"\uD83D\u0041"#, #"\uDE00\uD83D"#])
    func rejectsUnpairedSurrogateEscapesAsInvalidUTF8(_ escape: String) {
        let reason = rejection(#"{"event_id":"\#(escape)","type":"click","user_id":"u","item_id":"i","ts":1}"#)
        #expect(reason?.code == "invalid_utf8", "\(escape) → \(String(describing: reason))")
    }

    @Test(arguments: ["event_id", "type", "user_id", "item_id", "ts", "context", "value"])
    func rejectsADuplicateKnownField(_ field: String) {
        let json = "{\(required),\"context\":{},\"value\":null,\"\(field)\":" + (field == "ts" ? "1" : #""e""#) + "}"
        let reason = rejection(json)
        #expect(reason?.code == "duplicate_field")
        #expect(reason?.field == field)
    }

    @Test func rejectsADuplicateExtractedContextKeyButNotAnIgnoredOne() {
        let reason = rejection(event(#""context":{"age":1,"age":2}"#), keys: ["age"])
        #expect(reason?.code == "duplicate_field")
        #expect(reason?.field == "context.age")
        #expect(rejection(event(#""context":{"zip":1,"zip":2}"#), keys: ["age"]) == nil)
        #expect(rejection(event(#""extra":1,"extra":2"#)) == nil)
    }

    @Test(arguments: [
        (#"{"event_id":"","type":"click","user_id":"u","item_id":"i","ts":1}"#, "event_id"),
        (#"{"event_id":"e","type":"click","user_id":"","item_id":"i","ts":1}"#, "user_id"),
        (#"{"event_id":"e","type":"click","user_id":"u","item_id":"","ts":1}"#, "item_id"),
    ])
    func rejectsAnEmptyIdentifier(_ json: String, field: String) {
        let reason = rejection(json)
        #expect(reason?.code == "empty_field")
        #expect(reason?.field == field)
    }

    @Test(arguments: ["x", "{}", ",", "\u{0}", "//", "]", "\u{FEFF}"])
    func rejectsDataAfterTheObject(_ tail: String) {
        let reason = rejection("{\(required)} \(tail)")
        #expect(reason?.code == "trailing_data")
        #expect(reason?.field == nil)
    }

    @Test(arguments: [
        (#""context":{"genres":{"a":"b"}}"#, "context.genres"), (#""context":{"genres":["a",1]}"#, "context.genres"),
        (#""context":{"genres":[["a"]]}"#, "context.genres"), (#""context":{"genres":[null]}"#, "context.genres"),
        (#""context":{"ignored":{}}"#, "context.ignored"), (#""context":{"ignored":[true]}"#, "context.ignored"),
    ])
    func rejectsContextValuesOtherThanScalarsOrStringArrays(_ member: String, field: String) {
        let reason = rejection(event(member), keys: ["genres"])
        #expect(reason?.code == "bad_context", "\(member) → \(String(describing: reason))")
        #expect(reason?.field == field)
    }

    @Test(arguments: ["-1", "9223372036854775808", "18446744073709551616", "100000000000000000000000"])
    func rejectsATimestampOutOfRange(_ ts: String) {
        let reason = rejection(#"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":\#(ts)}"#)
        #expect(reason?.code == "out_of_range")
        #expect(reason?.field == "ts")
    }

    @Test func rejectsUnknownFieldsNestedTooDeeply() {
        let depth = EventDecoder.maxDepth
        let ok = String(repeating: "[", count: depth - 1) + String(repeating: "]", count: depth - 1)
        #expect(rejection(event(#""deep":\#(ok)"#)) == nil)
        let deep = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(rejection(event(#""deep":\#(deep)"#))?.code == "too_deep")
        let veryDeep = String(repeating: "{\"a\":", count: 100_000)
        #expect(rejection(event(#""deep":\#(veryDeep)"#), maxBytes: .max)?.code == "too_deep")
    }

    @Test func everyStandardCodeIsCoveredAndDescribed() {
        let reason = rejection(#"{"event_id":"e","type":"click","user_id":true,"item_id":"i","ts":1}"#)
        #expect(reason?.description.hasPrefix("wrong_type [user_id]: expected a string or an integer for user_id at byte") == true)
        #expect(reason?.rejectCode == .wrongType)
        #expect(Set(RejectCode.allCases.map(\.rawValue)).count == RejectCode.allCases.count)
    }
}
