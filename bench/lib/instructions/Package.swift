// swift-tools-version:6.1
// The harness of `bench/instructions` (not part of the Feedloop package): runs the pipeline step synchronously on an
// event log, so valgrind's callgrind can count its instructions (it cannot follow the `feedloop` CLI's async main), and
// counts its heap allocations (`scripts/test` requires none per event once warm).
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
            dependencies: [.product(name: "Pipelines", package: root.lastPathComponent), "AllocationCounter"]
        ),
        // Counts the harness's heap allocations per thread (interposes the malloc family): `scripts/test` checks
        // that the warm pipeline step allocates nothing.
        .target(name: "AllocationCounter"),
    ]
)
