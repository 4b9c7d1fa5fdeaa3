import Learning

/// The progressive-validation records of a pipeline's step, kept in order to be recorded later on another thread
/// (``Pipeline/metricsLog``): a replay of one pipeline records its metrics on the reading thread, which has time to
/// spare, instead of the learning thread, which sets the pace.
///
/// Invariant: ``record(into:)`` makes exactly the ``ProgressiveMetrics/record(probability:label:weight:)`` calls the
/// step would have made, in the same order, so the metrics are bit-identical. One thread at a time: the step appends,
/// then hands the log over (through the replay's ring) to the thread that records and empties it.
public final class MetricsLog: @unchecked Sendable {
    struct Entry {
        var probability: Double
        var weight: Double
        var label: Bool
    }

    var entries: [Entry] = []

    public init(capacity: Int = 4096) { entries.reserveCapacity(capacity) }

    @inline(__always)
    func append(probability: Double, label: Bool, weight: Double) {
        entries.append(Entry(probability: probability, weight: weight, label: label))
    }

    /// Records every entry into `metrics`, in order, and empties the log.
    public func record(into metrics: inout ProgressiveMetrics) {
        entries.withUnsafeBufferPointer { entries in
            // The AUC histogram is large (a bin per 2⁻²⁰ of probability): its counters for the entries a few ahead
            // are loaded while these are recorded (a cache hint; it changes nothing).
            let ahead = 8
            for i in entries.indices {
                if i + ahead < entries.count { metrics.prefetch(probability: entries[i + ahead].probability) }
                let e = entries[i]
                metrics.record(probability: e.probability, label: e.label, weight: e.weight)
            }
        }
        entries.removeAll(keepingCapacity: true)
    }
}

extension Pipeline {
    /// Exchanges the pipeline's progressive metrics with `other`: to record them elsewhere while a ``metricsLog``
    /// takes the step's records, and to give them back after.
    public mutating func swapMetrics(_ other: inout ProgressiveMetrics) { swap(&metrics, &other) }
}
