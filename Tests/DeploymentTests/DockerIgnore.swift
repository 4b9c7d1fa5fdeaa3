/// The subset of `.dockerignore` semantics these tests need: plain paths and `*`, with `!` re-includes;
/// later lines win, a folder's rule covers what is inside it.
struct DockerIgnore {
    // MARK: Properties

    /// Patterns in file order: (path, re-included?).
    let rules: [(pattern: String, include: Bool)]

    // MARK: Loading

    /// Reads `.dockerignore` from the repository (no file: nothing is ignored).
    static func load(_ relativePath: String = ".dockerignore") throws -> DockerIgnore {
        guard Repository.exists(relativePath) else { return DockerIgnore(rules: []) }
        let rules = try Repository.text(relativePath)
            .split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") }
            .map { line in
                line.hasPrefix("!")
                    ? (pattern: Repository.normalized(String(line.dropFirst())), include: true)
                    : (pattern: Repository.normalized(line), include: false)
            }
        return DockerIgnore(rules: rules)
    }

    // MARK: Queries

    /// Whether a repository-relative path reaches the build context.
    func admits(_ relativePath: String) -> Bool {
        let path = Repository.normalized(relativePath)
        var admitted = true
        for rule in rules where Self.matches(rule.pattern, path) {
            admitted = rule.include
        }
        return admitted
    }

    private static func matches(_ pattern: String, _ path: String) -> Bool {
        if pattern == "*" { return true }
        if pattern.contains("*") { return false }  // globs below the top level: not needed here
        return path == pattern || path.hasPrefix(pattern + "/")
    }
}
