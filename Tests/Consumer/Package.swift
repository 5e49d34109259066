// swift-tools-version:6.0
// A tiny package that depends on ModelPress by path, as a user's project would: `make consumer-check` builds it
// (so the library stays usable as a dependency: no unsafe flags, public API enough for the job) and runs it.
import PackageDescription

let package = Package(
    name: "ModelPressConsumer",
    dependencies: [.package(name: "ModelPress", path: "../..")],
    targets: [
        .executableTarget(name: "consumer", dependencies: [.product(name: "ModelPress", package: "ModelPress")])
    ]
)
