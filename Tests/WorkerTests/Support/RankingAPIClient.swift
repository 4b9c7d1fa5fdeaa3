import Foundation

/// A keep-alive HTTP/1.1 client of the ranking API for tests: one ``RawHTTPConnection``, reopened when the server
/// closed it (after a 413, which asks the client to close). Calls block: make them inside ``offThePool(_:)``.
final class RankingAPIClient: @unchecked Sendable {
    let port: Int
    private var connection: RawHTTPConnection?

    init(port: Int) { self.port = port }

    func post(_ path: String, _ body: [UInt8]) throws -> RawHTTPResponse {
        try request(Array("POST \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
    }

    func post(_ path: String, _ body: String) throws -> RawHTTPResponse { try post(path, Array(body.utf8)) }

    func get(_ path: String) throws -> RawHTTPResponse {
        try request(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8))
    }

    private func request(_ bytes: [UInt8]) throws -> RawHTTPResponse {
        let connection = try self.connection ?? RawHTTPConnection(port: port)
        self.connection = connection
        do {
            try connection.send(bytes)
            let response = try connection.response()
            if response.headers["connection"]?.lowercased() == "close" { self.connection = nil }
            return response
        } catch {
            self.connection = nil
            throw error
        }
    }

    /// The body as a JSON object, or nil.
    static func object(_ response: RawHTTPResponse) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(response.body.utf8))) as? [String: Any]
    }
}

extension ChildProcess {
    /// The port of the worker's ranking API, from its start-up log line.
    func servePort() async throws -> Int {
        try await announcedPort(after: "ranking API on http://127.0.0.1:", what: "the ranking API address")
    }
}
