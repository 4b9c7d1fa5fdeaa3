// MARK: - Snapshots

/// Snapshot format, version 1 (all little-endian), one `BinaryWriter` frame:
/// ```
/// "FLMS"  UInt32 formatVersion = 1  UInt64 payloadLength
/// payload: configuration (see ModelConfiguration.encode(into:))
///          UInt64 version, UInt64 rejectedNonFinite, UInt64 skippedNonFiniteCoordinates
///          UInt64 floatCount, floatCount × Float32 bit patterns (the parameter table: weights, factors, state)
/// UInt32 CRC-32C of everything above
/// ```
/// Exact: a model read back is bit-identical to the one written and continues training identically.
extension Model {
    /// The snapshot frame's magic.
    public static let snapshotMagic = "FLMS"
    /// The snapshot format version this build writes (and the newest it reads).
    public static let snapshotFormatVersion: UInt32 = 1

    /// The model as a self-checking snapshot.
    public func snapshotBytes() -> [UInt8] {
        var writer = BinaryWriter(capacity: parameterBytes + 256)
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
        writer.write(floats: table)
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
        let table = try reader.readFloats()
        let expected = ParameterLayout(configuration).floatCount
        guard table.count == expected else {
            throw .invalid("parameter table has \(table.count) floats, configuration needs \(expected)")
        }
        try reader.closeFrame(frame)
        self.init(
            validated: configuration, table: table, version: version, rejected: rejected, skipped: skipped)
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
