import Yams

/// A position in a parsed YAML document that knows its key path, for strict reading with precise errors.
///
/// Every mapping is read through ``fields(_:)`` which rejects unknown and duplicated keys, so a typo in a
/// pipeline file fails at start-up instead of silently using a default.
struct YAMLCursor {
    let node: Node
    let path: String
    let file: String
    /// Position of the key that led here (nicer than the value's position for "missing"/"wrong" messages).
    let keyMark: Mark?

    func error(_ message: String, at mark: Mark? = nil) -> PipelineFileError {
        let m = mark ?? node.mark ?? keyMark
        return PipelineFileError(file: file, line: m?.line ?? 0, column: m?.column ?? 0, key: path, message: message)
    }

    private func child(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// Reads this node as a mapping whose keys must all be in `allowed`; returns the fields by key.
    func fields(_ allowed: [String]) throws(PipelineFileError) -> YAMLFields {
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping with keys \(allowed.joined(separator: ", ")), got \(kindName)")
        }
        var values: [String: YAMLCursor] = [:]
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw error("keys must be plain strings", at: keyNode.mark)
            }
            let key = scalar.string
            let keyPath = child(key)
            guard allowed.contains(key) else {
                let hint = allowed.isEmpty ? "" : " (allowed: \(allowed.joined(separator: ", ")))"
                throw PipelineFileError(
                    file: file, line: keyNode.mark?.line ?? 0, column: keyNode.mark?.column ?? 0,
                    key: keyPath, message: "unknown key\(hint)")
            }
            guard values[key] == nil else {
                throw PipelineFileError(
                    file: file, line: keyNode.mark?.line ?? 0, column: keyNode.mark?.column ?? 0,
                    key: keyPath, message: "duplicated key")
            }
            values[key] = YAMLCursor(node: valueNode, path: keyPath, file: file, keyMark: keyNode.mark)
        }
        return YAMLFields(owner: self, values: values)
    }

    /// Reads this node as a sequence.
    func items() throws(PipelineFileError) -> [YAMLCursor] {
        guard case .sequence(let sequence) = node else { throw error("expected a list, got \(kindName)") }
        return sequence.enumerated().map { index, item in
            YAMLCursor(node: item, path: "\(path)[\(index)]", file: file, keyMark: item.mark)
        }
    }

    func string() throws(PipelineFileError) -> String {
        guard case .scalar(let scalar) = node, !scalar.string.isEmpty else {
            throw error("expected a non-empty string, got \(kindName)")
        }
        return scalar.string
    }

    func int(in range: ClosedRange<Int>) throws(PipelineFileError) -> Int {
        guard case .scalar = node, let value = node.int else { throw error("expected an integer, got \(kindName)") }
        guard range.contains(value) else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    func double(in range: ClosedRange<Double>) throws(PipelineFileError) -> Double {
        guard case .scalar = node, let value = node.float, value.isFinite else {
            throw error("expected a finite number, got \(kindName)")
        }
        guard range.contains(value) else {
            throw error("must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// `true` or `false` (no other spelling).
    func bool() throws(PipelineFileError) -> Bool {
        if isWord("true") { return true }
        if isWord("false") { return false }
        throw error("expected true or false, got \(kindName)")
    }

    /// Whether the value is the plain scalar `word` (the `all` / `off` spellings some keys accept besides a value).
    func isWord(_ word: String) -> Bool {
        if case .scalar(let s) = node { return s.string == word }
        return false
    }

    /// Durations: an integer with unit `ms`, `s`, `m`, `h` or `d` (`30m`, `0s`, `1500ms`).
    func durationMs() throws(PipelineFileError) -> Int64 {
        let text = try string()
        guard let ms = PipelineSpec.durationMilliseconds(text) else {
            throw error("expected a duration like 0s, 1500ms, 30m, 2h or 7d, got '\(text)'")
        }
        return ms
    }

    var kindName: String {
        switch node {
        case .scalar(let s): s.string.isEmpty ? "an empty value" : "'\(s.string)'"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        }
    }
}

/// The fields of one mapping, read at most once each.
struct YAMLFields {
    let owner: YAMLCursor
    let values: [String: YAMLCursor]

    subscript(_ key: String) -> YAMLCursor? { values[key] }

    func required(_ key: String) throws(PipelineFileError) -> YAMLCursor {
        guard let value = values[key] else {
            let name = owner.path.isEmpty ? key : "\(owner.path).\(key)"
            let mark = owner.node.mark
            throw PipelineFileError(
                file: owner.file, line: mark?.line ?? 0, column: mark?.column ?? 0,
                key: name, message: "missing required key")
        }
        return value
    }
}
