import Events

/// Numbers at the edges of `Double` parsing (round-to-even ties, subnormals, overflow, long mantissas, exponent
/// forms): the property tests check each against Swift's `Double(_:)`, the fast-path tests feed each through both
/// decoding paths.
let hardNumbers = [
        "0", "-0", "0.0", "-0.0", "1", "9007199254740991", "9007199254740992", "9007199254740993", "0.1", "0.3",
        "1e22", "1e23", "8.98846567431158e307", "1.7976931348623157e308", "1.7976931348623158e308",
        "2.2250738585072011e-308", "2.2250738585072014e-308", "4.9406564584124654e-324", "2.4703282292062327e-324",
        "2.4703282292062328e-324", "1e-400", "123456789012345678901234567890", "0.30000000000000004",
        "9999999999999999999", "18446744073709551615", "18446744073709551616", "1E+0", "1e-0", "1.5e00010",
        "0.000000000000000000000000000001", "100000000000000000000000e-23", "4503599627370497.5",
]

// MARK: - Owned copies of decoded events (for comparisons)

/// A context value copied out of the decoder's buffers.
enum OwnedContext: Equatable, CustomStringConvertible {
    case absent, null
    case string(String)
    case number(Double)
    case bool(Bool)
    case strings([String])

    init(_ value: ContextValue) {
        switch value {
        case .absent: self = .absent
        case .null: self = .null
        case .string(let s): self = .string(String(decoding: s, as: UTF8.self))
        case .number(let x): self = .number(x)
        case .bool(let b): self = .bool(b)
        case .strings(let list): self = .strings(list.map { String(decoding: $0, as: UTF8.self) })
        }
    }

    var description: String {
        switch self {
        case .absent: "absent"
        case .null: "null"
        case .string(let s): "string(\(s.debugDescription))"
        case .number(let x): "number(\(x))"
        case .bool(let b): "bool(\(b))"
        case .strings(let l): "strings(\(l))"
        }
    }
}

/// An event copied out of an ``EventView``.
struct OwnedEvent: Equatable {
    var type: EventType
    var timestamp: Int64
    var value: Double?
    var eventID: String
    var userID: String
    var itemID: String
    var context: [OwnedContext]

    init(
        type: EventType, timestamp: Int64, value: Double?, eventID: String, userID: String, itemID: String,
        context: [OwnedContext]
    ) {
        self.type = type
        self.timestamp = timestamp
        self.value = value
        self.eventID = eventID
        self.userID = userID
        self.itemID = itemID
        self.context = context
    }

    init(_ view: EventView) {
        type = view.type
        timestamp = view.timestamp
        value = view.value
        eventID = String(decoding: view.eventID, as: UTF8.self)
        userID = String(decoding: view.userID, as: UTF8.self)
        itemID = String(decoding: view.itemID, as: UTF8.self)
        context = (0..<view.contextCount).map { OwnedContext(view.context($0)) }
    }
}

/// Decodes `bytes` and copies the result out before the buffer goes away.
func decodeOwned(_ bytes: [UInt8], decoder: inout EventDecoder) -> Result<OwnedEvent, RejectReason> {
    bytes.withUnsafeBytes { buffer in
        do throws(RejectReason) {
            return .success(OwnedEvent(try decoder.decode(buffer)))
        } catch {
            return .failure(error)
        }
    }
}

/// Decodes `json` with a fresh decoder extracting `keys`.
func decodeOwned(_ json: String, keys: [String] = [], maxBytes: Int = 65_536) -> Result<OwnedEvent, RejectReason> {
    var decoder = EventDecoder(contextKeys: keys, maxBytes: maxBytes)
    return decodeOwned(Array(json.utf8), decoder: &decoder)
}

/// The rejection of `json`, or `nil` if it decodes.
func rejection(_ json: String, keys: [String] = [], maxBytes: Int = 65_536) -> RejectReason? {
    rejection(Array(json.utf8), keys: keys, maxBytes: maxBytes)
}

/// The rejection of `bytes`, or `nil` if they decode.
func rejection(_ bytes: [UInt8], keys: [String] = [], maxBytes: Int = 65_536) -> RejectReason? {
    var decoder = EventDecoder(contextKeys: keys, maxBytes: maxBytes)
    if case .failure(let reason) = decodeOwned(bytes, decoder: &decoder) { return reason }
    return nil
}

// MARK: - SplitMix64

/// A small, seedable, deterministic generator (Steele, Lea & Flood 2014) for reproducible property tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
}

/// The standard example event used across tests.
let exampleEvent = """
    {"event_id":"e-1","type":"click","user_id":"196","item_id":"242","ts":881250949000,
     "context":{"gender":"M","age":49,"occupation":"writer","genres":["Comedy","Drama"]},"value":null}
    """
