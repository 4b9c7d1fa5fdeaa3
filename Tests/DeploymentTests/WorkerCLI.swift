import Foundation

/// What the `feedloop` CLI sources (Sources/feedloop, swift-argument-parser) declare.
enum WorkerCLI {
    // MARK: Queries

    /// Whether some CLI source declares the `worker` subcommand.
    static var isWritten: Bool {
        cliSources().contains { $0.contains("commandName: \"worker\"") }
    }

    /// `--long` names of every `@Option`/`@Flag` in the CLI sources: `.customLong("x")`, otherwise the
    /// property name in kebab case (ArgumentParser's default).
    static func declaredOptions() throws -> Set<String> {
        try declaredOptions(in: cliSources())
    }

    /// `--long` names of every `@Option`/`@Flag` in these Swift sources.
    static func declaredOptions(in sources: [String]) throws -> Set<String> {
        var names: Set<String> = []
        // `@Option(...)` / `@Flag(...)` (arguments nest up to three parentheses deep), then `var name`.
        let attribute = try Regex(
            #"@(?:Option|Flag)(\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\))?\s*(?:public\s+)?var\s+(\w+)"#)
        let customLong = try Regex(#"customLong\("([^"]+)""#)
        for source in sources {
            for match in source.matches(of: attribute) {
                let arguments = match.output[1].substring.map(String.init) ?? ""
                if let custom = arguments.firstMatch(of: customLong), let name = custom.output[1].substring {
                    names.insert("--" + name)
                } else if let property = match.output[2].substring {
                    names.insert("--" + kebabCase(String(property)))
                }
            }
        }
        return names
    }

    // MARK: Helpers

    private static func cliSources() -> [String] {
        Repository.files(under: "Sources/feedloop", suffix: ".swift").compactMap { try? Repository.text($0) }
    }

    /// `checkpointDir` → `checkpoint-dir`, `brokerURL` → `broker-url` (ArgumentParser's conversion of
    /// property names: a new word starts at lower→upper, and at the last capital of a run before lowercase).
    static func kebabCase(_ name: String) -> String {
        let characters = Array(name)
        var result = ""
        for (index, character) in characters.enumerated() {
            if index > 0, character.isUppercase {
                let previous = characters[index - 1]
                let nextIsLower = index + 1 < characters.count && characters[index + 1].isLowercase
                if !previous.isUppercase || nextIsLower { result.append("-") }
            }
            result.append(contentsOf: character.lowercased())
        }
        return result
    }
}
