import Hummingbird
import NIOCore

/// Answers every error as JSON — `{"error": "reason"}` with the error's status — whatever raised it: a handler, the
/// body limit (413), a path no route matches (404), anything unexpected (500, without details). Outermost on the
/// ranking API's router, so a client of the API always gets a JSON body it can read.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            var response = Self.json(error.status, error.body ?? Self.defaultReason(error.status))
            response.headers.append(contentsOf: error.headers.filter { $0.name != .contentType && $0.name != .contentLength })
            return response
        } catch {
            return Self.json(.internalServerError, "internal error")
        }
    }

    static func defaultReason(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 404: "no such endpoint (POST /v1/rank, GET /v1/users/{id}/recommendations)"
        case 405: "method not allowed"
        default: status.reasonPhrase.lowercased()
        }
    }

    /// `{"error": reason}` with `status`.
    static func json(_ status: HTTPResponse.Status, _ reason: String) -> Response {
        var encoder = OutputEncoder()
        encoder.raw("{\"error\":")
        encoder.string(reason)
        encoder.raw("}\n")
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: encoder.bytes)))
    }
}
