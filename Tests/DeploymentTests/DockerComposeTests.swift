import Foundation
import Testing

/// docker-compose.yml against the repository: images, paths, dependencies, topics and the pipeline it runs.
/// No Docker engine is needed (or available here): these read the real files. The Compose schema and its references
/// (declared volumes, defined `depends_on` targets, existing build contexts) are docker-compose's: see FieldToolsTests.
@Suite("docker-compose.yml")
struct DockerComposeTests {
    // MARK: Fixtures

    private let compose: ComposeFile

    init() throws {
        compose = try ComposeFile.load()
    }

    private func service(_ name: String) throws -> ComposeFile.Service {
        try #require(compose.services[name], "docker-compose.yml has no service '\(name)'")
    }

    /// The pipeline file named by the worker's `--pipeline`, as a repository-relative path.
    private func workerPipelinePath() throws -> String {
        let worker = try service("worker")
        let containerPath = try #require(worker.commandOptions["--pipeline"], "worker command has no --pipeline")
        return try #require(
            worker.hostPath(forContainerPath: containerPath),
            "--pipeline \(containerPath) is not inside a bind mount of the worker")
    }

    /// Topics that topics-init creates (`--topic NAME` on lines that also say `--create`), with their lines.
    private func createdTopics() throws -> [String: String] {
        let script = try service("topics-init").script
        var topics: [String: String] = [:]
        for line in script.split(separator: "\n").map(String.init) where line.contains("--create") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            for (index, word) in words.enumerated() where word == "--topic" && index + 1 < words.count {
                topics[words[index + 1]] = line
            }
            for word in words where word.hasPrefix("--topic=") {
                topics[String(word.dropFirst("--topic=".count))] = line
            }
        }
        return topics
    }

    // MARK: Services and images

    @Test func declaresKafkaTopicsInitAndWorkerServices() {
        for name in ["kafka", "topics-init", "worker"] {
            #expect(compose.services[name] != nil, "missing service \(name)")
        }
    }

    @Test func everyImageIsPinnedToAnExplicitTagOtherThanLatest() {
        for service in compose.services.values {
            guard let image = service.image else { continue }
            if image.contains("@sha256:") { continue }
            let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
            let tag = lastComponent.split(separator: ":", maxSplits: 1).dropFirst().first.map(String.init)
            #expect(tag != nil, "\(service.name): image \(image) has no tag (means :latest)")
            #expect(tag != "latest", "\(service.name): image \(image) is not pinned")
        }
    }

    /// docker-compose checks that the build context exists, not the Dockerfile in it.
    @Test func dockerfilesOfBuiltServicesExistInTheRepository() {
        let built = compose.services.values.filter { $0.buildContext != nil }
        #expect(!built.isEmpty, "no service is built from this repository")
        for service in built {
            let context = service.buildContext ?? ""
            let dockerfile = Repository.normalized(context).isEmpty
                ? (service.dockerfile ?? "Dockerfile")
                : Repository.normalized(context) + "/" + (service.dockerfile ?? "Dockerfile")
            #expect(Repository.exists(dockerfile), "\(service.name): \(dockerfile) does not exist")
        }
    }

    /// Services that start by default must start from a fresh clone; opt-in profiles may read generated data,
    /// but only from data/, which scripts/fetch-movielens writes.
    @Test func hostBindMountsExistOrAreGeneratedData() throws {
        let fetchScript = try Repository.text("scripts/fetch-movielens")
        for service in compose.services.values {
            for mount in service.mounts where mount.isBindMount {
                #expect(!mount.source.hasPrefix("/") && !mount.source.hasPrefix("~") && !mount.source.contains(".."),
                        "\(service.name): bind mount \(mount.source) points outside the repository")
                let path = Repository.normalized(mount.source)
                if service.profiles.isEmpty || !path.hasPrefix("data/") {
                    #expect(Repository.exists(path),
                            "\(service.name): bind mount source \(mount.source) does not exist")
                } else {
                    #expect(fetchScript.contains(path),
                            "\(service.name): \(path) is not written by scripts/fetch-movielens")
                }
            }
        }
    }

    // MARK: Start order

    /// docker-compose checks that the dependency exists and the condition is known; these fail only at `up`.
    @Test func healthyConditionsHaveHealthchecksAndDefaultServicesDependOnDefaultServices() {
        for service in compose.services.values {
            for (dependency, condition) in service.dependsOn {
                guard let target = compose.services[dependency] else { continue }
                if condition == "service_healthy" {
                    #expect(!target.healthcheck.isEmpty, "\(dependency) has no healthcheck to wait for")
                }
                #expect(target.profiles.isEmpty || !service.profiles.isEmpty,
                        "\(service.name) starts by default but depends on \(dependency), which is in a profile")
            }
        }
    }

    @Test func workerStartsOnlyAfterTopicsExistAndTopicsOnlyAfterKafkaIsHealthy() throws {
        #expect(try service("worker").dependsOn["topics-init"] == "service_completed_successfully")
        #expect(try service("topics-init").dependsOn["kafka"] == "service_healthy")
        #expect(try service("topics-init").restart == "no", "a one-shot must not be restarted")
        #expect(try service("worker").restart == "unless-stopped")
    }

    // MARK: Pipeline and topics

    @Test func workerPipelineFileExistsUnderPipelines() throws {
        let path = try workerPipelinePath()
        #expect(path.hasPrefix("pipelines/"), "worker runs \(path), not a file of pipelines/")
        #expect(Repository.exists(path), "worker pipeline \(path) does not exist")
        let mount = try service("worker").mounts.first { Repository.normalized($0.source) == "pipelines" }
        #expect(mount?.readOnly == true, "pipelines/ must be mounted read-only")
    }

    @Test func topicsInitCreatesEveryTopicTheWorkerPipelineReadsAndWrites() throws {
        let topics = try PipelineTopics.load(try workerPipelinePath())
        let created = try createdTopics()
        for topic in topics.all.sorted() {
            #expect(created[topic] != nil, "topics-init does not create '\(topic)' (created: \(created.keys.sorted()))")
        }
    }

    @Test func scoresTopicIsCompacted() throws {
        let topics = try PipelineTopics.load(try workerPipelinePath())
        let line = try #require(try createdTopics()[topics.scores], "topics-init does not create \(topics.scores)")
        #expect(line.contains("cleanup.policy=compact"), "\(topics.scores) must be compacted: \(line)")
    }

    @Test func everyClientConnectsToAnAdvertisedListener() throws {
        let advertised = try service("kafka").environment["KAFKA_ADVERTISED_LISTENERS"] ?? ""
        let addresses = Set(advertised.split(separator: ",").compactMap { $0.components(separatedBy: "://").last })
        let brokers = try #require(try service("worker").commandOptions["--brokers"], "worker command has no --brokers")
        #expect(addresses.contains(brokers), "worker --brokers \(brokers) is not advertised (\(advertised))")
        for name in compose.services.keys.sorted() where name != "kafka" {
            let script = try service(name).script
            for match in script.matches(of: try Regex(#"--bootstrap-server[ =]+([^\s"']+)"#)) {
                let address = String(match.output[1].substring ?? "")
                #expect(addresses.contains(address), "\(name) bootstraps from \(address), not advertised")
            }
        }
    }

    // MARK: Kafka

    @Test func kafkaRunsInKRaftModeWithoutZooKeeper() throws {
        let environment = try service("kafka").environment
        let roles = Set((environment["KAFKA_PROCESS_ROLES"] ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        })
        #expect(roles == ["broker", "controller"], "single node must be broker and controller, got \(roles)")
        let nodeID = try #require(environment["KAFKA_NODE_ID"])
        let voters = environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] ?? ""
        #expect(voters.hasPrefix("\(nodeID)@"), "quorum voters \(voters) do not name node \(nodeID)")
        let controllerListener = try #require(environment["KAFKA_CONTROLLER_LISTENER_NAMES"])
        #expect((environment["KAFKA_LISTENERS"] ?? "").contains("\(controllerListener)://"))
        #expect(environment["CLUSTER_ID"]?.count == 22, "CLUSTER_ID must be a base64 UUID (22 characters)")
        for service in compose.services.values {
            #expect(!(service.image ?? "").lowercased().contains("zookeeper"), "\(service.name) runs ZooKeeper")
            for key in service.environment.keys {
                #expect(!key.uppercased().contains("ZOOKEEPER"), "\(service.name) sets \(key)")
            }
        }
    }

    // MARK: Worker

    @Test func workerCheckpointsLiveInANamedVolume() throws {
        let worker = try service("worker")
        let directory = try #require(
            worker.commandOptions["--checkpoint-dir"], "worker command has no --checkpoint-dir")
        let mount = worker.mounts.first { $0.target == directory }
        #expect(mount != nil && mount?.isBindMount == false, "--checkpoint-dir \(directory) is not a named volume")
        #expect(mount?.readOnly == false)
    }

    @Test func workerMetricsPortIsPublishedOnLoopbackAndHealthChecked() throws {
        let worker = try service("worker")
        let port = try #require(worker.commandOptions["--metrics-port"], "worker command has no --metrics-port")
        #expect(worker.commandOptions["--metrics-host"] == "0.0.0.0",
                "the metrics endpoint must listen on all interfaces inside the container")
        #expect(worker.ports.contains("127.0.0.1:\(port):\(port)"), "metrics port \(port) not published on 127.0.0.1")
        let probe = worker.healthcheck.joined(separator: " ")
        #expect(probe.contains("127.0.0.1/\(port)") && probe.contains("GET /healthz "),
                "healthcheck does not probe GET /healthz (the loop's liveness) on \(port): \(probe)")
    }

    @Test func workerCommandUsesOnlyOptionsTheCLIDeclares() throws {
        let worker = try service("worker")
        #expect(worker.command.first == "worker")
        #expect(WorkerCLI.isWritten, "no CLI source declares the worker subcommand (commandName: \"worker\")")
        let declared = try WorkerCLI.declaredOptions()
        for option in worker.commandOptions.keys.sorted() {
            #expect(declared.contains(option), "feedloop declares no option \(option) (declared: \(declared.sorted()))")
        }
    }

    @Test func workerCLIOptionNamesAreReadLikeArgumentParserDerivesThem() throws {
        let source = """
            @Option(name: .customLong("metrics-host"), help: "Address (default: 127.0.0.1).")
            var metricsAddress: String = "127.0.0.1"
            @Option(help: ArgumentHelp("Folder", discussion: "(atomic writes)")) var checkpointDir: String?
            @Flag var verbose = false
            @Option var brokerURL: String
            var notAnOption = 1
            """
        let names = try WorkerCLI.declaredOptions(in: [source])
        #expect(names == ["--metrics-host", "--checkpoint-dir", "--verbose", "--broker-url"])
    }

    @Test func workerImageExposesTheMetricsPortAndCheckpointVolume() throws {
        let worker = try service("worker")
        let runtime = try #require(try DockerfileModel.load().stages.last)
        let exposed = runtime.instructions("EXPOSE").flatMap(\.words)
        #expect(exposed.contains(worker.commandOptions["--metrics-port"] ?? "-"), "Dockerfile EXPOSE \(exposed)")
        let volumes = runtime.instructions("VOLUME").flatMap(\.words)
        #expect(volumes.contains(worker.commandOptions["--checkpoint-dir"] ?? "-"), "Dockerfile VOLUME \(volumes)")
    }
}
