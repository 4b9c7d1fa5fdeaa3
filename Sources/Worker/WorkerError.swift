/// Worker failures with a clear message.
public enum WorkerError: Error, CustomStringConvertible, Sendable {
    case metrics(String)
    case kafka(String)
    case checkpoint(String)
    case configuration(String)
    /// A graceful stop could not deliver the outputs of its final checkpoint within `--shutdown-timeout`.
    case shutdownTimeout(String)
    /// A member sharing its model (`sync:`) was dropped by the group, or stood still long enough to have been: its
    /// unpublished learning may be another member's to do (see ``WorkerLoop/checkStall()``, ``WorkerLoop/noteClaims()``).
    case fenced(String)

    public var description: String {
        switch self {
        case .metrics(let m): "metrics endpoint: \(m)"
        case .kafka(let m): "kafka: \(m)"
        case .checkpoint(let m): "checkpoint: \(m)"
        case .configuration(let m): m
        case .shutdownTimeout(let m): "shutdown: \(m)"
        case .fenced(let m): "fenced: \(m)"
        }
    }
}
