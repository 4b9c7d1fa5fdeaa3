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
        var pipeline = Pipeline(spec: try workerSpec(pipelinePath: pipelinePath))
        var sink = NullSink()
        for line in lines {
            line.withUnsafeBytes { pipeline.process($0, sink: &sink) }
        }
        return (pipeline.model.snapshotBytes(), pipeline.counters)
    }
}
