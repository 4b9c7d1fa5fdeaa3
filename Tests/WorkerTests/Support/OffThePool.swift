import Foundation

/// Runs blocking work (socket calls) on a thread of its own and awaits its result. An in-process server's
/// connection tasks run on Swift concurrency's cooperative pool (one thread per core); a test that blocked those
/// threads in `recv` would be waiting on a server it keeps from running.
func offThePool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try work() }) }
        thread.name = "test-blocking-io"
        thread.start()
    }
}
