import Events
import Pipelines

// Replaying a stream whose messages arrive one by one from outside (a Kafka topic range read by the CLI): the
// same step as a file replay, with each input partition's windows closing by its own event time, as in the worker.

extension Replay {
    /// Feeds one message of input partition `partition` of `topic` to every pipeline; rejections of the first
    /// pipeline go to `sink` (its dead letters). Several pipelines share its decoding (once per decoding group, as
    /// in a file replay).
    public mutating func feed(message value: UnsafeRawBufferPointer, topic: String, partition: Int32, sink: inout ReplaySink) {
        if pipelines.count == 1 {
            let index = pipelines[0].partitionIndex(topic: topic, partition: partition)
            pipelines[0].process(value, partition: index, sink: &sink)
            events &+= 1
            return
        }
        for batch in decodings {
            batch.removeAll()
            batch.append(value)
        }
        var nulls = NullSink()
        for p in pipelines.indices {
            // Each partition's windows close by its own event time, as in the worker.
            let index = pipelines[p].partitionIndex(topic: topic, partition: partition)
            let batch = decodings[decodingOf[p]]
            if p == 0 {
                pipelines[p].process(batch.entries[0], of: batch, input: value, partition: index, sink: &sink)
            } else {
                pipelines[p].process(batch.entries[0], of: batch, input: value, partition: index, sink: &nulls)
            }
        }
        events &+= 1
    }

    /// Ends a stream replay: every window still open closes, and each pipeline is charged `seconds` (one pass feeds
    /// every pipeline, so each is charged the whole wall time, the consumer's included).
    public mutating func finishStream(seconds: Double) {
        var nulls = NullSink()
        for p in pipelines.indices { pipelines[p].finish(sink: &nulls) }
        for p in stepSeconds.indices { stepSeconds[p] = max(seconds, 1e-9) }
        readSeconds = 0  // in the wall time already (a reading thread's busy time would count it twice)
        elapsedSeconds = seconds
    }
}

/// The sink of a replay's first pipeline: its rejected inputs go to the dead-letter file, if any.
public struct ReplaySink: PipelineSink {
    public var deadLetters: DeadLetterFile?
    public init(deadLetters: DeadLetterFile?) { self.deadLetters = deadLetters }
    public mutating func rejected(_ reason: RejectReason, input: UnsafeRawBufferPointer) { deadLetters?.write(reason, input: input) }
    public func scored(_ event: borrowing EventView, probability: Double) {}
    public func labelled(_ example: LabelledExample, itemID: UnsafeRawBufferPointer) {}
    public func processed(_ event: borrowing EventView) {}
}
