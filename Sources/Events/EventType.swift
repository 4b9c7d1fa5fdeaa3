// MARK: - EventType

/// The kind of a user interaction event (the JSON field `type`).
///
/// JSON names: `click`, `purchase`, `view`, `add_to_cart`. Any other name is rejected with ``RejectCode/unknownType``.
public enum EventType: UInt8, Sendable, CaseIterable {
    /// A click (or, in the MovieLens mapping, a rating).
    case click
    /// A conversion: the user bought the item.
    case purchase
    /// An impression or page view.
    case view
    /// The item was put into the cart.
    case addToCart

    /// The name used in JSON (`"click"`, `"purchase"`, `"view"`, `"add_to_cart"`).
    public var name: String {
        switch self {
        case .click: "click"
        case .purchase: "purchase"
        case .view: "view"
        case .addToCart: "add_to_cart"
        }
    }

    /// The event type whose JSON name is exactly `name` (UTF-8 bytes, case-sensitive), or `nil`.
    @inlinable
    public init?(name: UnsafeRawBufferPointer) {
        // Compares little-endian words of the name against the names' ASCII bytes ("view" = 0x77656976, …).
        @inline(__always) func w4(_ at: Int) -> UInt32 {
            UInt32(littleEndian: name.loadUnaligned(fromByteOffset: at, as: UInt32.self))
        }
        switch name.count {
        case 4:
            guard w4(0) == 0x7765_6976 else { return nil }  // "view"
            self = .view
        case 5:
            guard w4(0) == 0x6369_6C63, name[4] == UInt8(ascii: "k") else { return nil }  // "clic" "k"
            self = .click
        case 8:
            guard w4(0) == 0x6372_7570, w4(4) == 0x6573_6168 else { return nil }  // "purc" "hase"
            self = .purchase
        case 11:
            guard w4(0) == 0x5F64_6461, w4(4) == 0x635F_6F74, w4(7) == 0x7472_6163 else { return nil }  // "add_" "to_c" "cart"
            self = .addToCart
        default:
            return nil
        }
    }

    /// The event type whose JSON name is exactly `name`, or `nil`.
    public init?(name: String) {
        var name = name
        guard let type = name.withUTF8({ EventType(name: UnsafeRawBufferPointer($0)) }) else { return nil }
        self = type
    }
}
