import Foundation
import Kafka
import Logging

/// Faults the tests inject into a worker process through its environment. Never set in production.
enum FaultInjection {
    /// `FEEDLOOP_FAULT_UNAWARE_OF_LOSS=1`: a member the group dropped does not know it — ``WorkerLoop/checkStall()`` is
    /// off, and a lost assignment is ignored (the partitions stay its own as far as it knows), as for a member cut off
    /// from the group's coordinator but not from the increments topic. What is left to stop it is the claims, the
    /// fence that rests neither on its clock nor on its coordinator (docs/scaling-out.md); the tests of the claims set it.
    static let unawareOfLoss = ProcessInfo.processInfo.environment["FEEDLOOP_FAULT_UNAWARE_OF_LOSS"] == "1"

    /// `FEEDLOOP_FAULT_HOLD_RECORD=FILE`: an increments record in flight at a `kill -9`. The third record of the run is
    /// written to FILE (its run header, key and value) instead of being sent, and the process kills itself with SIGKILL.
    static let holdRecord = ProcessInfo.processInfo.environment["FEEDLOOP_FAULT_HOLD_RECORD"]

    /// `FEEDLOOP_FAULT_LAND_HELD_RECORD=FILE`: that record lands late. Just before the run's first increments record
    /// is sent, the record held in FILE is sent as it was (with its earlier run's header) and delivered — after this
    /// run claimed its partitions and read the topic to its end, and after it learned events that record covers.
    static let landHeldRecord = ProcessInfo.processInfo.environment["FEEDLOOP_FAULT_LAND_HELD_RECORD"]

    /// Called before each increments record is sent, with the number of records this run sent before it.
    static func recordInFlight(
        producer: KafkaProducer, topic: String, key: [UInt8], value: [UInt8], run: KafkaHeader, published: Int, logger: Logger
    ) throws {
        if let path = holdRecord, published == 2 {
            let runBytes = run.value ?? []
            var bytes = [UInt8(runBytes.count)] + runBytes
            withUnsafeBytes(of: UInt32(key.count).littleEndian) { bytes += $0 }
            bytes += key + value
            try Data(bytes).write(to: URL(fileURLWithPath: path + ".partial"))
            try FileManager.default.moveItem(atPath: path + ".partial", toPath: path)
            logger.warning("fault injection: holding increments record \(published + 1) of this run in \(path), then SIGKILL")
            kill(getpid(), SIGKILL)
        }
        if let path = landHeldRecord, published == 0 {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let runCount = Int(bytes[0])
            let runBytes = Array(bytes[1..<(1 + runCount)])
            let keyCount = bytes[(1 + runCount)..<(5 + runCount)].withUnsafeBytes {
                Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)))
            }
            let keyStart = 5 + runCount
            let heldKey = Array(bytes[keyStart..<(keyStart + keyCount)])
            let heldValue = Array(bytes[(keyStart + keyCount)...])
            try producer.send(topic: topic, key: heldKey, value: heldValue, headers: [KafkaHeader(name: run.name, value: runBytes)])
            try producer.flush(timeout: .seconds(10))
            logger.warning("fault injection: landed the increments record held in \(path)")
        }
    }
}
