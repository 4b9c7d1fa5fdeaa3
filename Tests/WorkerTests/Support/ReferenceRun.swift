import Pipelines
import Worker

// MARK: - In-process reference

/// The pipeline run in-process over the same lines, with no Kafka: what the worker's model must equal
/// ("one pipeline, two drivers").
enum ReferenceRun {
    /// The pipeline definition as the worker runs `pipelinePath` (``WorkerOptions/onlineSpec``).
    static func workerSpec(pipelinePath: String) throws -> PipelineSpec {
        WorkerOptions(spec: try PipelineSpec.load(path: pipelinePath), brokers: "").onlineSpec
    }

    /// The model snapshot and counters after `lines` went through a fresh pipeline built as the worker builds it.
    static func run(pipelinePath: String, lines: [[UInt8]]) throws -> (snapshot: [UInt8], counters: PipelineCounters) {
        let result = try run(pipelinePath: pipelinePath, lines: lines, partitions: nil)
        return (result.model.snapshotBytes(), result.counters)
    }

    /// The same, each line applied as an event of input partition `partitions[i]` (nil: all of one partition), in
    /// the order given: a file replay of the per-partition sequences a worker reads.
    static func run(pipelinePath: String, lines: [[UInt8]], partitions: [Int32]?) throws -> Pipeline {
        var pipeline = Pipeline(spec: try workerSpec(pipelinePath: pipelinePath))
        var sink = NullSink()
        for (i, line) in lines.enumerated() {
            let index = partitions.map { pipeline.partitionIndex(topic: "events", partition: $0[i]) } ?? 0
            line.withUnsafeBytes { pipeline.process($0, partition: index, sink: &sink) }
        }
        return pipeline
    }
}
