import Foundation

/// A Dockerfile split into stages and instructions: comments dropped, `\` continuations joined
/// (comment lines inside a continued instruction are dropped too, as Docker does).
struct DockerfileModel {
    // MARK: Types

    /// One instruction: upper-cased keyword and the rest of the (joined) line.
    struct Instruction {
        let keyword: String
        let arguments: String
        /// 1-based line of the keyword, for messages.
        let line: Int

        /// Whitespace-separated words of `arguments`, or the elements of its JSON (exec) form.
        var words: [String] {
            if let json = jsonArray { return json }
            return arguments.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }

        /// `arguments` parsed as a JSON array of strings (exec form), if it is one.
        var jsonArray: [String]? {
            let trimmed = arguments.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix("[") else { return nil }
            return try? JSONDecoder().decode([String].self, from: Data(trimmed.utf8))
        }

        /// `--name=value` flags at the start of `words` (COPY --from=…, --chown=…).
        var flags: [String: String] {
            var flags: [String: String] = [:]
            for word in words.prefix(while: { $0.hasPrefix("--") }) {
                let parts = word.dropFirst(2).split(separator: "=", maxSplits: 1).map(String.init)
                flags[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            return flags
        }

        /// COPY/ADD: the source paths (every word after the flags but the last).
        var copySources: [String] {
            let operands = Array(words.drop { $0.hasPrefix("--") })
            return Array(operands.dropLast())
        }

        /// COPY/ADD: the destination (last word).
        var copyDestination: String? { words.drop { $0.hasPrefix("--") }.last }
    }

    /// `FROM image [AS name]` and the instructions up to the next FROM.
    struct Stage {
        let image: String
        let name: String?
        var instructions: [Instruction]

        /// Instructions with this keyword, in order.
        func instructions(_ keyword: String) -> [Instruction] {
            instructions.filter { $0.keyword == keyword }
        }

        /// All RUN commands of the stage, joined.
        var runScript: String { instructions("RUN").map(\.arguments).joined(separator: "\n") }
    }

    // MARK: Properties

    /// Instructions before the first FROM (ARG).
    let preamble: [Instruction]
    /// Stages in file order.
    let stages: [Stage]

    /// The stage with this `AS` name.
    func stage(named name: String) -> Stage? { stages.first { $0.name == name } }

    // MARK: Loading

    /// Reads and parses a repository file.
    static func load(_ relativePath: String = "Dockerfile") throws -> DockerfileModel {
        parse(try Repository.text(relativePath))
    }

    /// Parses Dockerfile text.
    static func parse(_ text: String) -> DockerfileModel {
        var preamble: [Instruction] = []
        var stages: [Stage] = []
        for instruction in instructions(text) {
            if instruction.keyword == "FROM" {
                let words = instruction.words.filter { !$0.hasPrefix("--") }
                let name = words.count >= 3 && words[1].uppercased() == "AS" ? words[2] : nil
                stages.append(Stage(image: words.first ?? "", name: name, instructions: []))
            } else if stages.isEmpty {
                preamble.append(instruction)
            } else {
                stages[stages.count - 1].instructions.append(instruction)
            }
        }
        return DockerfileModel(preamble: preamble, stages: stages)
    }

    private static func instructions(_ text: String) -> [Instruction] {
        var result: [Instruction] = []
        var pending: (keyword: String, arguments: String, line: Int)?
        for (offset, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") { continue }
            if line.isEmpty && pending == nil { continue }
            let continues = line.hasSuffix("\\")
            let content = continues ? String(line.dropLast()) : line
            if var current = pending {
                current.arguments += " " + content
                pending = current
            } else {
                let keyword = content.prefix { !$0.isWhitespace }
                let arguments = content.dropFirst(keyword.count).trimmingCharacters(in: .whitespaces)
                pending = (keyword.uppercased(), arguments, offset + 1)
            }
            if !continues, let done = pending {
                result.append(Instruction(
                    keyword: done.keyword,
                    arguments: done.arguments.trimmingCharacters(in: .whitespaces),
                    line: done.line))
                pending = nil
            }
        }
        return result
    }
}
