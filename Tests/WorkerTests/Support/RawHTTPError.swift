/// Why a raw HTTP exchange failed.
enum RawHTTPError: Error, CustomStringConvertible {
    case io(String)
    case incomplete(String)
    case malformed(String)

    var description: String {
        switch self {
        case .io(let m): "socket: \(m)"
        case .incomplete(let received): "connection ended before a whole response; received: \(received.prefix(300))"
        case .malformed(let m): "malformed response: \(m.prefix(300))"
        }
    }
}
