import Hummingbird
import NIOCore

/// Rejects a request whose body is larger than `maxBytes` with 413 before the handler runs, and hands the handler
/// the body collected in one buffer otherwise. Invariant: at most `maxBytes` of a request body are held in memory.
/// A declared `Content-Length` over the bound is refused without reading the body; a chunked body is read up to
/// the bound. The 413 asks the client to close (`Connection: close`); what it still sends of that body is read
/// and dropped by the server, never stored.
struct BodyLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let maxBytes: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > maxBytes {
            throw tooLarge
        }
        var request = request
        do {
            _ = try await request.collectBody(upTo: maxBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        }
        return try await next(request, context)
    }

    private var tooLarge: HTTPError {
        HTTPError(.contentTooLarge, headers: [.connection: "close"], message: "request body over \(maxBytes) bytes")
    }
}
