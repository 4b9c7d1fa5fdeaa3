import Foundation
import Testing
@testable import Learning
@testable import Persistence

// MARK: - Snapshots

@Suite("Snapshots")
struct SnapshotTests {
    static let configurations: [ModelConfiguration] = [
        ModelConfiguration(kind: .logistic, optimizer: .ftrl(alpha: 0.1, beta: 1, l1: 0.5, l2: 1), bits: 8),
        ModelConfiguration(
            kind: .factorizationMachine(factors: 6), optimizer: .adagrad(learningRate: 0.05, epsilon: 1e-6),
            factorOptimizer: .sgd(learningRate: 0.01, decay: 1e-3), bits: 8, seed: 9, initStd: 0.05, factorL2: 0.01),
        ModelConfiguration(
            kind: .matrixFactorization(factors: 4, userFields: 0b101, itemFields: 0b010),
            optimizer: .sgd(learningRate: 0.1, decay: 0.01), factorOptimizer: .ftrl(alpha: 0.2, beta: 1, l1: 0, l2: 0),
            bits: 7, seed: 123, initStd: 0.1, factorL2: 0.001, gradientClip: 50),
    ]

    /// A model trained on a short synthetic stream (including one rejected NaN row).
    static func trained(_ configuration: ModelConfiguration, events: Int = 300) -> Model {
        var model = Model(configuration)
        var rng = CoreTestRandom(seed: 17)
        var row = FeatureRow()
        for e in 0..<events {
            row.removeAll()
            row.append(index: UInt32(rng.below(50)), value: 1, field: 0)
            row.append(index: UInt32(50 + rng.below(50)), value: 1, field: 1)
            row.append(index: UInt32(100 + rng.below(10)), value: Float(rng.uniform(0, 2)), field: 2)
            if e == 10 { row.append(index: 1, value: .nan, field: 2) }
            model.learn(row, label: rng.unit() < 0.4)
        }
        return model
    }

    @Test(arguments: configurations)
    func roundTripIsBitExactAndContinuesIdentically(configuration: ModelConfiguration) throws {
        for model in [Model(configuration), Self.trained(configuration)] {
            let bytes = model.snapshotBytes()
            let restored = try Model(snapshotBytes: bytes)
            #expect(restored.configuration == model.configuration)
            #expect(restored.version == model.version)
            #expect(restored.rejectedNonFinite == model.rejectedNonFinite)
            #expect(restored.skippedNonFiniteCoordinates == model.skippedNonFiniteCoordinates)
            #expect(CoreTest.tableBits(restored) == CoreTest.tableBits(model))
            #expect(restored.snapshotBytes() == bytes)
        }
        let trained = Self.trained(configuration)
        #expect(trained.version > 0)
        #expect(trained.rejectedNonFinite == 1)
        // Training the restored copy and the original on the same events ends bit-identical.
        var original = trained
        var restored = try Model(snapshotBytes: trained.snapshotBytes())
        let row = FeatureRow(indices: [1, 60, 105], values: [1, 1, 0.5], fields: [0, 1, 2])
        for i in 0..<20 {
            original.learn(row, label: i % 3 == 0)
            restored.learn(row, label: i % 3 == 0)
        }
        #expect(original.snapshotBytes() == restored.snapshotBytes())
    }

    @Test func snapshotLayoutHasMagicVersionLengthAndTrailingCRC() throws {
        let bytes = Self.trained(Self.configurations[0]).snapshotBytes()
        #expect(Array(bytes[0..<4]) == Array("FLMS".utf8))
        var reader = BinaryReader(bytes)
        _ = try reader.readRaw(count: 4)
        #expect(try reader.readUInt32() == Model.snapshotFormatVersion)
        #expect(try reader.readUInt64() == UInt64(bytes.count - 16 - 4))
        let crc = Checksum.crc32c(Array(bytes[0..<(bytes.count - 4)]))
        var tail = BinaryReader(Array(bytes[(bytes.count - 4)...]))
        #expect(try tail.readUInt32() == crc)
    }

    @Test(arguments: configurations)
    func anyCorruptedPayloadOrChecksumByteIsAChecksumMismatch(configuration: ModelConfiguration) {
        let bytes = Self.trained(configuration).snapshotBytes()
        var rng = CoreTestRandom(seed: 23)
        // Every byte of the configuration region plus 200 random positions over payload and CRC.
        let positions = Array(16..<80) + (0..<200).map { _ in 16 + rng.below(bytes.count - 16) } + [bytes.count - 1]
        for position in positions {
            var corrupted = bytes
            corrupted[position] ^= UInt8(1 << rng.below(8))
            #expect(throws: SnapshotError.checksumMismatch, "byte \(position)") { try Model(snapshotBytes: corrupted) }
        }
    }

    @Test func headerCorruptionIsReportedPrecisely() {
        let bytes = Self.trained(Self.configurations[0]).snapshotBytes()
        var magic = bytes
        magic[0] = UInt8(ascii: "X")
        #expect(throws: SnapshotError.badMagic) { try Model(snapshotBytes: magic) }
        var version = bytes
        version[4] = 99
        #expect(throws: SnapshotError.unsupportedVersion(99)) { try Model(snapshotBytes: version) }
        var length = bytes
        length[15] = 0x7f  // a payload length far past the end
        #expect(throws: SnapshotError.truncated) { try Model(snapshotBytes: length) }
        var shorter = bytes
        shorter[8] ^= 0x04  // payload length 4 bytes off: the CRC no longer lines up
        #expect(throws: SnapshotError.self) { try Model(snapshotBytes: shorter) }
        #expect(throws: SnapshotError.invalid("1 bytes after the snapshot")) { try Model(snapshotBytes: bytes + [0]) }
    }

    @Test func everyTruncationIsAnError() {
        let bytes = Self.trained(ModelConfiguration(kind: .factorizationMachine(factors: 2), bits: 3)).snapshotBytes()
        for length in 0..<bytes.count {
            #expect(throws: SnapshotError.truncated, "length \(length)") { try Model(snapshotBytes: Array(bytes[0..<length])) }
        }
    }

    @Test func checksummedButInvalidConfigurationIsRejected() {
        var writer = BinaryWriter()
        let frame = writer.beginFrame(magic: Model.snapshotMagic, version: Model.snapshotFormatVersion)
        ModelConfiguration(kind: .logistic, bits: 31).encode(into: &writer)
        writer.write(UInt64(0))
        writer.write(UInt64(0))
        writer.write(UInt64(0))
        writer.write(floats: [])
        writer.endFrame(frame)
        #expect(throws: SnapshotError.invalid("configuration: bits must be in 1...30, got 31")) {
            try Model(snapshotBytes: writer.bytes)
        }
        // Valid configurations (logistic FTRL, bits 2: 4 slots of stride 3, one bitmap word) with wrong contents.
        func payload(bias: [Float], words: [UInt64], slots: [Float]) -> [UInt8] {
            var w = BinaryWriter()
            let f = w.beginFrame(magic: Model.snapshotMagic, version: Model.snapshotFormatVersion)
            ModelConfiguration(kind: .logistic, bits: 2).encode(into: &w)
            for _ in 0..<3 { w.write(UInt64(0)) }
            w.write(floats: bias)
            w.write(UInt64(words.count))
            for word in words { w.write(word) }
            w.write(floats: slots)
            w.endFrame(f)
            return w.bytes
        }
        let fine = try? Model(snapshotBytes: payload(bias: [0.5, 0, 0], words: [0b0101], slots: [Float](repeating: 1, count: 6)))
        #expect(fine?.materializedSlots == 2)
        #expect(fine?.linearWeight(at: 2) == 1)
        #expect(fine?.bias == 0.5)
        #expect(throws: SnapshotError.invalid("bias slot has 2 floats, configuration needs 3")) {
            try Model(snapshotBytes: payload(bias: [0, 0], words: [0], slots: []))
        }
        #expect(throws: SnapshotError.invalid("bitmap has 2 words, configuration needs 1")) {
            try Model(snapshotBytes: payload(bias: [0, 0, 0], words: [0, 0], slots: []))
        }
        #expect(throws: SnapshotError.invalid("bitmap marks slots beyond the table")) {
            try Model(snapshotBytes: payload(bias: [0, 0, 0], words: [1 << 4], slots: [0, 0, 0]))
        }
        #expect(throws: SnapshotError.invalid("3 slot floats for 2 materialized slots of 3")) {
            try Model(snapshotBytes: payload(bias: [0, 0, 0], words: [0b11], slots: [0, 0, 0]))
        }
    }

    @Test func snapshotsNestInsideALargerFrame() throws {
        let a = Self.trained(Self.configurations[1])
        let b = Self.trained(Self.configurations[2])
        var writer = BinaryWriter()
        let outer = writer.beginFrame(magic: "CKPT", version: 3)
        writer.write(string: "offsets")
        a.writeSnapshot(into: &writer)
        b.writeSnapshot(into: &writer)
        writer.write(Int64(-42))
        writer.endFrame(outer)

        var reader = BinaryReader(writer.bytes)
        let frame = try reader.openFrame(magic: "CKPT", versions: 1...3)
        #expect(frame.version == 3)
        #expect(try reader.readString() == "offsets")
        let ra = try Model(readingSnapshotFrom: &reader)
        let rb = try Model(readingSnapshotFrom: &reader)
        #expect(try reader.readInt64() == -42)
        try reader.closeFrame(frame)
        #expect(reader.isAtEnd)
        #expect(ra.snapshotBytes() == a.snapshotBytes())
        #expect(rb.snapshotBytes() == b.snapshotBytes())
    }

    @Test func snapshotFileRoundTripLeavesNoTemporaryFile() throws {
        let directory = try CoreTest.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.flms"
        let first = Self.trained(Self.configurations[2], events: 50)
        try first.writeSnapshot(to: path)
        let second = Self.trained(Self.configurations[2], events: 120)
        try second.writeSnapshot(to: path)  // replaces atomically
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["model.flms"])
        let restored = try Model.readSnapshot(from: path)
        #expect(restored.snapshotBytes() == second.snapshotBytes())
    }
}

// MARK: - Binary encoding, checksum, atomic files

@Suite("Binary encoding")
struct BinaryEncodingTests {
    @Test func crc32cMatchesTheStandardCheckValueAndKnownVectors() {
        #expect(Checksum.crc32c(Array("123456789".utf8)) == 0xe306_9283)
        #expect(Checksum.crc32c([UInt8]()) == 0)
        #expect(Checksum.crc32c([UInt8](repeating: 0, count: 32)) == 0x8a91_36aa)  // RFC 3720 B.4
        #expect(Checksum.crc32c([UInt8](repeating: 0xff, count: 32)) == 0x62a8_ab43)
        #expect(Checksum.crc32c((0..<32).map { UInt8($0) }) == 0x46dd_794e)
    }

    @Test func crc32cInHardwareAndBySlicingBy8EqualsTheBytewiseDefinitionForEveryLengthAndAlignment() {
        func bytewise(_ data: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = 0xffff_ffff
            for b in data {
                crc ^= UInt32(b)
                for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0x82f6_3b78 : crc >> 1 }
            }
            return ~crc
        }
        var rng = CoreTestRandom(seed: 2)
        let data = (0..<300).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for start in 0..<9 {
            for end in stride(from: start, to: data.count, by: 7) {
                let slice = data[start..<end]
                #expect(slice.withUnsafeBytes { Checksum.crc32c($0) } == bytewise(slice))
                #expect(slice.withUnsafeBytes { ~Checksum.softwareUpdate(0xffff_ffff, $0) } == bytewise(slice))
            }
        }
        #if arch(x86_64)
        #expect(Checksum.hardware, "x86-64 processors since 2008 have SSE4.2's CRC-32C instruction")
        #endif
    }

    @Test func writerAndReaderRoundTripEveryType() throws {
        var writer = BinaryWriter()
        writer.write(UInt8(0xab))
        writer.write(true)
        writer.write(UInt32(0xdead_beef))
        writer.write(UInt64.max - 1)
        writer.write(Int64.min)
        writer.write(-0.0 as Double)
        writer.write(Double.nan)
        writer.write(Float.leastNonzeroMagnitude)
        writer.write(floats: [1.5, -.infinity, .nan, 0])
        writer.write(string: "héllo, wörld ✓")
        writer.write(bytes: [1, 2, 3])
        writer.writeRaw([9, 9])
        #expect(Array(writer.bytes[2..<6]) == [0xef, 0xbe, 0xad, 0xde])  // little-endian

        var reader = BinaryReader(writer.bytes)
        #expect(try reader.readUInt8() == 0xab)
        #expect(try reader.readBool() == true)
        #expect(try reader.readUInt32() == 0xdead_beef)
        #expect(try reader.readUInt64() == UInt64.max - 1)
        #expect(try reader.readInt64() == Int64.min)
        #expect(try reader.readDouble().bitPattern == (-0.0 as Double).bitPattern)
        #expect(try reader.readDouble().bitPattern == Double.nan.bitPattern)
        #expect(try reader.readFloat() == Float.leastNonzeroMagnitude)
        #expect(try reader.readFloats().map(\.bitPattern) == [1.5, -Float.infinity, .nan, 0].map(\.bitPattern))
        #expect(try reader.readString() == "héllo, wörld ✓")
        #expect(try reader.readBytes() == [1, 2, 3])
        #expect(try reader.readRaw(count: 2) == [9, 9])
        #expect(reader.isAtEnd)
        #expect(throws: SnapshotError.truncated) { try reader.readUInt8() }
    }

    @Test func hugeLengthPrefixIsTruncationNotAnAllocation() {
        var writer = BinaryWriter()
        writer.write(UInt64.max / 2)
        for read in 0..<3 {
            var reader = BinaryReader(writer.bytes)
            #expect(throws: SnapshotError.truncated) {
                switch read {
                case 0: _ = try reader.readFloats()
                case 1: _ = try reader.readString()
                default: _ = try reader.readBytes()
                }
            }
        }
    }

    @Test func invalidUTF8AndBooleansAreInvalid() {
        var writer = BinaryWriter()
        writer.write(bytes: [0xff, 0xfe])
        var reader = BinaryReader(writer.bytes)
        #expect(throws: SnapshotError.invalid("string is not valid UTF-8")) { try reader.readString() }
        var flag = BinaryReader([2])
        #expect(throws: SnapshotError.invalid("boolean byte 2")) { try flag.readBool() }
    }

    @Test func atomicWriteReplacesContentAndLeavesNoTemporaryFiles() throws {
        let directory = try CoreTest.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/state.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        #expect(try AtomicFile.read(from: path) == [1, 2, 3])
        let big = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try AtomicFile.write(big, to: path)
        #expect(try AtomicFile.read(from: path) == big)
        try AtomicFile.write([], to: path)
        #expect(try AtomicFile.read(from: path) == [])
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["state.bin"])
    }

    @Test func atomicWriteIntoAMissingDirectoryFailsWithoutLeavingFiles() throws {
        let directory = try CoreTest.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(throws: FileError.self) { try AtomicFile.write([1], to: directory + "/missing/state.bin") }
        // Renaming onto a directory fails after the temporary file was written: it must be cleaned up.
        try FileManager.default.createDirectory(atPath: directory + "/occupied", withIntermediateDirectories: false)
        try AtomicFile.write([0], to: directory + "/occupied/x")
        #expect(throws: FileError.self) { try AtomicFile.write([1, 2], to: directory + "/occupied") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["occupied"])
        #expect(throws: FileError.self) { try AtomicFile.read(from: directory + "/nothing") }
    }
}
