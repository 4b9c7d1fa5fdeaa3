extension Array where Element == CChar {
    /// The text of a NUL-terminated C buffer (librdkafka's `errstr` out-parameters).
    var nulTerminatedString: String {
        withUnsafeBufferPointer { buffer in
            let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
