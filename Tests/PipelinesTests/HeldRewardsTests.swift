import Persistence
import Testing
@testable import Pipelines

/// The store of rewards read before their decisions: one per key, bounded (the oldest given up first), released
/// per partition by time, and the same after a write and read.
@Suite struct HeldRewardsTests {
    typealias Reward = HeldRewards.Reward

    @Test func oneRewardPerKeyAndTakingRemovesIt() {
        var held = HeldRewards()
        var gaveUp = 0
        let first = held.hold(Reward(partition: 1, key: 7, timestamp: 100))
        let second = held.hold(Reward(partition: 1, key: 7, timestamp: 200))  // the caller counts it
        gaveUp += first.gaveUp + second.gaveUp
        #expect(first.held && !second.held)
        #expect(held.count == 1 && held.holds(partition: 1) && !held.holds(partition: 2))
        #expect(held.take(7) == 100)
        #expect(held.take(7) == nil && held.isEmpty && !held.holds(partition: 1))
        #expect(gaveUp == 0)
    }

    @Test func pastTheCapacityTheOldestIsGivenUp() {
        var held = HeldRewards()
        var gaveUp = 0
        for i in 0..<(HeldRewards.capacity + 10) {
            let outcome = held.hold(Reward(partition: 0, key: UInt64(i), timestamp: Int64(i)))
            #expect(outcome.held)
            gaveUp += outcome.gaveUp
        }
        #expect(held.count == HeldRewards.capacity && gaveUp == 10)
        #expect(held.take(9) == nil && held.take(10) == 10)  // the first ten went, the eleventh stayed
    }

    @Test func releaseGivesUpOnlyThatPartitionsPastRewards() {
        var held = HeldRewards()
        for (p, k, t) in [(0, 1, 100), (0, 2, 300), (1, 3, 100)] {
            _ = held.hold(Reward(partition: p, key: UInt64(k), timestamp: Int64(t)))
        }
        _ = held.take(2)
        var gaveUp = held.release { $0.partition == 0 && $0.timestamp < 200 }
        #expect(gaveUp == 1 && held.count == 1 && held.take(3) == 100)
        _ = held.hold(Reward(partition: 1, key: 4, timestamp: 5))
        _ = held.hold(Reward(partition: 2, key: 5, timestamp: 5))
        gaveUp += held.release { $0.partition == 1 }
        #expect(gaveUp == 2 && held.count == 1)
        gaveUp += held.release { _ in true }
        #expect(gaveUp == 3 && held.isEmpty)
    }

    @Test func writtenAndReadBackTheyAreTheSame() throws {
        var held = HeldRewards()
        for i in 0..<5 { _ = held.hold(Reward(partition: i % 2, key: UInt64(100 + i), timestamp: Int64(i * 10))) }
        _ = held.take(102)
        var w = BinaryWriter()
        held.write(to: &w)
        var r = BinaryReader(w.bytes)
        var back = HeldRewards()
        try back.read(from: &r, partitions: 2)
        #expect(back.count == 4)
        for key in [100, 101, 103, 104] { #expect(back.take(UInt64(key)) == held.take(UInt64(key))) }
        // A partition index the checkpoint does not have is refused.
        var r2 = BinaryReader(w.bytes)
        var refused = HeldRewards()
        #expect(throws: SnapshotError.self) { try refused.read(from: &r2, partitions: 1) }
    }
}
