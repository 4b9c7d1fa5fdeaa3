import Persistence

// MARK: - Snapshots

/// Snapshot format, version 1 (all little-endian), one `BinaryWriter` frame:
/// ```
/// "FLMS"  UInt32 formatVersion = 1  UInt64 payloadLength
/// payload: configuration (see ModelConfiguration.encode(into:))
///          UInt64 version, UInt64 rejectedNonFinite, UInt64 skippedNonFiniteCoordinates
///          UInt64 stride, stride × Float32                     the bias slot
///          UInt64 words, words × UInt64                        materialized-slot bitmap (bit s of word s/64)
///          UInt64 m·stride, m·stride × Float32                 the m materialized slots, ascending
/// UInt32 CRC-32C of everything above
/// ```
/// Slots never touched by an update are in their initial state (zero weights and optimizer state, factors from the
/// seed) and are not stored, so a snapshot's size follows the slots the stream used, not `2^bits`.
/// Exact: a model read back is bit-identical to the one written and continues training identically.
extension Model {
    /// The snapshot frame's magic.
    public static let snapshotMagic = "FLMS"
    /// The snapshot format version this build writes (and the newest it reads).
    public static let snapshotFormatVersion: UInt32 = 1

    /// The model as a self-checking snapshot.
    public func snapshotBytes() -> [UInt8] {
        // The exact size but for the configuration's few bytes: materialized slots, bitmap, bias row.
        let layout = context.layout
        var writer = BinaryWriter(
            capacity: (storage.materializedCount &+ 1) &* layout.stride &* 4 &+ storage.wordCount &* 8 &+ 512)
        writeSnapshot(into: &writer)
        return writer.bytes
    }

    /// Appends the snapshot frame to `writer` (for containers such as pipeline checkpoints).
    public func writeSnapshot(into writer: inout BinaryWriter) {
        let frame = writer.beginFrame(magic: Self.snapshotMagic, version: Self.snapshotFormatVersion)
        configuration.encode(into: &writer)
        writer.write(version)
        writer.write(rejectedNonFinite)
        writer.write(skippedNonFiniteCoordinates)
        let layout = context.layout
        let storage = self.storage
        writer.write(floats: Array(UnsafeBufferPointer(start: storage.floats + layout.biasBase, count: layout.stride)))
        writer.write(UInt64(storage.wordCount))
        for w in 0..<storage.wordCount { writer.write(storage.bits[w]) }
        // The materialized slots' floats, straight from the table (no copy of them first).
        writer.write(floatCount: storage.materializedCount &* layout.stride) { writer in
            for w in 0..<storage.wordCount {
                var word = storage.bits[w]
                while word != 0 {
                    let slot = w &* 64 &+ word.trailingZeroBitCount
                    word &= word &- 1
                    writer.appendFloats(UnsafeBufferPointer(start: storage.floats + slot &* layout.stride, count: layout.stride))
                }
            }
        }
        writer.endFrame(frame)
    }

    /// Reads a snapshot; the bytes must hold exactly one snapshot frame.
    public init(snapshotBytes: [UInt8]) throws(SnapshotError) {
        var reader = BinaryReader(snapshotBytes)
        try self.init(readingSnapshotFrom: &reader)
        guard reader.isAtEnd else { throw .invalid("\(reader.remaining) bytes after the snapshot") }
    }

    /// Reads one snapshot frame from `reader`'s position and leaves the reader after it. Magic, version, length and
    /// checksum are verified before any payload byte is interpreted; then the configuration is validated and the
    /// table length checked against it.
    public init(readingSnapshotFrom reader: inout BinaryReader) throws(SnapshotError) {
        let frame = try reader.openFrame(magic: Self.snapshotMagic, versions: 1...Self.snapshotFormatVersion)
        let configuration = try ModelConfiguration(decoding: &reader)
        do {
            try configuration.validate()
        } catch {
            throw .invalid("configuration: \(error.message)")
        }
        let version = try reader.readUInt64()
        let rejected = try reader.readUInt64()
        let skipped = try reader.readUInt64()
        let layout = ParameterLayout(configuration)
        let bias = try reader.readFloats()
        guard bias.count == layout.stride else {
            throw .invalid("bias slot has \(bias.count) floats, configuration needs \(layout.stride)")
        }
        let storage = ParameterStorage(floatCount: layout.floatCount, slots: layout.slots)
        let words = try reader.readUInt64()
        guard words == UInt64(storage.wordCount) else {
            throw .invalid("bitmap has \(words) words, configuration needs \(storage.wordCount)")
        }
        var materialized = 0
        for w in 0..<storage.wordCount {
            let word = try reader.readUInt64()
            storage.bits[w] = word
            materialized += word.nonzeroBitCount
        }
        if layout.slots < 64, storage.bits[0] >> UInt64(layout.slots) != 0 {
            throw .invalid("bitmap marks slots beyond the table")
        }
        let slots = try reader.readFloats()
        guard slots.count == materialized &* layout.stride else {
            throw .invalid("\(slots.count) slot floats for \(materialized) materialized slots of \(layout.stride)")
        }
        try reader.closeFrame(frame)
        bias.withUnsafeBufferPointer { (storage.floats + layout.biasBase).update(from: $0.baseAddress!, count: layout.stride) }
        slots.withUnsafeBufferPointer { source in
            var next = 0
            for w in 0..<storage.wordCount {
                var word = storage.bits[w]
                while word != 0 {
                    let slot = w &* 64 &+ word.trailingZeroBitCount
                    word &= word &- 1
                    (storage.floats + slot &* layout.stride).update(from: source.baseAddress! + next, count: layout.stride)
                    next &+= layout.stride
                }
            }
        }
        self.init(validated: configuration, storage: storage, version: version, rejected: rejected, skipped: skipped)
    }

    /// Writes the snapshot to `path` atomically (`AtomicFile.write`).
    public func writeSnapshot(to path: String) throws {
        try AtomicFile.write(snapshotBytes(), to: path)
    }

    /// Reads a snapshot file; throws `FileError` or `SnapshotError`.
    public static func readSnapshot(from path: String) throws -> Model {
        try Model(snapshotBytes: AtomicFile.read(from: path))
    }
}

// MARK: - Configuration encoding

extension ModelConfiguration {
    /// Appends the configuration: kind (tag UInt8 0/1/2, then UInt32 factors, UInt64 user and item field masks as
    /// applicable), optimizer, Bool + factor optimizer if present, UInt32 bits, UInt64 seed, Double initStd,
    /// factorL2, gradientClip. An optimizer is a tag (0 SGD, 1 AdaGrad, 2 FTRL) and its Double parameters in
    /// declaration order.
    public func encode(into writer: inout BinaryWriter) {
        switch kind {
        case .logistic:
            writer.write(UInt8(0))
        case .factorizationMachine(let k):
            writer.write(UInt8(1))
            writer.write(UInt32(truncatingIfNeeded: k))
        case .matrixFactorization(let k, let user, let item):
            writer.write(UInt8(2))
            writer.write(UInt32(truncatingIfNeeded: k))
            writer.write(user)
            writer.write(item)
        }
        Self.encode(optimizer, into: &writer)
        writer.write(factorOptimizer != nil)
        if let factorOptimizer { Self.encode(factorOptimizer, into: &writer) }
        writer.write(UInt32(truncatingIfNeeded: bits))
        writer.write(seed)
        writer.write(initStd)
        writer.write(factorL2)
        writer.write(gradientClip)
    }

    /// Reads a configuration written by `encode(into:)` (not validated: call `validate()`).
    public init(decoding reader: inout BinaryReader) throws(SnapshotError) {
        let kind: ModelKind
        switch try reader.readUInt8() {
        case 0:
            kind = .logistic
        case 1:
            kind = .factorizationMachine(factors: Int(try reader.readUInt32()))
        case 2:
            let k = Int(try reader.readUInt32())
            kind = .matrixFactorization(factors: k, userFields: try reader.readUInt64(), itemFields: try reader.readUInt64())
        case let tag:
            throw .invalid("unknown model kind tag \(tag)")
        }
        let optimizer = try Self.decodeOptimizer(&reader)
        let factorOptimizer = try reader.readBool() ? try Self.decodeOptimizer(&reader) : nil
        self.init(
            kind: kind, optimizer: optimizer, factorOptimizer: factorOptimizer,
            bits: Int(try reader.readUInt32()), seed: try reader.readUInt64(), initStd: try reader.readDouble(),
            factorL2: try reader.readDouble(), gradientClip: try reader.readDouble())
    }

    private static func encode(_ optimizer: OptimizerKind, into writer: inout BinaryWriter) {
        switch optimizer {
        case .sgd(let rate, let decay):
            writer.write(UInt8(0))
            writer.write(rate)
            writer.write(decay)
        case .adagrad(let rate, let epsilon):
            writer.write(UInt8(1))
            writer.write(rate)
            writer.write(epsilon)
        case .ftrl(let alpha, let beta, let l1, let l2):
            writer.write(UInt8(2))
            writer.write(alpha)
            writer.write(beta)
            writer.write(l1)
            writer.write(l2)
        }
    }

    private static func decodeOptimizer(_ reader: inout BinaryReader) throws(SnapshotError) -> OptimizerKind {
        switch try reader.readUInt8() {
        case 0:
            return .sgd(learningRate: try reader.readDouble(), decay: try reader.readDouble())
        case 1:
            return .adagrad(learningRate: try reader.readDouble(), epsilon: try reader.readDouble())
        case 2:
            return .ftrl(
                alpha: try reader.readDouble(), beta: try reader.readDouble(), l1: try reader.readDouble(),
                l2: try reader.readDouble())
        case let tag:
            throw .invalid("unknown optimizer tag \(tag)")
        }
    }
}
