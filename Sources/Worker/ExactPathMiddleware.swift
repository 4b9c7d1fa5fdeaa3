import Hummingbird

/// Answers 404 for a path with an empty segment (`/metrics/`, `//metrics`): Hummingbird's router skips empty
/// segments, and a route is to match only the path as written. `.` and `..` segments need nothing here: the router
/// takes them literally, so `/metrics/../..` matches no route.
struct ExactPathMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path != "/", path.hasSuffix("/") || path.contains("//") {
            throw HTTPError(.notFound)
        }
        return try await next(request, context)
    }
}
