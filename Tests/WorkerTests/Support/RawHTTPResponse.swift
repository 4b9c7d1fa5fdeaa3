import Foundation

/// A response as read off the wire.
struct RawHTTPResponse {
    var status: Int
    /// Header names lowercased.
    var headers: [String: String]
    var body: String

    /// Parses one complete response at the start of `bytes`: the response and the bytes it took, or nil when more
    /// bytes are needed.
    static func parse(_ bytes: [UInt8]) throws -> (RawHTTPResponse, Int)? {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        guard let headEnd = bytes.firstRange(of: separator)?.upperBound else { return nil }
        let head = String(decoding: bytes[..<headEnd], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1."),
            let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
        else { throw RawHTTPError.malformed(head) }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw RawHTTPError.malformed(head) }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        if let length = headers["content-length"].flatMap({ Int($0) }) {
            guard bytes.count >= headEnd + length else { return nil }
            let body = String(decoding: bytes[headEnd..<(headEnd + length)], as: UTF8.self)
            return (RawHTTPResponse(status: status, headers: headers, body: body), headEnd + length)
        }
        guard headers["transfer-encoding"]?.lowercased() == "chunked" else {
            throw RawHTTPError.malformed("neither Content-Length nor chunked: \(head)")
        }
        var body: [UInt8] = []
        var at = headEnd
        while true {
            guard let lineEnd = bytes[at...].firstRange(of: Array("\r\n".utf8)) else { return nil }
            let sizeText = String(decoding: bytes[at..<lineEnd.lowerBound], as: UTF8.self).prefix { $0 != ";" }
            guard let size = Int(sizeText, radix: 16) else { throw RawHTTPError.malformed("chunk size \(sizeText)") }
            let dataStart = lineEnd.upperBound
            guard bytes.count >= dataStart + size + 2 else { return nil }
            if size == 0 {
                return (RawHTTPResponse(status: status, headers: headers, body: String(decoding: body, as: UTF8.self)), dataStart + 2)
            }
            body += bytes[dataStart..<(dataStart + size)]
            at = dataStart + size + 2
        }
    }
}
