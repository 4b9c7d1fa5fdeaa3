/// A topic as the cluster metadata describes it.
public struct KafkaTopicDescription: Hashable, Sendable {
    /// One partition of the topic.
    public struct Partition: Hashable, Sendable {
        /// Partition number.
        public var id: Int32
        /// Broker id of the leader (-1 when none).
        public var leader: Int32
        /// Broker ids of the replicas.
        public var replicas: [Int32]
        /// Broker ids of the in-sync replicas.
        public var inSyncReplicas: [Int32]

        /// Creates a partition description.
        public init(id: Int32, leader: Int32, replicas: [Int32], inSyncReplicas: [Int32]) {
            self.id = id
            self.leader = leader
            self.replicas = replicas
            self.inSyncReplicas = inSyncReplicas
        }
    }

    /// Topic name.
    public var name: String
    /// Partitions, ordered by id.
    public var partitions: [Partition]

    /// Creates a topic description.
    public init(name: String, partitions: [Partition]) {
        self.name = name
        self.partitions = partitions
    }

    /// Number of partitions.
    public var partitionCount: Int { partitions.count }
}
