/// Where one librdkafka property came from, in order of increasing precedence: a `--kafka-config` file, a
/// `FEEDLOOP_KAFKA_*` environment variable, a `--kafka-property` argument.
public enum KafkaPropertySource: Sendable, Hashable, CustomStringConvertible {
    /// Line `line` (1-based, the first line of a continued entry) of the properties file at `path`; line 0 stands
    /// for the file as a whole (it cannot be read, is not UTF-8).
    case file(path: String, line: Int)
    /// The environment variable `variable`.
    case environment(variable: String)
    /// A `--kafka-property KEY=VALUE` argument.
    case commandLine

    /// The precedence rank: a property from a source of higher rank replaces the same property from a lower one.
    public var rank: Int {
        switch self {
        case .file: 0
        case .environment: 1
        case .commandLine: 2
        }
    }

    /// `FILE:LINE`, `FILE`, the variable's name, or `--kafka-property`.
    public var description: String {
        switch self {
        case .file(let path, let line): line > 0 ? "\(path):\(line)" : path
        case .environment(let variable): variable
        case .commandLine: "--kafka-property"
        }
    }
}
