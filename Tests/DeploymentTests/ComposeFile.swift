import Yams

/// The parts of a docker-compose file these tests check, read with Yams from the file's YAML nodes
/// (scalars keep their source text: `"9464"` and `9464` both read as `9464`).
struct ComposeFile {
    // MARK: Types

    /// A `volumes:` entry of a service, short (`src:dst[:mode]`) or long syntax.
    struct Mount: Equatable {
        /// Host path (bind mount) or volume name.
        let source: String
        /// Path inside the container.
        let target: String
        /// `:ro` or `read_only: true`.
        let readOnly: Bool

        /// Host paths start with `.`, `/` or `~`; anything else names a volume.
        var isBindMount: Bool { source.hasPrefix(".") || source.hasPrefix("/") || source.hasPrefix("~") }
    }

    /// One entry of `services:`.
    struct Service {
        let name: String
        let image: String?
        let buildContext: String?
        let dockerfile: String?
        /// `command:` as arguments (a string is split on whitespace, as Compose does for simple commands).
        let command: [String]
        let entrypoint: [String]
        let environment: [String: String]
        let mounts: [Mount]
        /// Dependency → condition (`service_started` for the list form).
        let dependsOn: [String: String]
        let ports: [String]
        let profiles: [String]
        let healthcheck: [String]
        let restart: String?

        /// `--name value` / `--name=value` pairs of `command:` (a flag without value maps to "").
        var commandOptions: [String: String] {
            var options: [String: String] = [:]
            var index = command.startIndex
            while index < command.endIndex {
                let argument = command[index]
                index += 1
                guard argument.hasPrefix("--") else { continue }
                if let equals = argument.firstIndex(of: "=") {
                    options[String(argument[..<equals])] = String(argument[argument.index(after: equals)...])
                } else if index < command.endIndex, !command[index].hasPrefix("--") {
                    options[argument] = command[index]
                    index += 1
                } else {
                    options[argument] = ""
                }
            }
            return options
        }

        /// `command:` joined into one text (for shell scripts given as a single string).
        var script: String { command.joined(separator: "\n") }

        /// Maps a container path to the repository-relative host path of the bind mount that covers it.
        func hostPath(forContainerPath path: String) -> String? {
            let candidates = mounts.filter { mount in
                mount.isBindMount && (path == mount.target || path.hasPrefix(mount.target + "/"))
            }
            guard let mount = candidates.max(by: { $0.target.count < $1.target.count }) else { return nil }
            let rest = path.dropFirst(mount.target.count).drop { $0 == "/" }
            let base = Repository.normalized(mount.source)
            return rest.isEmpty ? base : (base.isEmpty ? String(rest) : base + "/" + rest)
        }
    }

    // MARK: Properties

    /// Services by name.
    let services: [String: Service]

    // MARK: Loading

    /// Reads `relativePath` from the repository.
    static func load(_ relativePath: String = "docker-compose.yml") throws -> ComposeFile {
        guard let root = try Yams.compose(yaml: try Repository.text(relativePath)) else {
            throw LoadError.empty(relativePath)
        }
        var services: [String: Service] = [:]
        for (key, value) in root["services"]?.mapping ?? [:] {
            guard let name = key.string else { continue }
            services[name] = service(name: name, node: value)
        }
        return ComposeFile(services: services)
    }

    /// Why a file could not be read as a compose file.
    enum LoadError: Error {
        case empty(String)
    }

    // MARK: Parsing

    private static func service(name: String, node: Node) -> Service {
        let build = node["build"]
        let buildContext = build?.scalar != nil ? build?.string : build?["context"]?.string
        let dockerfile = build?.scalar != nil ? nil : build?["dockerfile"]?.string
        var dependsOn: [String: String] = [:]
        if let list = node["depends_on"]?.sequence {
            for dependency in list { if let name = dependency.string { dependsOn[name] = "service_started" } }
        } else {
            for (key, value) in node["depends_on"]?.mapping ?? [:] {
                if let name = key.string { dependsOn[name] = value["condition"]?.string ?? "service_started" }
            }
        }
        return Service(
            name: name,
            image: node["image"]?.string,
            buildContext: buildContext,
            dockerfile: dockerfile,
            command: arguments(node["command"]),
            entrypoint: arguments(node["entrypoint"]),
            environment: environment(node["environment"]),
            mounts: (node["volumes"]?.sequence.map(Array.init) ?? []).compactMap(mount),
            dependsOn: dependsOn,
            ports: strings(node["ports"]),
            profiles: strings(node["profiles"]),
            healthcheck: arguments(node["healthcheck"]?["test"]),
            restart: node["restart"]?.string)
    }

    private static func strings(_ node: Node?) -> [String] {
        node?.sequence.map { $0.compactMap { $0.string } } ?? []
    }

    private static func arguments(_ node: Node?) -> [String] {
        guard let node else { return [] }
        if let text = node.scalar?.string {
            return text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init)
        }
        return strings(node)
    }

    private static func environment(_ node: Node?) -> [String: String] {
        guard let node else { return [:] }
        var environment: [String: String] = [:]
        if let list = node.sequence {
            for entry in list {
                guard let text = entry.string else { continue }
                let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
                environment[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
        } else {
            for (key, value) in node.mapping ?? [:] {
                if let name = key.string { environment[name] = value.scalar?.string ?? "" }
            }
        }
        return environment
    }

    private static func mount(_ node: Node) -> Mount? {
        if let text = node.scalar?.string {
            let parts = text.split(separator: ":").map(String.init)
            guard parts.count >= 2 else { return nil }  // anonymous volume
            let mode = parts.count > 2 ? parts[2].split(separator: ",").map(String.init) : []
            return Mount(source: parts[0], target: parts[1], readOnly: mode.contains("ro"))
        }
        guard let source = node["source"]?.string, let target = node["target"]?.string else { return nil }
        return Mount(source: source, target: target, readOnly: node["read_only"]?.bool ?? false)
    }
}
