import Foundation

/// A range of a Kafka topic to replay: `[from, to)` on every partition. The replay itself reads Kafka, so it lives
/// with the CLI (`Sources/feedloop/KafkaRangeReplay.swift`); this target knows no Kafka client.
public struct KafkaRange: Sendable {
    /// One end of the range.
    public enum Bound: Sendable, Equatable {
        case beginning
        /// The end of each partition when the replay starts (the high watermark of its first fetch).
        case end
        /// An offset (the same on every partition; most useful with one partition).
        case offset(Int64)
        /// Event-append time in ms since the epoch (Kafka message timestamps, ListOffsets by time).
        case timestamp(Int64)

        /// Parses `beginning`, `end`, an offset (`1234`), or a timestamp (`ts:1700000000000` in ms, or ISO-8601
        /// like `2024-05-01T12:00:00Z`).
        public init(parsing text: String) throws(ReplayError) {
            switch text {
            case "beginning", "earliest": self = .beginning
            case "end", "latest": self = .end
            default:
                if let n = Int64(text), n >= 0 {
                    self = .offset(n)
                } else if text.hasPrefix("ts:"), let ms = Int64(text.dropFirst(3)), ms >= 0 {
                    self = .timestamp(ms)
                } else if let date = ISO8601DateFormatter().date(from: text) {
                    self = .timestamp(Int64(date.timeIntervalSince1970 * 1000))
                } else {
                    throw .usage("bad range bound '\(text)': use beginning, end, an offset, ts:MILLISECONDS or an ISO-8601 time")
                }
            }
        }
    }

    public var topic: String
    public var from: Bound
    public var to: Bound
    /// Stop short (with a warning) after this long without messages before every partition reached its end.
    public var idleSeconds: Double

    public init(topic: String, from: Bound, to: Bound, idleSeconds: Double = 3) {
        self.topic = topic
        self.from = from
        self.to = to
        self.idleSeconds = idleSeconds
    }
}
