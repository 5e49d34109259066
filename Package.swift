// swift-tools-version:6.0
// ModelPress: read, inspect, compress and re-export Keras HDF5 and ONNX model files.
import PackageDescription

let package = Package(
    name: "ModelPress",
    products: [
        .library(name: "ModelPress", targets: ["ModelPress"]),
        .executable(name: "modelpress", targets: ["modelpress"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
    ],
    targets: [
        // The common IR: graph, tensors, metadata. Pure Swift, no C.
        .target(name: "ModelIR"),

        // libprotobuf-c, found through pkg-config.
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // The committed protoc-c output of schemas/onnx.proto (scripts/regen-onnx-proto.sh).
        .target(name: "CONNXProto", dependencies: ["CProtobufC"]),
        // ONNX reader and writer <-> IR. The only module that sees protobuf-c.
        .target(name: "ONNXFormat", dependencies: ["ModelIR", "CONNXProto"]),

        // Library facade used by the CLI.
        .target(name: "ModelPress", dependencies: ["ModelIR", "ONNXFormat"]),
        .executableTarget(
            name: "modelpress",
            dependencies: [
                "ModelPress",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Fixtures and helpers shared by the test targets.
        .target(name: "TestSupport", dependencies: ["ModelIR"]),
        .testTarget(name: "ModelIRTests", dependencies: ["ModelIR", "TestSupport"]),
        .testTarget(name: "ONNXFormatTests", dependencies: ["ONNXFormat", "ModelIR", "TestSupport"]),
        .testTarget(name: "ModelPressCLITests", dependencies: ["TestSupport"]),
    ]
)
