import Foundation
import Testing

/// The Dockerfile against the repository: stages, what is built, what is copied, and how it runs.
/// Docker's own rules (pinned base images, `COPY --from` an earlier stage, not root, exec-form ENTRYPOINT, apt and
/// shell hygiene) are hadolint's: see FieldToolsTests.
@Suite("Dockerfile")
struct DockerfileTests {
    // MARK: Fixtures

    private let dockerfile: DockerfileModel

    init() throws {
        dockerfile = try DockerfileModel.load()
    }

    private func stage(_ name: String) throws -> DockerfileModel.Stage {
        try #require(dockerfile.stage(named: name), "Dockerfile has no stage '\(name)'")
    }

    private var runtime: DockerfileModel.Stage {
        get throws { try #require(dockerfile.stages.last, "Dockerfile has no FROM") }
    }

    // MARK: Stages

    @Test func buildsWithSwiftAndRunsOnSlimDebian() throws {
        #expect(try stage("build").image.hasPrefix("swift:"))
        let runtime = try runtime
        #expect(runtime.name == "runtime")
        #expect(runtime.image.hasPrefix("debian:") && runtime.image.hasSuffix("-slim"),
                "runtime base: \(runtime.image)")
    }

    @Test func buildStageBuildsTheFeedloopProductInReleaseMode() throws {
        let script = try stage("build").runScript
        let build = try #require(script.range(of: "swift build"), "build stage never runs swift build")
        let command = script[build.lowerBound...].prefix { $0 != "&" && $0 != "\n" }
        #expect(command.contains("-c release"), "not a release build: \(command)")
        #expect(command.contains("--product feedloop"), "does not build the feedloop product: \(command)")
        let manifest = try Repository.text("Package.swift")
        #expect(manifest.contains(".executable(name: \"feedloop\""), "Package.swift declares no feedloop product")
        #expect(try stage("build").runScript.contains("librdkafka-dev"), "CRdKafka needs librdkafka headers")
        for package in ["zlib1g-dev", "libzstd-dev"] {
            #expect(try stage("build").runScript.contains(package), "CZlib and CZstd need \(package)")
        }
    }

    @Test func manifestIsResolvedBeforeSourcesAreCopied() throws {
        let instructions = try stage("build").instructions
        let copyManifest = instructions.firstIndex { $0.keyword == "COPY" && $0.copySources == ["Package.swift"] }
        let resolve = instructions.firstIndex { $0.keyword == "RUN" && $0.arguments.contains("swift package resolve") }
        let copySources = instructions.firstIndex { $0.keyword == "COPY" && $0.copySources.contains("Sources") }
        let first = try #require(copyManifest, "Package.swift is not copied on its own")
        let second = try #require(resolve, "no swift package resolve")
        let third = try #require(copySources, "Sources is never copied")
        #expect(first < second && second < third, "copy manifest → resolve → copy sources, for layer caching")
    }

    // MARK: Build context

    @Test func everyCopySourceExistsAndReachesTheBuildContext() throws {
        let ignore = try DockerIgnore.load()
        let copies = dockerfile.stages.flatMap { $0.instructions("COPY") + $0.instructions("ADD") }
        let fromContext = copies.filter { $0.flags["from"] == nil }
        #expect(!fromContext.isEmpty)
        for copy in fromContext {
            for source in copy.copySources {
                #expect(Repository.exists(source), "line \(copy.line): COPY source \(source) does not exist")
                #expect(ignore.admits(source), "line \(copy.line): \(source) is excluded by .dockerignore")
            }
        }
    }

    /// The context is an allowlist; local build folders, the venv, downloaded data and runtime files stay out.
    @Test func buildContextLeavesOutLocalBuildsVenvDataAndRuntimeFiles() throws {
        let ignore = try DockerIgnore.load()
        for path in [".build", ".build-release", ".swiftpm", ".venv", "data", "runtime", "Package.resolved"] {
            #expect(!ignore.admits(path), ".dockerignore lets \(path) into the build context")
        }
    }

    @Test func everyPackageTargetFolderIsCopiedIntoTheBuildStage() throws {
        let manifest = try Repository.text("Package.swift")
        let copied = try stage("build").instructions("COPY").flatMap(\.copySources).map(Repository.normalized)
        // Each declaration's arguments run to the next declaration; `path:` may follow `dependencies:`.
        let declaration = try Regex(
            #"\.(target|executableTarget|testTarget|systemLibrary|plugin|macro)\(\s*name:\s*"([^"]+)""#)
        let explicitPath = try Regex(#"path:\s*"([^"]+)""#)
        let matches = manifest.matches(of: declaration)
        var folders: [String] = []
        for (index, match) in matches.enumerated() {
            guard let kind = match.output[1].substring, let name = match.output[2].substring else { continue }
            let end = index + 1 < matches.count ? matches[index + 1].range.lowerBound : manifest.endIndex
            if let path = manifest[match.range.upperBound..<end].firstMatch(of: explicitPath)?.output[1].substring {
                folders.append(Repository.normalized(String(path)))
            } else {
                let parent = kind == "testTarget" ? "Tests" : (kind == "plugin" ? "Plugins" : "Sources")
                folders.append(parent + "/" + name)
            }
        }
        #expect(folders.contains("Sources/feedloop") && folders.contains("Tests/DeploymentTests"))
        for folder in folders {
            #expect(copied.contains { folder == $0 || folder.hasPrefix($0 + "/") },
                    "target folder \(folder) is not copied into the build stage (SwiftPM needs every target)")
        }
    }

    /// hadolint checks that `--from` names an earlier stage (DL3022); this, that the stage writes what is copied.
    @Test func copyFromTakesPathsTheStageWrites() {
        var earlier: [String: DockerfileModel.Stage] = [:]
        for stage in dockerfile.stages {
            for copy in stage.instructions("COPY") {
                guard let from = copy.flags["from"], let source = earlier[from] else { continue }
                for path in copy.copySources {
                    #expect(source.runScript.contains(path),
                            "line \(copy.line): stage \(from) never writes \(path)")
                }
            }
            if let name = stage.name { earlier[name] = stage }
        }
    }

    // MARK: Runtime

    /// hadolint fails a last USER that is root (DL3002) and a shell-form ENTRYPOINT (DL3025), but not a stage
    /// without USER.
    @Test func runtimeRunsFeedloopAsAnUnprivilegedUser() throws {
        let runtime = try runtime
        #expect(!runtime.instructions("USER").isEmpty, "runtime stage has no USER: it runs as root")
        #expect(runtime.instructions("ENTRYPOINT").last?.words == ["feedloop"])
        #expect(runtime.instructions("COPY").contains { $0.copyDestination == "/usr/local/bin/feedloop" },
                "feedloop is not installed on PATH")
    }

    /// Debian's librdkafka 2.0.2 skips tagged fields one byte short (fixed in 2.1.2); the image must not use it.
    @Test func runtimeLibrdkafkaIncludesTheTaggedFieldFix() throws {
        let runtime = try runtime
        #expect(!runtime.runScript.contains("librdkafka1"), "runtime installs Debian's librdkafka1 (2.0.2)")
        let library = try stage("librdkafka")
        let prefix = "CONFLUENT_KAFKA_VERSION="
        let argument = try #require(library.instructions("ARG").first { $0.arguments.hasPrefix(prefix) })
        let version = argument.arguments.dropFirst(prefix.count).split(separator: ".").compactMap { Int($0) }
        #expect(version.count == 3 && version.lexicographicallyPrecedes([2, 1, 2]) == false,
                "confluent-kafka \(argument.arguments) bundles a librdkafka without the fix")
        let copy = try #require(runtime.instructions("COPY").first { $0.flags["from"] == "librdkafka" })
        let destination = try #require(copy.copyDestination)
        #expect(destination.hasSuffix("/librdkafka.so.1"), "the binary links librdkafka.so.1, got \(destination)")
        let folder = String(destination.dropLast("/librdkafka.so.1".count))
        let environment = runtime.instructions("ENV").flatMap(\.words)
        let searchPath = environment.first { $0.hasPrefix("LD_LIBRARY_PATH=") }?.dropFirst("LD_LIBRARY_PATH=".count)
        #expect(searchPath?.split(separator: ":").contains(Substring(folder)) == true,
                "LD_LIBRARY_PATH does not include \(folder): \(environment)")
    }
}
