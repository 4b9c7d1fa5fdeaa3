import Foundation
import Testing

/// The Dockerfile and docker-compose.yml checked by the field's own tools: hadolint (Docker's best practices, plus
/// ShellCheck on every RUN) and docker-compose's schema and reference checks. The other tests of this target check
/// only what these tools cannot know: how the files fit the rest of the repository.
@Suite("hadolint and docker-compose config")
struct FieldToolsTests {
    /// Everything hadolint reports fails, style findings included. A finding is fixed in the Dockerfile, or, where
    /// the rule does not fit, ignored on the line above the instruction with `# hadolint ignore=DLxxxx` and a comment
    /// saying why.
    @Test func hadolintReportsNothingOnTheDockerfile() throws {
        let hadolint = try DeploymentTools.hadolint()
        let run = try DeploymentTools.run(hadolint, ["--no-color", "--failure-threshold", "style", "Dockerfile"])
        #expect(run.status == 0 && run.output.isEmpty, """
            `\(run.command)` (\(run.outcome)) reports:
            \(run.output)
            Fix the Dockerfile, or ignore a rule that does not fit with `# hadolint ignore=DLxxxx` above the \
            instruction and a comment saying why.
            """)
    }

    /// `docker-compose config` validates the file against the Compose schema (unknown keys, wrong types) and checks
    /// its references (named volumes declared, `depends_on` targets defined, build contexts present, `$` variables
    /// set). Debian's docker-compose 1.29 predates the top-level `name:` key, so it reads a copy without that line;
    /// relative paths still resolve against the repository (`--project-directory`). Warnings fail too.
    @Test func dockerComposeConfigAcceptsTheComposeFile() throws {
        let dockerCompose = try DeploymentTools.dockerCompose()
        let lines = try Repository.text("docker-compose.yml").split(separator: "\n", omittingEmptySubsequences: false)
        let copy = lines.filter { !$0.hasPrefix("name:") }.joined(separator: "\n")
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("feedloop-compose-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("docker-compose.yml")
        try copy.write(to: file, atomically: true, encoding: .utf8)

        let run = try DeploymentTools.run(
            dockerCompose, ["--project-directory", Repository.root.path, "-f", file.path, "config", "--quiet"])
        #expect(run.status == 0 && run.output.isEmpty, """
            `\(run.command)` (\(run.outcome); docker-compose.yml without its top-level `name:` line) reports:
            \(run.output)
            """)
    }
}
