import Testing
@testable import Pipelines

/// `sync:` — how the workers of a group share one model — parsed strictly.
@Suite struct SyncSpecParsingTests {
    func parse(_ sync: String?) throws -> SyncSpec {
        let yaml = PipelineSpecParsingTests.minimal + (sync.map { "\nsync: \($0)\n" } ?? "\n")
        return try PipelineSpec.parse(yaml: yaml, file: "t.yaml").sync
    }

    func failure(_ sync: String) -> PipelineFileError? {
        do {
            _ = try parse(sync)
            return nil
        } catch let error as PipelineFileError {
            return error
        } catch {
            return nil
        }
    }

    @Test func absentIsOffAndOnTakesTheDefaults() throws {
        #expect(try parse(nil) == .off)
        #expect(try parse(nil).enabled == false)
        #expect(try parse("off") == .off)
        let on = try parse("on")
        #expect(on.enabled && on.every == 1000 && on.intervalMs == 1000 && on.maxStalenessMs == 30_000)
    }

    @Test func aMappingTurnsItOnWithItsValues() throws {
        let s = try parse("{every: 250, interval: 500ms, max_staleness: 1m}")
        #expect(s == SyncSpec(enabled: true, every: 250, intervalMs: 500, maxStalenessMs: 60_000))
        #expect(try parse("{every: 0, interval: 2s}").every == 0)
        #expect(try parse("{interval: 0s}").intervalMs == 0)
        #expect(try parse("{max_staleness: off}").maxStalenessMs == 0)
        #expect(try parse("on").ramp == 0.02)
        #expect(try parse("{every: 250, ramp: 0.1}").ramp == 0.1)
        #expect(try parse("{ramp: 0}").ramp == 0)
    }

    /// The count trigger: `ramp` of the replica's examples while that is fewer than `every`, at least 10.
    @Test func theRampShortensTheIntervalWhileTheModelIsYoung() throws {
        let s = try parse("{every: 250, ramp: 0.05}")
        #expect(s.examplesBeforeExchange(version: 0) == SyncSpec.rampFloor)
        #expect(s.examplesBeforeExchange(version: 199) == SyncSpec.rampFloor)
        #expect(s.examplesBeforeExchange(version: 1_000) == 50)
        #expect(s.examplesBeforeExchange(version: 4_999) == 249)
        #expect(s.examplesBeforeExchange(version: 5_000) == 250)
        #expect(s.examplesBeforeExchange(version: 10_000_000) == 250)
        #expect(try parse("{every: 250, ramp: 0}").examplesBeforeExchange(version: 0) == 250)
        #expect(try parse("{every: 5, ramp: 0.05}").examplesBeforeExchange(version: 0) == 5, "never more than every")
        #expect(try parse("{every: 0, interval: 1s}").examplesBeforeExchange(version: 0) == 0, "no count trigger")
    }

    @Test func badValuesAreNamed() throws {
        let unknown = try #require(failure("{every: 100, evry: 3}"))
        #expect(unknown.key == "sync.evry")
        let neither = try #require(failure("{every: 0, interval: 0s}"))
        #expect(neither.message.contains("every > 0 or an interval"))
        let tight = try #require(failure("{interval: 10s, max_staleness: 5s}"))
        #expect(tight.key == "sync.max_staleness" && tight.message.contains("longer than the interval"))
        #expect(failure("{every: -1}") != nil)
        #expect(failure("{interval: soon}") != nil)
        #expect(failure("sometimes") != nil)
        let ramp = try #require(failure("{ramp: 2}"))
        #expect(ramp.key == "sync.ramp")
    }
}
