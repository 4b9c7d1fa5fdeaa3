// swift-tools-version:6.1
import PackageDescription

// Targets are the architecture (see README "Architecture"): one concern each,
// dependencies point one way: Learning/Events ← Pipelines ← Replay/Worker ← feedloop.
let package = Package(
    name: "Feedloop",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "feedloop", targets: ["feedloop"]),
        .library(name: "Learning", targets: ["Learning"]),
        .library(name: "Pipelines", targets: ["Pipelines"]),
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
        // glibc's mallopt (the worker fixes the mmap threshold so RSS does not step up over a long run).
        .systemLibrary(name: "CMalloc"),
        // Pure Swift online-learning core: hashing, models, optimizers, metrics, snapshots.
        .target(
            name: "Learning",
            // -fno-math-errno: Float.squareRoot() otherwise lowers to libm sqrtf (errno semantics), which blocks
            // SIMD sqrtps in the AdaGrad/FTRL factor updates (the measured gain: docs/benchmarks.md).
            swiftSettings: [.unsafeFlags(["-Ounchecked", "-Xcc", "-fno-math-errno"], .when(configuration: .release))]
        ),
        // Event schema, fast strict JSON decoding, dead-letter reasons.
        .target(name: "Events"),
        // Pipeline files (YAML) → validated Pipeline; the per-event step shared by worker and replay.
        .target(name: "Pipelines", dependencies: ["Learning", "Events", .product(name: "Yams", package: "Yams")]),
        // Small Swift API over librdkafka.
        .target(name: "Kafka", dependencies: ["CRdKafka", .product(name: "Logging", package: "swift-log")]),
        // Offline evaluation: sources, progressive validation, reports.
        .target(
            name: "Replay",
            dependencies: ["Pipelines", "Learning", "Events", "Kafka", .product(name: "Logging", package: "swift-log")]),
        // The long-running service: consume → pipeline → produce, checkpoints, metrics, graceful shutdown.
        .target(
            name: "Worker",
            dependencies: [
                "Pipelines", "Kafka", "Events", "Learning", "CMalloc",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
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
        .testTarget(name: "LearningTests", dependencies: ["Learning"]),
        .testTarget(name: "EventsTests", dependencies: ["Events"]),
        .testTarget(name: "PipelinesTests", dependencies: ["Pipelines"]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay"]),
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
