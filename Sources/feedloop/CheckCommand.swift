import ArgumentParser
import Pipelines

/// `feedloop check`: validates pipeline files without running them.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate pipeline files (fails naming file, line and key).")

    @Argument(help: "Pipeline YAML files.")
    var pipelines: [String]

    func run() throws {
        for path in pipelines {
            do {
                let spec = try PipelineSpec.load(path: path)
                print("\(path): ok (\(spec.name): \(spec.features.namespaces.count) namespaces, \(spec.features.crosses.count) crosses, 2^\(spec.features.bits) buckets)")
            } catch {
                printError(error.description)
                throw ExitCode(2)
            }
        }
    }
}

func printError(_ message: String) {
    var stderr = StandardError()
    print("error: \(message)", to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleWriter.write(string)
    }
}
