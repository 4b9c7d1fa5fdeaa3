#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Pipelines

/// The ranking an event refers to: its top-level `"ranking_id"` (a click, add-to-cart or purchase on an item a
/// ranking showed; issue 14, item 4). The event decoder does not read the key, so replay finds it in the event's
/// line: a byte search for `"ranking_id"`, then, only in lines that have it, a scan of the top-level keys
/// (``DecisionScanner``; the bytes may also sit in a nested object or a string).
enum RankingReference: Equatable {
    /// No top-level `ranking_id`.
    case none
    case ranking(String)
    /// A top-level `ranking_id` that is not a non-empty string.
    case malformed

    static let key = Array(#""ranking_id""#.utf8)

    /// The reference in `line`, a JSON object the event decoder accepted.
    static func find(in line: UnsafeRawBufferPointer) -> RankingReference {
        guard contains(key, in: line) else { return .none }
        guard let value = DecisionScanner.topLevelString("ranking_id", in: line) else { return .none }
        guard let id = value, !id.isEmpty else { return .malformed }
        return .ranking(id)
    }

    /// Whether `needle` occurs in `haystack` (`memchr` to each candidate first byte, then a compare).
    static func contains(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Bool {
        guard let base = haystack.baseAddress, !needle.isEmpty else { return false }
        var i = 0
        while haystack.count - i >= needle.count, let p = memchr(base + i, Int32(needle[0]), haystack.count - i - needle.count + 1) {
            let at = base.distance(to: UnsafeRawPointer(p))
            if memcmp(base + at, needle, needle.count) == 0 { return true }
            i = at + 1
        }
        return false
    }
}
