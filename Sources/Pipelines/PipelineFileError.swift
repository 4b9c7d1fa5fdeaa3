/// A pipeline file that cannot be used: names the file, line, column and key.
///
/// `description` reads like a compiler diagnostic: `pipelines/x.yaml:12:5: features.bits: must be 1...30, got 40`.
public struct PipelineFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Path (or label) of the file.
    public var file: String
    /// 1-based line, 0 when unknown.
    public var line: Int
    /// 1-based column, 0 when unknown.
    public var column: Int
    /// Dotted key path, e.g. `features.namespaces[2].field`.
    public var key: String
    /// What is wrong and what is expected.
    public var message: String

    public init(file: String, line: Int, column: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.column = column
        self.key = key
        self.message = message
    }

    public var description: String {
        let place = line > 0 ? "\(file):\(line):\(column)" : file
        return key.isEmpty ? "\(place): \(message)" : "\(place): \(key): \(message)"
    }
}
