import Events

/// The decisions of a decision log, one at a time, in file order, read in bounded memory (a batch of lines of the
/// ``LineFileReader`` at a time). A line that is not a valid decision (``DecisionParser``) is counted by reason,
/// written to the dead-letter file if any (its `detail` starts with the line number), kept among the first
/// ``firstRejections`` messages, and skipped — as replay treats a bad event line.
struct DecisionSource: ~Copyable {
    let path: String
    var reader: LineFileReader
    var parser: DecisionParser
    /// Lines of the last batch not parsed yet (copied out of the reader's buffer), with their line numbers.
    var pending: [(number: Int, bytes: [UInt8])] = []
    var next = 0
    var linesRead = 0
    var exhausted = false
    /// The parsed head, if ``head()`` parsed it and it was not taken yet; its request view is valid until the next
    /// parse, i.e. until it is taken.
    var parsed: (decision: LoggedDecision, request: EventView)?

    var rejected: UInt64 = 0
    var rejectedByReason: [String: UInt64] = [:]
    /// `path:line: reason` of the first rejected lines (at most ``maxMessages``).
    var firstRejections: [String] = []
    static let maxMessages = 5

    init(path: String, contextKeys: [String], type: EventType) throws(ReplayError) {
        self.path = path
        reader = try LineFileReader(path: path)
        parser = DecisionParser(contextKeys: contextKeys, type: type)
    }

    /// The next valid decision (parsed once, kept until ``take()``), or nil at the end of the file.
    mutating func head(deadLetters: inout DeadLetterFile?) throws(ReplayError) -> (decision: LoggedDecision, request: EventView)? {
        while parsed == nil {
            if next == pending.count {
                guard try refill() else { return nil }
            }
            let line = pending[next]
            next += 1
            let result = line.bytes.withUnsafeBytes { bytes in
                Result { () throws(RejectReason) in try parser.parse(bytes) }
            }
            switch result {
            case .success(let head): parsed = head
            case .failure(let reason): reject(reason, line: line, deadLetters: &deadLetters)
            }
        }
        return parsed
    }

    /// Drops the head (after ``head()`` returned it).
    mutating func take() { parsed = nil }

    mutating func reject(_ reason: RejectReason, line: (number: Int, bytes: [UInt8]), deadLetters: inout DeadLetterFile?) {
        rejected += 1
        rejectedByReason[reason.code, default: 0] += 1
        if firstRejections.count < Self.maxMessages { firstRejections.append("\(path):\(line.number): \(reason)") }
        let numbered = RejectReason(code: reason.code, field: reason.field, detail: "line \(line.number): \(reason.detail)")
        line.bytes.withUnsafeBytes { deadLetters?.write(numbered, input: $0) }
    }

    /// Copies the reader's next batch of lines; false at the end of the file.
    mutating func refill() throws(ReplayError) -> Bool {
        pending.removeAll(keepingCapacity: true)
        next = 0
        guard !exhausted else { return false }
        var copied: [(number: Int, bytes: [UInt8])] = []
        let first = linesRead + 1
        let more = try reader.nextBatch { lines, bytes in
            for (i, line) in lines.enumerated() { copied.append((first + i, Array(bytes[line]))) }
        }
        linesRead += copied.count
        pending = copied
        if !more { exhausted = true }
        return !pending.isEmpty
    }
}
