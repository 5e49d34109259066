// swift-tools-version:6.0
// ModelPress: read, inspect, compress and re-export Keras HDF5 and ONNX model files.
import PackageDescription

let package = Package(
    name: "ModelPress",
    products: [
        // The facade and the IR it speaks (Model, Tensor, ...).
        .library(name: "ModelPress", targets: ["ModelPress", "ModelIR"]),
        // The entropy coders on their own (used by the benchmark package, usable by anyone).
        .library(name: "Codecs", targets: ["Codecs"]),
        // The passes and kernels on their own (quantizers, pruning, pass manager), for benchmarks and tools.
        .library(name: "ModelPressCompression", targets: ["Compression"]),
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

        // Entropy coders and bit-level layouts: bit packing, Huffman codes/blocks/streams, the symbol coder,
        // byte planes, the context-mixing coder, CRC32C. Pure Swift; ModelIR only for its byte buffer.
        .target(name: "Codecs", dependencies: ["ModelIR"], linkerSettings: [.linkedLibrary("m")]),

        // Compression passes, the pass manager, recipes, presets, channel axes and error metrics. Pure Swift
        // over the IR.
        .target(name: "Compression", dependencies: ["ModelIR", "Codecs"], linkerSettings: [.linkedLibrary("m")]),

        // ONNX-specific storage of compressed weights (qdq DequantizeLinear, palette Gather, fp16 Cast): a
        // rewrite of the IR's ONNX graph, over the passes' tensor encodings.
        .target(name: "ONNXExport", dependencies: ["ModelIR", "Compression"]),

        // The .mpz container (schemas/mpz.md): writer and memory-mapped reader. Pure Swift.
        .target(name: "MPZFormat", dependencies: ["ModelIR", "Codecs", "FileSystem"]),

        // Library facade used by the CLI.
        .target(
            name: "ModelPress",
            dependencies: [
                "ModelIR", "ONNXFormat", "ONNXExport", "KerasHDF5", "Compression", "MPZFormat", "FileSystem",
            ]),
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
        .testTarget(name: "ONNXFormatTests", dependencies: ["ONNXFormat", "FileSystem", "ModelIR", "TestSupport"]),
        .testTarget(name: "KerasHDF5Tests", dependencies: ["KerasHDF5", "ModelIR", "TestSupport"]),
        .testTarget(
            name: "CodecsTests",
            dependencies: ["Codecs", "Compression", "ModelIR", "TestSupport", "ONNXFormat", "KerasHDF5"]),
        .testTarget(
            name: "CompressionTests",
            dependencies: ["Compression", "Codecs", "ModelIR", "TestSupport", "ONNXFormat", "KerasHDF5"]
        ),
        .testTarget(
            name: "ONNXExportTests",
            dependencies: ["ONNXExport", "Compression", "ModelIR", "TestSupport", "ONNXFormat"]),
        .testTarget(
            name: "MPZFormatTests",
            dependencies: ["MPZFormat", "Codecs", "Compression", "ModelIR", "TestSupport", "ONNXFormat"]),
        .testTarget(name: "ModelPressCLITests", dependencies: ["TestSupport"]),
        .testTarget(
            name: "FileSystemTests",
            dependencies: ["FileSystem", .product(name: "SystemPackage", package: "swift-system")]),
    ]
)
