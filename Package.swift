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
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // The common IR: graph, tensors, metadata. Pure Swift, no C.
        .target(name: "ModelIR"),

        // The one file-system layer: atomic writes (temp file, fsync, rename), reads, memory maps, regular-file
        // checks, errno -> FileSystemError. Over swift-system's FileDescriptor, FilePath and Errno.
        .target(name: "FileSystem", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),

        // libprotobuf-c, found through pkg-config.
        .systemLibrary(
            name: "CProtobufC",
            pkgConfig: "libprotobuf-c",
            providers: [.apt(["libprotobuf-c-dev"])]
        ),
        // The committed protoc-c output of schemas/onnx.proto (scripts/regen-onnx-proto.sh).
        .target(name: "CONNXProto", dependencies: ["CProtobufC"]),
        // ONNX reader and writer <-> IR. The only module that sees protobuf-c.
        .target(name: "ONNXFormat", dependencies: ["ModelIR", "CONNXProto", "FileSystem"]),

        // libhdf5 (Debian libhdf5-dev), found through pkg-config, with shims for the macros Swift cannot import.
        .systemLibrary(
            name: "CHDF5",
            pkgConfig: "hdf5",
            providers: [.apt(["libhdf5-dev"])]
        ),
        // Keras HDF5 / .keras reader and writer <-> IR, over a small internal HDF5 wrapper.
        .target(
            name: "KerasHDF5",
            dependencies: [
                "ModelIR", "CHDF5", "FileSystem", .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            ]
        ),

        // Compression passes, the pass manager and error metrics. Pure Swift over the IR. Optimized even
        // in debug builds: the kernels run over millions of weights in the tests.
        .target(
            name: "Compression", dependencies: ["ModelIR"], swiftSettings: [.unsafeFlags(["-O"])],
            linkerSettings: [.linkedLibrary("m")]),

        // The .mpz container (schemas/mpz.md): writer and memory-mapped reader. Pure Swift; its entropy coders
        // are Compression's.
        .target(
            name: "MPZFormat", dependencies: ["ModelIR", "Compression", "FileSystem"],
            swiftSettings: [.unsafeFlags(["-O"])]),

        // Library facade used by the CLI.
        .target(
            name: "ModelPress",
            dependencies: ["ModelIR", "ONNXFormat", "KerasHDF5", "Compression", "MPZFormat", "FileSystem"]),
        .executableTarget(
            name: "modelpress",
            dependencies: [
                "ModelPress",
                "Compression",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // Micro-benchmarks of the kernels (Huffman and context coder throughput) for scripts/bench-*.
        .executableTarget(
            name: "mpbench", dependencies: ["Compression", "ModelIR"], path: "Benchmarks/mpbench",
            swiftSettings: [.unsafeFlags(["-O"])]),

        // Fixtures and helpers shared by the test targets.
        .target(name: "TestSupport", dependencies: ["ModelIR"]),
        .testTarget(name: "ModelIRTests", dependencies: ["ModelIR", "TestSupport"]),
        .testTarget(name: "ONNXFormatTests", dependencies: ["ONNXFormat", "ModelIR", "TestSupport"]),
        .testTarget(name: "KerasHDF5Tests", dependencies: ["KerasHDF5", "ModelIR", "TestSupport"]),
        .testTarget(
            name: "CompressionTests",
            dependencies: ["Compression", "ModelIR", "TestSupport", "ONNXFormat", "KerasHDF5"]
        ),
        .testTarget(
            name: "MPZFormatTests", dependencies: ["MPZFormat", "Compression", "ModelIR", "TestSupport", "ONNXFormat"]),
        .testTarget(name: "ModelPressCLITests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "FileSystemTests",
            dependencies: ["FileSystem", .product(name: "SystemPackage", package: "swift-system")]),
    ]
)
