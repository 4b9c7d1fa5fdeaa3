import Events
import Foundation
import Testing

// MARK: - Property tests

@Suite("EventDecoder properties")
struct EventDecoderPropertyTests {
    static let keys = ["gender", "age", "occupation", "genres", "flag"]

    @Test(arguments: 0..<8 as Range<UInt64>)
    func randomValidEventsDecodeToTheirGeneratedValues(seed: UInt64) {
        var generator = EventGenerator(seed: 0xFEED_0000 + seed, keys: Self.keys)
        var decoder = EventDecoder(contextKeys: Self.keys)
        for _ in 0..<500 {
            let (json, expected) = generator.event()
            let result = decodeOwned(Array(json.utf8), decoder: &decoder)
            #expect(result == .success(expected), "\(json)")
            if result != .success(expected) { return }
        }
    }

    @Test(arguments: 0..<4 as Range<UInt64>)
    func everyTruncationOfAValidEventIsRejectedUntilTheClosingBrace(seed: UInt64) {
        var generator = EventGenerator(seed: 0x7A0C_0000 + seed, keys: Self.keys)
        var decoder = EventDecoder(contextKeys: Self.keys)
        for _ in 0..<40 {
            let bytes = Array(generator.event().json.utf8)
            let closing = bytes.lastIndex(of: UInt8(ascii: "}"))!
            for length in 0...bytes.count {
                let result = decodeOwned(Array(bytes[..<length]), decoder: &decoder)
                if length <= closing {
                    guard case .failure = result else {
                        Issue.record("prefix of \(length) bytes was accepted: \(String(decoding: bytes[..<length], as: UTF8.self))")
                        return
                    }
                } else {
                    #expect(throws: Never.self) { try result.get() }
                }
            }
        }
    }

    /// Bytes that tend to break JSON in interesting ways.
    static let garbage: [UInt8] = Array("\"\\{}[],:0-+.eE nult \u{0}\t\n".utf8) + [0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xFF]

    @Test(arguments: 0..<4 as Range<UInt64>)
    func randomlyMutatedEventsEitherDecodeValidlyOrAreRejected(seed: UInt64) throws {
        var generator = EventGenerator(seed: 0x0BAD_0000 + seed, keys: Self.keys)
        var rng = SplitMix64(seed: 0x5EED_0000 + seed)
        var decoder = EventDecoder(contextKeys: Self.keys)
        var accepted = 0
        var rejectedCodes: Set<String> = []
        for _ in 0..<3000 {
            var bytes = Array(generator.event().json.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
                case 1: bytes[at] = Self.garbage.randomElement(using: &rng)!
                case 2: bytes.insert(Self.garbage.randomElement(using: &rng)!, at: at)
                default: bytes.remove(at: at)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            let outcome: Result<Bool, RejectReason> = bytes.withUnsafeBytes { buffer in
                do throws(RejectReason) {
                    let view = try decoder.decode(buffer)
                    // Every span of an accepted event is valid UTF-8 and matches the owned copy.
                    let spans = [view.eventID, view.userID, view.itemID]
                    var valid = spans.allSatisfy { String(validating: $0, as: UTF8.self) != nil && !$0.isEmpty }
                    for slot in 0..<view.contextCount {
                        switch view.context(slot) {
                        case .string(let s): valid = valid && String(validating: s, as: UTF8.self) != nil
                        case .strings(let list): valid = valid && list.allSatisfy { String(validating: $0, as: UTF8.self) != nil }
                        case .number(let x): valid = valid && x.isFinite
                        default: break
                        }
                    }
                    if let v = view.value { valid = valid && v.isFinite }
                    return .success(valid && view.timestamp >= 0)
                } catch {
                    return .failure(error)
                }
            }
            switch outcome {
            case .success(let valid):
                accepted += 1
                #expect(valid, "\(String(decoding: bytes, as: UTF8.self))")
                // An independent parser must agree that what we accepted is JSON.
                let parsed = try? JSONSerialization.jsonObject(with: Data(bytes))
                #expect(parsed is [String: Any], "accepted, but Foundation disagrees: \(String(decoding: bytes, as: UTF8.self).debugDescription)")
            case .failure(let reason):
                #expect(RejectCode(rawValue: reason.code) != nil)
                #expect(!reason.detail.isEmpty)
                rejectedCodes.insert(reason.code)
            }
        }
        // The mutations really do exercise both outcomes and several reasons.
        #expect(accepted > 0)
        #expect(rejectedCodes.count >= 4, "\(rejectedCodes)")
    }

    @Test(arguments: 0..<4 as Range<UInt64>)
    func numbersParseExactlyLikeSwiftsDoubleInit(seed: UInt64) {
        var rng = SplitMix64(seed: 0xD0_0B1E + seed)
        var decoder = EventDecoder()
        for i in 0..<25_000 {
            let text: String
            if i % 3 == 0 {
                var d: Double
                repeat { d = Double(bitPattern: rng.next()) } while !d.isFinite
                text = "\(d)"
            } else {
                text = EventGenerator.numberText(using: &rng)
            }
            let json = #"{"event_id":"e","type":"purchase","user_id":"u","item_id":"i","ts":0,"value":\#(text)}"#
            let expected = Double(text)!
            switch decodeOwned(Array(json.utf8), decoder: &decoder) {
            case .success(let event):
                #expect(expected.isFinite)
                #expect(event.value?.bitPattern == expected.bitPattern, "\(text): \(String(describing: event.value)) ≠ \(expected)")
                if event.value?.bitPattern != expected.bitPattern { return }
            case .failure(let reason):
                #expect(!expected.isFinite && reason.code == "non_finite", "\(text) → \(reason)")
                if expected.isFinite { return }
            }
        }
    }

    @Test(arguments: hardNumbers)
    func hardNumbersParseExactlyLikeSwiftsDoubleInit(_ text: String) throws {
        let json = #"{"event_id":"e","type":"purchase","user_id":"u","item_id":"i","ts":0,"value":\#(text)}"#
        let value = try decodeOwned(json).get().value
        #expect(value?.bitPattern == Double(text)!.bitPattern)
    }
}
