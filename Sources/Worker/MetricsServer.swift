#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Prometheus

/// A minimal HTTP/1.1 server for Prometheus scrapes: `GET /metrics` returns the registry's text exposition,
/// `GET /healthz` returns `ok`, or 503 with the reason when the worker loop's heartbeat says it stalled. One
/// connection at a time on its own thread; bound to 127.0.0.1 by default.
public final class MetricsServer: @unchecked Sendable {
    // @unchecked: `fd` and `thread` are set once in `start()` before the serving thread exists; `stopped` is
    // only read by the serving thread after `close()` made accept() fail.
    private let registry: PrometheusCollectorRegistry
    private let heartbeat: LoopHeartbeat?
    private var fd: Int32 = -1
    private var thread: Thread?
    /// The port actually bound (useful with port 0).
    public private(set) var port: Int = 0

    public init(registry: PrometheusCollectorRegistry, heartbeat: LoopHeartbeat? = nil) {
        self.registry = registry
        self.heartbeat = heartbeat
    }

    /// Binds and starts serving. Throws when the address cannot be bound.
    public func start(host: String, port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw WorkerError.metrics("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { throw WorkerError.metrics("bad metrics host \(host)") }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let message = String(cString: strerror(errno))
            close(fd)
            throw WorkerError.metrics("cannot listen on \(host):\(port): \(message)")
        }
        var actual = sockaddr_in()
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        let listening = fd
        let registry = self.registry
        let heartbeat = self.heartbeat
        let t = Thread { MetricsServer.serve(listening, registry, heartbeat) }
        t.name = "feedloop-metrics"
        t.start()
        thread = t
    }

    /// Stops accepting connections.
    public func stop() {
        if fd >= 0 {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
            fd = -1
        }
    }

    /// An HTTP/1.1 response that closes the connection.
    private static func response(_ status: String, contentType: String?, body: [UInt8]) -> [UInt8] {
        let type = contentType.map { "Content-Type: \($0)\r\n" } ?? ""
        return Array("HTTP/1.1 \(status)\r\n\(type)Content-Length: \(body.count)\r\nConnection: close\r\n\r\n".utf8) + body
    }

    private static func serve(_ fd: Int32, _ registry: PrometheusCollectorRegistry, _ heartbeat: LoopHeartbeat?) {
        var request = [UInt8](repeating: 0, count: 4096)
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let n = request.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            let line = n > 0 ? String(decoding: request[0..<n], as: UTF8.self).prefix { $0 != "\r" && $0 != "\n" } : ""
            let response: [UInt8]
            if line.hasPrefix("GET /metrics") {
                response = Self.response("200 OK", contentType: "text/plain; version=0.0.4", body: registry.emitToBuffer())
            } else if line.hasPrefix("GET /healthz") {
                if let reason = heartbeat?.stall() {
                    response = Self.response("503 Service Unavailable", contentType: "text/plain", body: Array((reason + "\n").utf8))
                } else {
                    response = Self.response("200 OK", contentType: "text/plain", body: Array("ok\n".utf8))
                }
            } else {
                response = Self.response("404 Not Found", contentType: nil, body: [])
            }
            var sent = 0
            while sent < response.count {
                let m = response.withUnsafeBytes { send(client, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
                if m <= 0 { break }
                sent += m
            }
            close(client)
        }
    }
}

/// Worker failures with a clear message.
public enum WorkerError: Error, CustomStringConvertible, Sendable {
    case metrics(String)
    case kafka(String)
    case checkpoint(String)
    case configuration(String)
    /// A graceful stop could not deliver the outputs of its final checkpoint within `--shutdown-timeout`.
    case shutdownTimeout(String)

    public var description: String {
        switch self {
        case .metrics(let m): "metrics endpoint: \(m)"
        case .kafka(let m): "kafka: \(m)"
        case .checkpoint(let m): "checkpoint: \(m)"
        case .configuration(let m): m
        case .shutdownTimeout(let m): "shutdown: \(m)"
        }
    }
}
