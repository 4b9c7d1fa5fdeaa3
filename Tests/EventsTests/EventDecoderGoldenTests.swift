import Events
import Testing

// MARK: - Golden decoding

@Suite("EventDecoder golden inputs")
struct EventDecoderGoldenTests {
    @Test func decodesTheDesignExampleWithItsContext() throws {
        let event = try decodeOwned(exampleEvent, keys: ["gender", "age", "occupation", "genres", "device"]).get()
        #expect(event == OwnedEvent(
            type: .click, timestamp: 881_250_949_000, value: nil, eventID: "e-1", userID: "196", itemID: "242",
            context: [.string("M"), .number(49), .string("writer"), .strings(["Comedy", "Drama"]), .absent]))
    }

    @Test func contextSlotsFollowTheRequestedKeyOrder() throws {
        let event = try decodeOwned(exampleEvent, keys: ["genres", "gender"]).get()
        #expect(event.context == [.strings(["Comedy", "Drama"]), .string("M")])
        #expect(EventDecoder(contextKeys: ["genres", "gender"]).slot(forContextKey: "gender") == 1)
        #expect(EventDecoder(contextKeys: ["genres", "gender"]).contextKeys == ["genres", "gender"])
    }

    @Test func spansOfUnescapedStringsPointIntoTheInput() throws {
        let bytes = Array(exampleEvent.utf8)
        var decoder = EventDecoder()
        try bytes.withUnsafeBytes { buffer in
            let view = try decoder.decode(buffer)
            let base = buffer.baseAddress!
            #expect(view.userID.baseAddress! >= base && view.userID.baseAddress! < base + buffer.count)
            #expect(Array(view.userID) == Array("196".utf8))
        }
    }

    @Test func decodesEveryEventTypeByItsJSONName() throws {
        for type in EventType.allCases {
            let json = #"{"event_id":"x","type":"\#(type.name)","user_id":"u","item_id":"i","ts":0}"#
            #expect(try decodeOwned(json).get().type == type)
            #expect(EventType(name: type.name) == type)
        }
        #expect(EventType.addToCart.name == "add_to_cart")
        #expect(EventType(name: "Click") == nil)
        #expect(EventType(name: "clicks") == nil)
        #expect(EventType(name: "") == nil)
    }

    @Test func unescapesEveryShortEscapeAndUnicodeEscapes() throws {
        let json = #"{"event_id":"a\"b\\c\/d\be\ff\ng\rh\ti","type":"view","user_id":"\u00e9\u4E2D\uD83D\uDE00","item_id":"x\u0000y","ts":1}"#
        let event = try decodeOwned(json).get()
        #expect(event.eventID == "a\"b\\c/d\u{08}e\u{0C}f\ng\rh\ti")
        #expect(event.userID == "é中😀")
        #expect(event.itemID == "x\u{0}y")
    }

    @Test func acceptsRawMultiByteUTF8() throws {
        let event = try decodeOwned(#"{"event_id":"ü-€-𝄞","type":"view","user_id":"ß","item_id":"日本","ts":5}"#).get()
        #expect(event.eventID == "ü-€-𝄞")
        #expect(event.userID == "ß")
        #expect(event.itemID == "日本")
    }

    @Test func unescapesContextKeysAndValues() throws {
        let json = #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"g\u0065nres":["Sci\u002dFi","Film-Noir"],"occupation":"a\nb"}}"#
        let event = try decodeOwned(json, keys: ["genres", "occupation"]).get()
        #expect(event.context == [.strings(["Sci-Fi", "Film-Noir"]), .string("a\nb")])
    }

    @Test func recognisesEscapedTopLevelKeys() throws {
        let json = #"{"event_\u0069d":"e","\u0074ype":"purchase","user_id":"u","item_id":"i","t\u0073":7}"#
        let event = try decodeOwned(json).get()
        #expect(event.type == .purchase)
        #expect(event.timestamp == 7)
    }

    @Test func acceptsIntegerIDsAsTheirDigits() throws {
        let event = try decodeOwned(#"{"event_id":"e","type":"click","user_id":196,"item_id":-0,"ts":0}"#).get()
        #expect(event.userID == "196")
        #expect(event.itemID == "-0")
    }

    @Test func toleratesWhitespaceEverywhereJSONAllowsIt() throws {
        let json = " \n\t\r{ \"event_id\" : \"e\" ,\n\"type\"\t:\"view\" , \"user_id\":\"u\",\"item_id\":\"i\" , \"ts\" : 12 ,"
            + " \"context\" : { \"a\" : [ \"x\" , \"y\" ] , \"b\" : true } , \"value\" : 2.5 } \r\n "
        let event = try decodeOwned(json, keys: ["a", "b"]).get()
        #expect(event.context == [.strings(["x", "y"]), .bool(true)])
        #expect(event.value == 2.5)
        #expect(event.timestamp == 12)
    }

    @Test func decodesAllContextValueKinds() throws {
        let json = #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"s":"x","n":-1.5e2,"t":true,"f":false,"z":null,"a":[],"other":{"#
            + #""ignored":1}}}"#
        #expect(rejection(json, keys: ["s"])?.code == "bad_context")  // nested objects are not allowed, even ignored
        let ok = #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"s":"x","n":-1.5e2,"t":true,"f":false,"z":null,"a":[],"other":["q"],"o2":7}}"#
        let event = try decodeOwned(ok, keys: ["s", "n", "t", "f", "z", "a", "missing"]).get()
        #expect(event.context == [.string("x"), .number(-150), .bool(true), .bool(false), .null, .strings([]), .absent])
    }

    @Test func valueIsOptionalNullableAndNumeric() throws {
        let base = #""event_id":"e","type":"purchase","user_id":"u","item_id":"i","ts":1"#
        #expect(try decodeOwned("{\(base)}").get().value == nil)
        #expect(try decodeOwned("{\(base),\"value\":null}").get().value == nil)
        #expect(try decodeOwned("{\(base),\"value\":19.99}").get().value == 19.99)
        #expect(try decodeOwned("{\(base),\"value\":-0}").get().value == 0)
        #expect(try decodeOwned("{\(base),\"value\":1E+2}").get().value == 100)
    }

    @Test func contextMayBeNullOrEmpty() throws {
        let base = #""event_id":"e","type":"view","user_id":"u","item_id":"i","ts":1"#
        #expect(try decodeOwned("{\(base),\"context\":null}", keys: ["k"]).get().context == [.absent])
        #expect(try decodeOwned("{\(base),\"context\":{}}", keys: ["k"]).get().context == [.absent])
    }

    @Test func ignoresWellFormedUnknownTopLevelFields() throws {
        let json = #"{"v":2,"event_id":"e","extra":{"a":[1,2.5e-3,{"b":null}],"c":"\u00e9"},"type":"view","user_id":"u","item_id":"i","ts":3,"z":[],"y":{},"x":false}"#
        let event = try decodeOwned(json).get()
        #expect(event.eventID == "e")
        #expect(event.timestamp == 3)
    }

    @Test func acceptsTheLargestTimestamp() throws {
        let json = #"{"event_id":"e","type":"view","user_id":"u","item_id":"i","ts":9223372036854775807}"#
        #expect(try decodeOwned(json).get().timestamp == Int64.max)
    }

    @Test func reusesOneDecoderAcrossEventsOfDifferentShapes() throws {
        var decoder = EventDecoder(contextKeys: ["genres", "age"])
        let a = #"{"event_id":"a","type":"click","user_id":"1","item_id":"2","ts":1,"context":{"genres":["x\ty","z"],"age":3}}"#
        let b = #"{"event_id":"b","type":"view","user_id":"1","item_id":"2","ts":2}"#
        let c = #"{"event_id":"c\n","type":"view","user_id":"1","item_id":"2","ts":2,"context":{"genres":["only"]}}"#
        #expect(try decodeOwned(Array(a.utf8), decoder: &decoder).get().context == [.strings(["x\ty", "z"]), .number(3)])
        #expect(try decodeOwned(Array(b.utf8), decoder: &decoder).get().context == [.absent, .absent])
        #expect(rejection("{") != nil)
        #expect(try decodeOwned(Array(c.utf8), decoder: &decoder).get().context == [.strings(["only"]), .absent])
    }

    @Test func copiesOfADecoderAreIndependent() throws {
        var first = EventDecoder(contextKeys: ["genres"])
        let a = Array(#"{"event_id":"a","type":"click","user_id":"1","item_id":"2","ts":1,"context":{"genres":["p\"q"]}}"#.utf8)
        let b = Array(#"{"event_id":"b","type":"click","user_id":"1","item_id":"2","ts":1,"context":{"genres":["r\"s"]}}"#.utf8)
        try a.withUnsafeBytes { bufferA in
            try b.withUnsafeBytes { bufferB in
                let viewA = try first.decode(bufferA)
                var second = first
                let viewB = try second.decode(bufferB)
                #expect(OwnedEvent(viewA).context == [.strings(["p\"q"])])
                #expect(OwnedEvent(viewB).context == [.strings(["r\"s"])])
            }
        }
    }

    @Test func manyArrayStringsGrowTheSpanBuffer() throws {
        let names = (0..<500).map { "g\($0)\\n" }
        let list = names.map { "\"\($0)\"" }.joined(separator: ",")
        let json = #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"genres":["#
            + list + "]}}"
        let event = try decodeOwned(json, keys: ["genres"]).get()
        #expect(event.context == [.strings((0..<500).map { "g\($0)\n" })])
    }
}
