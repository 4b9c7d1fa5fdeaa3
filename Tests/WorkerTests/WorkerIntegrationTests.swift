import Testing

/// `feedloop worker` end to end: the real binary as a subprocess, a real broker, no mocks.
///
/// Serialized: every test runs workers that use both cores, and some kill them at chosen moments; running them
/// side by side would make the timing (and the suite) slower, not faster. Each test has its own topics, groups
/// and temp directory; each waits with bounded timeouts and kills its subprocesses when one passes.
/// The test files extend this suite: RoundTrip, DeadLetters, CrashRecovery, ConsumerGroup, BrokerOutage.
@Suite("feedloop worker against a real broker", .serialized, .timeLimit(.minutes(6)))
struct WorkerIntegrationTests {}
