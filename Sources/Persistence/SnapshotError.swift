// MARK: - SnapshotError

/// Why bytes could not be read back as a snapshot (or any `BinaryReader` frame).
public enum SnapshotError: Error, Equatable {
    /// The first four bytes are not the expected magic.
    case badMagic
    /// The format version is not one this build reads.
    case unsupportedVersion(UInt32)
    /// The CRC32C stored after the payload does not match the bytes.
    case checksumMismatch
    /// The bytes end before the structure does.
    case truncated
    /// Checksummed but semantically wrong (e.g. an invalid configuration, a wrong array length).
    case invalid(String)
}
