import Kafka
import Logging
import Pipelines

/// The rankings topic's partitioning. A worker that learns from rankings (`serving.learn_from_rankings`) joins a
/// user's decisions with the user's rewards in one member's label join, so the topic must be co-partitioned with
/// the event topics — as Kafka Streams requires of a join's inputs: the same number of partitions, the same key
/// (the user id: the ranking API keys each decision by it, as `feedloop produce` keys events) and the same
/// partitioner (librdkafka's default `consistent_random`, a CRC-32 of the key, for both producers here; a client
/// with another default — Java's murmur2 — must be set to match). Then partition n of both holds the same users,
/// and the group's assignment — the default `range`, which deals each topic's partitions out in the same order —
/// gives both to one member (a `partition.assignment.strategy` such as `roundrobin` or `cooperative-sticky` does
/// not promise that).
/// Without learning from rankings the topic is a plain output with 1 partition.
enum DecisionLogTopic {
    /// The partition count to create the rankings topic with: the first event topic's when learning from rankings
    /// (1 if that topic does not exist yet, with a warning), else 1. Warns when an existing rankings topic's count
    /// differs from the event topic's (rewards of a user would then reach a member without the user's decisions
    /// and be counted as unknown rankings).
    static func partitions(admin: KafkaAdmin, spec: PipelineSpec, logger: Logger) -> Int32 {
        guard spec.serving.learnFromRankings, let events = spec.inputTopics.first else { return 1 }
        guard let count = try? admin.describeTopic(events).partitionCount, count > 0 else {
            logger.warning("learn_from_rankings: event topic \(events) not found; the rankings topic gets 1 partition (it must have as many as \(events))")
            return 1
        }
        if let existing = try? admin.describeTopic(spec.serving.rankingsTopic).partitionCount, existing != count {
            logger.warning(
                "learn_from_rankings: \(spec.serving.rankingsTopic) has \(existing) partitions, \(events) \(count): they are not co-partitioned, rewards of a user may reach a member without the user's rankings (counted in rewards_unknown_ranking)")
        }
        return Int32(count)
    }
}
