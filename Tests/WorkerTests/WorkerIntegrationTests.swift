import Testing

/// `feedloop worker` end to end: the real binary as a subprocess, a real broker, no mocks.
///
/// Serialized: every test runs workers that use both cores, and some kill them at chosen moments; running them
/// side by side would make the timing (and the suite) slower, not faster. Each test has its own topics, groups
/// and temp directory; each waits with bounded timeouts and kills its subprocesses when one passes.
/// The test files extend this suite: RoundTrip, DeadLetters, CrashRecovery, Faults, Secrets, MetricsEndpoint,
/// Vector, PartitionEventTime, ReplayTopicRange.
@Suite("feedloop worker against a real broker", .serialized, .timeLimit(.minutes(6)))
struct WorkerIntegrationTests {}

/// Several `feedloop worker` processes in one consumer group, end to end: exactly-once across rebalances, the
/// model shared through the increments topic, a frozen broker. Serialized for the same reasons as
/// ``WorkerIntegrationTests``; a suite of its own so that `scripts/test` can run it in a process of its own,
/// beside the other, against a broker of its own.
/// The test files extend this suite: ConsumerGroup, GroupSync, BrokerOutage.
@Suite("feedloop worker groups against a real broker", .serialized, .timeLimit(.minutes(6)))
struct WorkerGroupTests {}
