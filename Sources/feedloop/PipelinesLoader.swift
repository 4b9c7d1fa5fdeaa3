import ArgumentParser
import Pipelines

/// Loads a pipeline file for a command, printing a file:line:key error and exiting 2 when it is invalid.
enum PipelinesLoader {
    static func load(_ path: String) throws -> PipelineSpec {
        do {
            return try PipelineSpec.load(path: path)
        } catch {
            printError(error.description)
            throw ExitCode(2)
        }
    }
}
