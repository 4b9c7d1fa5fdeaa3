import Foundation

/// Faults the tests inject into a worker process through its environment. Never set in production.
enum FaultInjection {
    /// `FEEDLOOP_FAULT_UNAWARE_OF_LOSS=1`: a member the group dropped does not know it — ``WorkerLoop/checkStall()`` is
    /// off, and a lost assignment is ignored (the partitions stay its own as far as it knows), as for a member cut off
    /// from the group's coordinator but not from the increments topic. What is left to stop it is the claims, the
    /// fence that rests neither on its clock nor on its coordinator (docs/scaling-out.md); the tests of the claims set it.
    static let unawareOfLoss = ProcessInfo.processInfo.environment["FEEDLOOP_FAULT_UNAWARE_OF_LOSS"] == "1"
}
