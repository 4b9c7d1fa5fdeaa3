import Foundation
import Learning
import Persistence

/// A directory of checkpoints `checkpoint-<sequence>.flck`, newest = highest sequence. Writes are atomic
/// (temp file, fsync, rename, fsync directory); the newest `keep` files are kept, older ones removed.
public struct CheckpointStore: Sendable {
    public let directory: String
    public let keep: Int

    public init(directory: String, keep: Int = 3) throws {
        self.directory = directory
        self.keep = max(1, keep)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Checkpoint files, newest first.
    public func files() -> [(sequence: UInt64, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name -> (UInt64, String)? in
            guard name.hasPrefix("checkpoint-"), name.hasSuffix(".flck"),
                  let seq = UInt64(name.dropFirst("checkpoint-".count).dropLast(".flck".count)) else { return nil }
            return (seq, directory + "/" + name)
        }.sorted { $0.0 > $1.0 }
    }

    /// The serialization buffer, kept from one checkpoint to the next: a long-running worker then holds one buffer
    /// as large as its largest checkpoint, instead of growing (and freeing) a new one by doubling every time, which
    /// left the freed blocks resident in the malloc heap and made RSS step up as checkpoints grew.
    var buffer = BinaryWriter()

    /// Writes a checkpoint of `pipeline` including `positions`; returns its path.
    @discardableResult
    public mutating func write(_ pipeline: Pipeline, positions: [InputPosition]) throws -> String {
        let sequence = (files().first?.sequence ?? 0) + 1
        let path = directory + "/" + String(format: "checkpoint-%016llu.flck", sequence)
        buffer.bytes.removeAll(keepingCapacity: true)
        pipeline.writeCheckpoint(positions: positions, into: &buffer)
        try AtomicFile.write(buffer.bytes, to: path)
        for old in files().dropFirst(keep) { try? FileManager.default.removeItem(atPath: old.path) }
        return path
    }

    /// The newest checkpoint that reads back and matches `spec`; corrupt ones are skipped and reported through
    /// `skipped`. A checkpoint of a *different* pipeline definition is an error (never silently discarded).
    public func restoreNewest(spec: PipelineSpec, skipped: (CheckpointError) -> Void = { _ in }) throws(CheckpointError) -> (pipeline: Pipeline, positions: [InputPosition], path: String)? {
        for file in files() {
            guard let bytes = try? AtomicFile.read(from: file.path) else {
                skipped(.corrupt(path: file.path, reason: "unreadable"))
                continue
            }
            do {
                let (pipeline, positions) = try Pipeline.restore(spec: spec, from: bytes, path: file.path)
                return (pipeline, positions, file.path)
            } catch {
                switch error {
                case .pipelineChanged, .unverifiable, .catalogTooSmall: throw error
                case .corrupt: skipped(error)
                }
            }
        }
        return nil
    }
}
