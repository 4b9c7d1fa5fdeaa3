import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Tansu broker of one test's own (memory storage, a free port), so the test can freeze it (SIGSTOP) without
/// freezing the shared broker other suites use. Stopped by ``stop()`` or, at the latest, when released.
final class DedicatedBroker {
    let port: Int
    let process: ChildProcess

    var address: String { "127.0.0.1:\(port)" }

    /// Starts Tansu (`FEEDLOOP_TANSU`) and waits until it accepts connections.
    init(logPath: String) async throws {
        let tansu = try WorkerTestEnvironment.tansu()
        try WorkerTestEnvironment.checkRuntime()
        try FileManager.default.createDirectory(
            atPath: (logPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        port = try Self.freePort()
        let url = "tcp://127.0.0.1:\(port)"
        process = try ChildProcess(
            name: "tansu :\(port)", executable: tansu,
            arguments: ["broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
            logPath: logPath)
        let port = self.port
        try await waitUntil("Tansu to accept connections on \(port)", timeout: .seconds(30)) {
            guard process.isRunning else {
                throw WorkerTestEnvironment.Invalid(description: "Tansu exited at start-up:\n\(process.logTail())")
            }
            return Self.accepts(port: port)
        }
    }

    /// Freezes the broker (SIGSTOP): connections stay open, nothing answers.
    func suspend() { process.send(SIGSTOP) }

    /// Thaws it (SIGCONT).
    func resume() { process.send(SIGCONT) }

    /// Kills it (it keeps nothing: memory storage).
    func stop() { process.kill() }

    // MARK: Sockets

    /// A port nobody listens on right now (bound to port 0 and released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw WorkerTestEnvironment.Invalid(description: "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw WorkerTestEnvironment.Invalid(description: "bind() failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw WorkerTestEnvironment.Invalid(description: "getsockname() failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}
