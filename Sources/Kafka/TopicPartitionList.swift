import CRdKafka

/// Conversions between Swift partition values and `rd_kafka_topic_partition_list_t`.
enum TopicPartitionList {
    typealias Pointer = UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// A new C list (caller destroys it) holding `items` with their offsets.
    static func make(_ items: [KafkaTopicPartitionOffset]) -> Pointer {
        let list = rd_kafka_topic_partition_list_new(Int32(clamping: items.count))!
        for item in items {
            let element = rd_kafka_topic_partition_list_add(list, item.topic, item.partition)!
            element.pointee.offset = item.offset.rawValue
        }
        return list
    }

    /// A new C list (caller destroys it) holding `items` with an invalid offset.
    static func make(_ items: [KafkaTopicPartition]) -> Pointer {
        make(items.map { KafkaTopicPartitionOffset($0, offset: .invalid) })
    }

    /// Runs `body` with a temporary C list of `items`.
    static func with<T>(_ items: [KafkaTopicPartitionOffset], _ body: (Pointer) throws -> T) rethrows -> T {
        let list = make(items)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return try body(list)
    }

    /// Runs `body` with a temporary C list of `items`.
    static func with<T>(_ items: [KafkaTopicPartition], _ body: (Pointer) throws -> T) rethrows -> T {
        let list = make(items)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return try body(list)
    }

    /// The elements of a C list as a buffer.
    static func elements(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> UnsafeMutableBufferPointer<rd_kafka_topic_partition_t> {
        UnsafeMutableBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
    }

    /// The partitions of a C list.
    static func partitions(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartition] {
        elements(list).map { KafkaTopicPartition(topic: String(cString: $0.topic), partition: $0.partition) }
    }

    /// The partitions and offsets of a C list.
    static func offsets(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>) -> [KafkaTopicPartitionOffset] {
        elements(list).map {
            KafkaTopicPartitionOffset(topic: String(cString: $0.topic), partition: $0.partition, offset: KafkaOffset($0.offset))
        }
    }

    /// Throws the first per-partition error of a C list, naming the partition.
    static func checkPartitionErrors(_ list: UnsafePointer<rd_kafka_topic_partition_list_t>, _ context: String) throws {
        for element in elements(list) where element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            let where_ = "\(String(cString: element.topic))[\(element.partition)]"
            throw KafkaError(element.err, "\(context) \(where_): \(String(cString: rd_kafka_err2str(element.err)))")
        }
    }
}
