// swift-tools-version:6.1
// The harness of `bench/instructions` (not part of the Feedloop package): runs the pipeline step synchronously on an
// event log, so valgrind's callgrind can count its instructions (it cannot follow the `feedloop` CLI's async main).
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name (`main`, a clone's temp folder, …).
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../..").standardized
let package = Package(
    name: "feedloop-instructions",
    dependencies: [.package(path: root.path)],
    targets: [
        .executableTarget(
            name: "feedloop-instructions",
            dependencies: [.product(name: "Pipelines", package: root.lastPathComponent)],
            path: "Sources"
        )
    ]
)
