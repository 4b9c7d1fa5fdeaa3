// swift-tools-version:6.1
import PackageDescription

// Targets are the architecture (README, "Architecture"): one concern each, dependencies point one way:
//   CCRC32C ← Persistence ← Learning; Learning, Events ← Pipelines ← Replay, Worker ← feedloop; Kafka ← Worker, feedloop;
//   CZlib, CZstd ← Replay.
// Replay knows no Kafka client (the CLI reads a topic range and feeds it in); only Worker and feedloop do.

// Release builds compile the Learning kernels with unsafe flags (-Ounchecked: no overflow or bounds checks in the
// hot loops; -fno-math-errno, see the target). SwiftPM refuses a product whose targets use `unsafeFlags` when its
// package is a dependency resolved by version (or branch): unsafe flags are allowed only in root packages and in
// local (path) dependencies, like bench/lib/instructions. A version is a tag, so a tagged checkout — what a client's
// SwiftPM resolves for `from: "x.y.z"` — builds without them: the library products stay usable as a versioned
// dependency, at the kernels' checked speed. Builds from a branch, a commit or a source tree without .git (the
// Dockerfile's) keep the flags.
let kernelsUseUnsafeFlags = Context.gitInformation?.currentTag == nil

let package = Package(
    name: "Feedloop",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "feedloop", targets: ["feedloop"]),
        .library(name: "Learning", targets: ["Learning"]),
        .library(name: "Pipelines", targets: ["Pipelines"]),
        .library(name: "Replay", targets: ["Replay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // The worker's HTTP server (/metrics, /healthz). No default traits: the swift-configuration reader and the
        // full-Foundation form coding are not used.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        // librdkafka through pkg-config (Debian: librdkafka-dev).
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"]), .brew(["librdkafka"])]
        ),
        // zlib and libzstd through pkg-config (Debian: zlib1g-dev, libzstd-dev): replay reads .gz and .zst logs.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"]), .brew(["zlib"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"]), .brew(["zstd"])]),
        // glibc's mallopt (the worker fixes the mmap threshold so RSS does not step up over a long run).
        .systemLibrary(name: "CMalloc"),
        // Files on disk: atomic writes (temp file, fsync, rename), CRC-32C-framed binary encoding, their errors.
        // Built with every check on: it reads files that may be corrupt.
        .target(name: "Persistence", dependencies: ["CCRC32C"]),
        // CRC-32C with the processor's instruction (SSE4.2, ARMv8 CRC32), checked for at run time.
        .target(name: "CCRC32C"),
        // Pure Swift online-learning core: hashing, models, optimizers, kernels, streaming metrics, model snapshots.
        .target(
            name: "Learning",
            dependencies: ["Persistence"],
            // -fno-math-errno: Float.squareRoot() otherwise lowers to libm sqrtf (errno semantics), which blocks
            // SIMD sqrtps in the AdaGrad/FTRL factor updates (the measured gain: docs/benchmarks.md).
            swiftSettings: kernelsUseUnsafeFlags
                ? [.unsafeFlags(["-Ounchecked", "-Xcc", "-fno-math-errno"], .when(configuration: .release))] : []
        ),
        // Event schema, fast strict JSON decoding, dead-letter reasons.
        .target(name: "Events"),
        // Pipeline files (YAML) → validated Pipeline; the per-event step shared by worker and replay.
        // Checkpoints are written here (Checkpoint.swift, CheckpointStore.swift), model snapshots in Learning.
        .target(name: "Pipelines", dependencies: ["Learning", "Events", "Persistence", .product(name: "Yams", package: "Yams")]),
        // Small Swift API over librdkafka.
        .target(name: "Kafka", dependencies: ["CRdKafka", .product(name: "Logging", package: "swift-log")]),
        // Offline evaluation: file replay, a stream fed message by message, progressive validation, reports.
        // Pipelines, and the Learning and Events types its reports and sinks name; zlib and libzstd for compressed
        // logs; no Kafka.
        .target(name: "Replay", dependencies: ["Pipelines", "Learning", "Events", "CZlib", "CZstd"]),
        // The long-running service: consume → pipeline → produce, checkpoints, metrics, graceful shutdown.
        .target(
            name: "Worker",
            dependencies: [
                "Pipelines", "Kafka", "Events", "Learning", "Persistence", "CMalloc",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The ranking API's own event-loop group (HTTPServer.Configuration.threads).
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ]
        ),
        .executableTarget(
            name: "feedloop",
            dependencies: [
                "Replay", "Pipelines", "Kafka", "Worker",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "LearningTests", dependencies: ["Learning", "Persistence"]),
        .testTarget(name: "EventsTests", dependencies: ["Events"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines", "Persistence"]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "Learning", "CZlib", "CZstd"]),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka"]),
        .testTarget(name: "WorkerTests", dependencies: [
            "Worker", "Kafka", "Pipelines", "Learning", "Events", .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        // The CLI's option parsing (the executable module, imported @testable).
        .testTarget(name: "FeedloopTests", dependencies: ["feedloop", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "DeploymentTests", dependencies: [.product(name: "Yams", package: "Yams")]),
    ]
)
