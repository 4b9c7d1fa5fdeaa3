import Foundation
import Learning
import Metrics
import Pipelines
import Synchronization

/// The model view the ranking API reads, published by the worker loop (the model's single writer) and read by request
/// handlers on other threads: read-copy-update with whole copies.
///
/// The loop calls ``offer(_:)`` once per turn; when the view is older than `serving.snapshot_interval` and the model
/// has learned since (its own events or, with `sync:`, the group's increments), it takes a new ``ModelView`` — a
/// detached copy of the parameter table's materialized slots (the one cost, paid on the loop thread, measured in
/// `feedloop_serving_view_copy_seconds`) and a copy-on-write share of the catalog — and swaps it in. The copy goes into
/// the table of the view replaced the time before when its last reader is done with it (they hold a view for one
/// request): no new memory to fault in, zero and later unmap, at the price of one table kept for it. A request takes
/// the current view (a reference count under a lock held for a pointer copy, never by the loop while it learns) and
/// scores on it however long it takes; an older view lives until its last reader drops it. Invariants: a reader never
/// sees a write (views are never mutated after publication); the learning hot path takes no lock (the loop takes this
/// one once per published view); an answer is at most `snapshot_interval` plus one loop turn older than the model.
public final class ServingView: Sendable {
    private let current = Mutex<ModelView?>(nil)
    /// The model of the view ``current`` replaced last: only the loop takes it (the lock is never contended).
    private let retired = Mutex<Model?>(nil)
    private let intervalNs: UInt64
    /// Loop-thread state (atomics only so the class is honestly Sendable; one writer).
    private let lastTakenAt = Atomic<UInt64>(0)
    private let lastEvents = Atomic<UInt64>(.max)
    private let lastVersion = Atomic<UInt64>(0)
    private let copyTimer = Metrics.Timer(label: "feedloop_serving_view_copy_seconds")
    private let copyNs = Atomic<UInt64>(0)

    public init(intervalMs: Int64) {
        intervalNs = UInt64(max(intervalMs, 0)) * 1_000_000
    }

    /// The view requests read now, nil until the loop published one (restore and the first turn not done).
    public var view: ModelView? { current.withLock { $0 } }

    /// Duration (ns) of the last view copy (for tests and benches).
    public var lastCopyNanoseconds: UInt64 { copyNs.load(ordering: .relaxed) }

    /// Called by the loop once per turn: publishes a new view of `pipeline` when one is due. Returns whether it did.
    @discardableResult
    public func offer(_ pipeline: Pipeline, now: UInt64 = DispatchTime.now().uptimeNanoseconds) -> Bool {
        // Changed: events applied, or the model moved without them (a group's increments, `sync:`).
        let events = pipeline.counters.events, version = pipeline.model.version
        let last = lastEvents.load(ordering: .relaxed)
        let changed = events != last || version != lastVersion.load(ordering: .relaxed)
        guard last == .max || (changed && now &- lastTakenAt.load(ordering: .relaxed) >= intervalNs) else { return false }
        var recycled = retired.withLock { $0.take() }
        let view = pipeline.servingView(takenAt: now, reusing: &recycled)
        let copied = DispatchTime.now().uptimeNanoseconds &- now
        let replaced = current.withLock { slot in
            let old = slot
            slot = view
            return old
        }
        // The replaced view's model is kept for the next copy, which writes into its table if its last reader is done
        // by then; else that reader frees it, and the next copy takes a new table.
        retired.withLock { $0 = replaced?.model }
        lastEvents.store(events, ordering: .relaxed)
        lastVersion.store(version, ordering: .relaxed)
        lastTakenAt.store(now, ordering: .relaxed)
        copyNs.store(copied, ordering: .relaxed)
        copyTimer.recordNanoseconds(Int64(copied))
        return true
    }
}
