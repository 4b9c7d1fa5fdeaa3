import Foundation

/// The repository checkout these tests read: the real files, found from this source file's location.
enum Repository {
    // MARK: Location

    /// Root of the repository (`Tests/DeploymentTests/Repository.swift` → three levels up).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()  // DeploymentTests
        .deletingLastPathComponent()  // Tests
        .deletingLastPathComponent()  // repository root

    /// Absolute URL of a repository-relative path (`./pipelines`, `Dockerfile`, `pipelines/x.yaml`).
    static func url(_ relativePath: String) -> URL {
        root.appendingPathComponent(normalized(relativePath))
    }

    /// `./a/b/` → `a/b`; `.` → empty.
    static func normalized(_ relativePath: String) -> String {
        var path = relativePath
        while path.hasPrefix("./") { path.removeFirst(2) }
        if path == "." { return "" }
        while path.hasSuffix("/") { path.removeLast() }
        return path
    }

    // MARK: Queries

    /// Whether the path exists (file or folder).
    static func exists(_ relativePath: String) -> Bool {
        FileManager.default.fileExists(atPath: url(relativePath).path)
    }

    /// UTF-8 contents of a repository file.
    static func text(_ relativePath: String) throws -> String {
        try String(contentsOf: url(relativePath), encoding: .utf8)
    }

    /// Repository-relative paths of the files under a folder whose names end with `suffix`, sorted.
    static func files(under relativeFolder: String, suffix: String) -> [String] {
        let base = url(relativeFolder)
        guard let walker = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil) else { return [] }
        var found: [String] = []
        for case let file as URL in walker where file.lastPathComponent.hasSuffix(suffix) {
            let relative = file.path.dropFirst(base.path.count).drop { $0 == "/" }
            found.append(normalized(relativeFolder) + "/" + relative)
        }
        return found.sorted()
    }
}
