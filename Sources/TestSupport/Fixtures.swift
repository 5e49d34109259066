import Foundation

/// Paths of the repository, the shared models and the samples, for tests.
public enum Fixtures {
    /// The repository root (found from this file's location).
    public static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Sources/TestSupport/Fixtures.swift
        return url
    }()

    /// `../shared` beside the repository, or `MODELPRESS_SHARED`.
    public static let shared: URL = {
        if let s = ProcessInfo.processInfo.environment["MODELPRESS_SHARED"] { return URL(fileURLWithPath: s) }
        return repoRoot.deletingLastPathComponent().appendingPathComponent("shared")
    }()

    /// Every ONNX model in `../shared/models/onnx` (the external-data one included), sorted.
    public static var sharedONNXModels: [String] {
        let dir = shared.appendingPathComponent("models/onnx")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        var out = files.filter { $0.hasSuffix(".onnx") }.map { dir.appendingPathComponent($0).path }
        out.append(dir.appendingPathComponent("romanizer_encoder_external/model.onnx").path)
        return out.sorted()
    }

    /// Every Keras file in `../shared/models/keras` and `../shared/models/keras-zoo`, sorted.
    public static var sharedKerasModels: [String] {
        var out: [String] = []
        for sub in ["models/keras", "models/keras-zoo"] {
            let dir = shared.appendingPathComponent(sub)
            let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            out += files.filter { $0.hasSuffix(".h5") || $0.hasSuffix(".hdf5") || $0.hasSuffix(".keras") }
                .map { dir.appendingPathComponent($0).path }
        }
        return out.sorted()
    }

    /// A path in `../shared/models/keras-zoo` (or `keras/` for the fer model).
    public static func sharedKerasModel(_ name: String) -> String {
        let zoo = shared.appendingPathComponent("models/keras-zoo").appendingPathComponent(name).path
        return FileManager.default.fileExists(atPath: zoo)
            ? zoo : shared.appendingPathComponent("models/keras").appendingPathComponent(name).path
    }

    /// ONNX samples committed under `samples/`.
    public static var sampleONNXModels: [String] {
        let dir = repoRoot.appendingPathComponent("samples")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".onnx") }.sorted().map { dir.appendingPathComponent($0).path }
    }

    /// A path in `../shared/models/onnx`.
    public static func sharedModel(_ name: String) -> String {
        shared.appendingPathComponent("models/onnx").appendingPathComponent(name).path
    }

    public static func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A new empty temporary folder.
    public static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent(
            "modelpress-test-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// SplitMix64: a small seeded generator, so a failing property test replays exactly.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
