import Foundation
import Kafka
import Testing

/// `--kafka-config` files: Java `client.properties` syntax, errors as `FILE:LINE: …` without the line's text.
@Suite("KafkaPropertiesFile")
struct KafkaPropertiesFileTests {
    static let path = "client.properties"

    static func parse(_ text: String) throws -> [KafkaProperty] {
        try KafkaPropertiesFile.parse(Array(text.utf8), path: path)
    }

    /// key → value, the last one winning.
    static func values(_ text: String) throws -> [String: String] {
        Dictionary(try parse(text).map { ($0.key, $0.value) }) { _, later in later }
    }

    static func error(_ text: String) -> KafkaPropertiesError? {
        #expect(throws: KafkaPropertiesError.self, "\(text.debugDescription) parsed") { try parse(text) }
    }

    static func error(_ bytes: [UInt8]) -> KafkaPropertiesError? {
        #expect(throws: KafkaPropertiesError.self) { try KafkaPropertiesFile.parse(bytes, path: path) }
    }

    @Test func theThreeSeparatorsOfJavaPropertiesWithBlanksAroundThem() throws {
        let values = try Self.values("""
            a=1
            b: 2
            c 3
            d   =   4
            e\t:\t5
            f==6
            g = = 7
            h :x
            i=
            j:
            """)
        #expect(values == ["a": "1", "b": "2", "c": "3", "d": "4", "e": "5", "f": "=6", "g": "= 7", "h": "x", "i": "", "j": ""])
    }

    @Test func commentsAndBlankLinesAreSkippedAndEntriesKeepTheirLineNumbers() throws {
        let properties = try Self.parse("""
            # a comment
            ! another one
               # an indented comment
            \t
            security.protocol=SASL_SSL
            sasl.mechanism=SCRAM-SHA-512 # not a comment: part of the value

            \t   sasl.username   =   alice in wonderland   \t
            """)
        #expect(properties.map(\.key) == ["security.protocol", "sasl.mechanism", "sasl.username"])
        #expect(properties.map(\.value) == ["SASL_SSL", "SCRAM-SHA-512 # not a comment: part of the value", "alice in wonderland"])
        #expect(properties.map(\.source) == [5, 6, 8].map { KafkaPropertySource.file(path: Self.path, line: $0) })
    }

    @Test func backslashContinuesTheLineAndTheNextLinesLeadingBlanksAreDropped() throws {
        let properties = try Self.parse("""
            first=1
            sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
                username="alice" \\
                \t  password="x";
            after=2
            """)
        #expect(properties.map(\.key) == ["first", "sasl.jaas.config", "after"])
        #expect(properties[1].value == #"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="x";"#)
        #expect(properties[1].source == .file(path: Self.path, line: 2), "an entry is located at its first line")
        #expect(properties[2].source == .file(path: Self.path, line: 5))
    }

    @Test func anEvenNumberOfTrailingBackslashesIsAnEscapedBackslashNotAContinuation() throws {
        let values = try Self.values("""
            a=C:\\\\dir\\\\
            b=2
            """)
        #expect(values == ["a": #"C:\dir\"#, "b": "2"])
    }

    @Test func aContinuationLineThatLooksLikeACommentIsPartOfTheValue() throws {
        #expect(try Self.values("a=x\\\n  # y\n") == ["a": "x# y"])
    }

    @Test func aContinuationOnTheLastLineEndsTheEntry() throws {
        #expect(try Self.values("a=x\\") == ["a": "x"])
        #expect(try Self.values("a=x\\\n") == ["a": "x"])
        #expect(try Self.values("a=x\\\n\nb=y") == ["a": "x", "b": "y"], "an empty line ends a continued entry")
    }

    @Test func escapesOfJavaPropertiesAndAnEscapedTrailingBlankIsKept() throws {
        let values = try Self.values(##"v=tab\there\u0041\u00e9\=\:\#\!\\\ "## + "\n" + #"w=\uD83D\uDE00 \n\r\f"#)
        #expect(values["v"] == "tab\there" + "Aé=:#!\\ ")
        #expect(values["w"] == "😀 \n\r\u{0C}")
        // An escaped separator belongs to the key, and no librdkafka name has one.
        #expect(Self.error("k\\=ey=1")?.message.contains("letters, digits") == true)
    }

    @Test func crlfAndLoneCRLineEndsAndAByteOrderMark() throws {
        let text: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("a=1\r\nb=2\rc=3\n\r\nd=4".utf8)
        let properties = try KafkaPropertiesFile.parse(text, path: Self.path)
        #expect(properties.map(\.key) == ["a", "b", "c", "d"])
        #expect(properties.map(\.value) == ["1", "2", "3", "4"])
        #expect(properties.map(\.source) == [1, 2, 3, 5].map { KafkaPropertySource.file(path: Self.path, line: $0) })
    }

    @Test func nonAsciiValuesAreUTF8() throws {
        #expect(try Self.values("sasl.password=pässwörd-日本") == ["sasl.password": "pässwörd-日本"])
    }

    // MARK: Errors

    /// Every malformed line holds this; no error text may.
    static let secret = "hunter2-Zq9x"

    @Test func malformedLinesNameFileAndLineAndNeverTheSecretOnThem() throws {
        let cases: [(text: String, line: Int, says: String)] = [
            ("ok=1\n=\(Self.secret)", 2, "missing property name"),
            ("ok=1\n\n\(Self.secret)", 3, "without a value"),
            ("sasl.password=\(Self.secret)\\u12G4", 1, "malformed \\uXXXX"),
            ("sasl.password=\(Self.secret)\\u12", 1, "malformed \\uXXXX"),
            ("sasl.password=\(Self.secret)\\uD800", 1, "unpaired"),
            ("sasl.password=\(Self.secret)\\uDC00x", 1, "unpaired"),
            ("sasl.password=\(Self.secret)\\u0000", 1, "NUL"),
            ("\"sasl.password\"=\(Self.secret)", 1, "letters, digits"),
            ("a=1\nb=2\\\n  \(Self.secret)\\u00\nc=3", 2, "malformed"),
        ]
        for (text, line, says) in cases {
            let error = try #require(Self.error(text))
            #expect(error.source == .file(path: Self.path, line: line), "\(text.debugDescription): \(error)")
            #expect(error.description.hasPrefix("\(Self.path):\(line): "), "\(error)")
            #expect(error.description.contains(says), "\(text.debugDescription): \(error)")
            #expect(!error.description.contains(Self.secret), "the secret leaked: \(error)")
            #expect(!error.description.contains("hunter2"), "part of the secret leaked: \(error)")
        }
    }

    @Test func invalidUTF8IsAnErrorThatQuotesNothing() throws {
        let bytes = Array("a=1\nsasl.password=\(Self.secret)".utf8) + [0xFF, 0xFE] + Array("\n".utf8)
        let error = try #require(Self.error(bytes))
        #expect(error.description == "\(Self.path):2: the value is not valid UTF-8")
    }

    // MARK: Files on disk

    @Test func aFileReadableByOthersDrawsAWarningNamingItsModeAndOwnerOnlyDoesNot() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("client.properties").path
        try "security.protocol=SASL_SSL\nsasl.password=\(Self.secret)\n".write(toFile: path, atomically: false, encoding: .utf8)

        for mode in [0o644, 0o640, 0o604, 0o660, 0o620] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            let (properties, warning) = try KafkaPropertiesFile.load(path: path)
            #expect(properties.map(\.key) == ["security.protocol", "sasl.password"])
            let text = try #require(warning, "mode \(String(mode, radix: 8)) drew no warning")
            #expect(text.contains(path) && text.contains("mode 0\(String(mode, radix: 8))") && text.contains("chmod 600"), "\(text)")
            #expect(!text.contains(Self.secret))
        }
        for mode in [0o600, 0o400] {
            try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
            #expect(try KafkaPropertiesFile.load(path: path).warning == nil, "mode \(String(mode, radix: 8))")
        }
        let missing = #expect(throws: KafkaPropertiesError.self) { try KafkaPropertiesFile.load(path: path + ".missing") }
        #expect(missing?.description == "\(path).missing: cannot open: No such file or directory")
    }
}
