import Events
import Testing

/// ``EventBatch`` keeps every input's decoding valid until the batch is emptied: each entry equals what a decoder
/// gives for that input alone (escaped strings, context arrays and all), also after the batch was reused.
@Suite struct EventBatchTests {
    static let keys = ["device", "tags", "score", "flag", "absent"]

    /// Random valid events (escapes, context of every kind) and rejected inputs, interleaved.
    static func inputs(seed: UInt64, count: Int) -> [[UInt8]] {
        var generator = EventGenerator(seed: seed, keys: keys)
        let rejected = [#"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":1,"context":{"device":"a","device":"b"}}"#, "", "{"]
        return (0..<count).map { i in
            i % 37 == 5 ? Array(rejected[i % rejected.count].utf8) : Array(generator.event().json.utf8)
        }
    }

    /// What the batch holds for each input, copied out, and what a fresh decoder gives for it alone.
    static func check(_ inputs: [[UInt8]], in batch: EventBatch) {
        // One buffer for all inputs, alive while the batch's entries are used.
        let all = inputs.flatMap { $0 }
        all.withUnsafeBytes { bytes in
            batch.removeAll()
            var at = 0
            for input in inputs {
                batch.append(UnsafeRawBufferPointer(rebasing: bytes[at..<at + input.count]))
                at += input.count
            }
            #expect(batch.count == inputs.count)
            for (i, input) in inputs.enumerated() {
                var decoder = EventDecoder(contextKeys: keys)
                let alone = decodeOwned(input, decoder: &decoder)
                switch (batch.entries[i], alone) {
                case (.event(let view), .success(let expected)):
                    #expect(OwnedEvent(view) == expected, "input \(i)")
                case (.rejected(let r), .failure(let expected)):
                    #expect(batch.rejections[r] == expected, "input \(i)")
                default:
                    Issue.record("input \(i): the batch and a decoder disagree on whether it is valid")
                }
            }
        }
    }

    @Test func entriesEqualEachInputDecodedAloneAlsoWhenTheBatchIsReused() {
        let batch = EventBatch(contextKeys: Self.keys)
        // Large enough to fill several chunks of every arena; then smaller ones in the chunks kept.
        Self.check(Self.inputs(seed: 1, count: 3000), in: batch)
        Self.check(Self.inputs(seed: 2, count: 500), in: batch)
        Self.check(Self.inputs(seed: 3, count: 4000), in: batch)
    }
}
