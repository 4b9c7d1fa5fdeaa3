#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - FileError

/// A failed system call on a file, with the operation, the path and `errno`.
public struct FileError: Error, Equatable, CustomStringConvertible {
    /// The operation that failed, e.g. `"open"`, `"fsync"`, `"rename"`.
    public var operation: String
    /// The path it was applied to.
    public var path: String
    /// The `errno` value.
    public var code: Int32

    /// Creates an error.
    public init(operation: String, path: String, code: Int32) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    /// `"<operation> <path>: <strerror>"`.
    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(code))) (errno \(code))"
    }
}
