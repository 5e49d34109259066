// swift-tools-version:6.0
// ModelPress micro-benchmarks: a package of its own, so the main build stays lean. It depends on ModelPress by
// path, through its library products. Built and run by scripts/bench-mpz.sh (figures go into BENCHMARKS.md);
// timings are measured here, never asserted in tests.
import PackageDescription

let package = Package(
    name: "ModelPressBenchmarks",
    dependencies: [.package(name: "ModelPress", path: "..")],
    targets: [
        // Coder throughput (Huffman, symbol coder, byte planes, context coder) and quantizer kernel times.
        .executableTarget(
            name: "mpbench",
            dependencies: [
                .product(name: "Codecs", package: "ModelPress"),
                .product(name: "ModelPressCompression", package: "ModelPress"),
                .product(name: "ModelPress", package: "ModelPress"),
            ])
    ]
)
