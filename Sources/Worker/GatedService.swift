import ServiceLifecycle

/// Runs `service` only once `gate` yields: for a service that must not start before another is ready. The worker
/// waits for its HTTP server to listen, so a metrics port in use fails the process before any work is done.
///
/// Invariant: `service` runs at most once, and never after the group began shutting down gracefully or `gate`
/// ended without a value — `run()` then returns at once without running it.
public struct GatedService<Wrapped: Service>: Service, CustomStringConvertible {
    private let gate: AsyncStream<Void>
    private let service: Wrapped

    public init(_ service: Wrapped, after gate: AsyncStream<Void>) {
        self.service = service
        self.gate = gate
    }

    public var description: String { "\(service)" }

    public func run() async throws {
        let gate = self.gate
        let opened = await cancelWhenGracefulShutdown { await gate.first { _ in true } != nil }
        guard opened else { return }
        try await service.run()
    }
}
