import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection to 127.0.0.1 on plain sockets, for HTTP tests that must control the bytes on the wire: each
/// `send` is one write with Nagle off (so a request split across sends leaves in separate segments), and responses
/// are read and framed by ``RawHTTPResponse``. Every read and write gives up after `timeout`. Calls block: against
/// an in-process server make them inside ``offThePool(_:)``.
///
/// @unchecked Sendable: used by one thread at a time (a test hands it from one blocking step to the next).
final class RawHTTPConnection: @unchecked Sendable {
    let fd: Int32
    /// Bytes received and not yet returned as a response.
    private var pending: [UInt8] = []

    init(port: Int, timeout: Duration = .seconds(10)) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw RawHTTPError.io("socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let seconds = timeout.components.seconds
        var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if connected != 0 {
            // No close here: every stored property is set, so the throw runs deinit, which closes the socket. A
            // second close would close whatever descriptor the process opened with that number in between (a
            // server socket of another test: NIO then failed with EBADF in getsockname and stopped the run).
            throw RawHTTPError.io("connect to 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// One write of `text` (all of it, or throws).
    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// One write of `bytes` (all of it, or throws).
    func send(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw RawHTTPError.io("send: \(n < 0 ? String(cString: strerror(errno)) : "closed")") }
            sent += n
        }
    }

    /// The next response on this connection; throws when the connection closes or stays silent before it is whole.
    func response() throws -> RawHTTPResponse {
        while true {
            if let (response, used) = try RawHTTPResponse.parse(pending) {
                pending.removeFirst(used)
                return response
            }
            guard try receive() else {
                throw RawHTTPError.incomplete(String(decoding: pending, as: UTF8.self))
            }
        }
    }

    /// Reads until the server closes the connection (or `timeout` passes: then false). Returns whether it closed,
    /// and what came before.
    func readUntilClosed() -> (closed: Bool, received: [UInt8]) {
        while true {
            do {
                if try !receive() { return (true, pending) }
            } catch {
                return (false, pending)
            }
        }
    }

    /// One read into `pending`: true when bytes came, false at end of stream; throws on timeout or error.
    private func receive() throws -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n > 0 {
            pending += buffer[0..<n]
            return true
        }
        if n == 0 || errno == ECONNRESET { return false }
        throw RawHTTPError.io(errno == EAGAIN || errno == EWOULDBLOCK ? "read timed out" : String(cString: strerror(errno)))
    }
}
