import Foundation

/// One file of the fixture manifest, `Tests/fixtures/models.tsv`.
public struct FixtureEntry: Sendable, Equatable {
    /// Where the file goes, relative to the fixture folder (`models/onnx/silero_vad.onnx`).
    public let path: String
    /// How `make fixtures` makes it: `wheel`, `external-data`, `committed`, `keras-zoo` or `node-tests`.
    public let kind: String
    /// What it is made from (`silero-vad==6.2.3:silero_vad/data/silero_vad.onnx`, a repository path, ...).
    public let origin: String
}

/// A fixture the tests need is not in the fixture folder.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
}

/// Paths of the repository, the real models (the fixture folder) and the samples, for tests.
///
/// The real models are not in the repository: `make fixtures` (scripts/fetch_fixtures.py) lays them
/// out under the fixture folder from the pinned wheels and the Keras zoo script, as
/// `Tests/fixtures/models.tsv` lists them. The lists below come from that manifest, never from listing
/// a folder, so a missing folder is a failing test naming the missing files, not zero test cases.
public enum Fixtures {
    /// The repository root (found from this file's location).
    public static let repoRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Sources/TestSupport/Fixtures.swift
        return url
    }()

    /// The fixture folder: `MODELPRESS_FIXTURES`, else `<repo>/.fixtures`.
    public static let root: URL = {
        if let s = ProcessInfo.processInfo.environment["MODELPRESS_FIXTURES"], !s.isEmpty {
            return URL(fileURLWithPath: s)
        }
        return repoRoot.appendingPathComponent(".fixtures")
    }()

    /// The committed manifest of the fixtures.
    public static let manifestURL = repoRoot.appendingPathComponent("Tests/fixtures/models.tsv")

    /// The manifest's rows, or why it could not be read.
    public static let manifest: Result<[FixtureEntry], FixtureError> = {
        guard let data = FileManager.default.contents(atPath: manifestURL.path),
            let text = String(data: data, encoding: .utf8)
        else { return .failure(FixtureError(description: "cannot read the fixture manifest \(manifestURL.path)")) }
        var rows: [FixtureEntry] = []
        var header: [Substring]?
        for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.isEmpty {
            let cols = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard let head = header else {
                header = cols
                continue
            }
            guard cols.count == head.count, head.starts(with: ["path", "kind", "origin"]) else {
                return .failure(FixtureError(description: "\(manifestURL.path): bad row: \(line)"))
            }
            rows.append(FixtureEntry(path: String(cols[0]), kind: String(cols[1]), origin: String(cols[2])))
        }
        if rows.isEmpty { return .failure(FixtureError(description: "\(manifestURL.path) lists no fixtures")) }
        return .success(rows)
    }()

    /// The manifest's rows (empty when it cannot be read; `missingFixtures` then says why).
    public static var entries: [FixtureEntry] { (try? manifest.get()) ?? [] }

    /// A path inside the fixture folder.
    public static func path(_ relative: String) -> String {
        root.appendingPathComponent(relative).path
    }

    /// Every fixture file of the manifest that is not in place (the manifest's own problem, if any,
    /// comes first). Empty when `make fixtures` has run.
    public static var missingFixtures: [String] {
        switch manifest {
        case .failure(let e): return [e.description]
        case .success(let rows):
            return rows.filter { $0.kind != "node-tests" }.map { path($0.path) }
                .filter { !FileManager.default.fileExists(atPath: $0) }
        }
    }

    /// The failure message for `missingFixtures`.
    public static var missingMessage: String {
        let missing = missingFixtures
        return "\(missing.count) fixture(s) missing under \(root.path): "
            + missing.prefix(12).joined(separator: ", ") + (missing.count > 12 ? ", ..." : "")
            + " (run `make fixtures`)"
    }

    /// Every real ONNX model (the external-data one included), sorted.
    public static var realONNXModels: [String] {
        entries.filter { $0.path.hasPrefix("models/onnx/") && $0.path.hasSuffix(".onnx") }.map { path($0.path) }
            .sorted()
    }

    /// Every real Keras file (`models/keras/` and the Keras zoo `models/keras-zoo/`), sorted.
    public static var realKerasModels: [String] {
        entries.filter {
            $0.path.hasPrefix("models/keras")
                && ($0.path.hasSuffix(".h5") || $0.path.hasSuffix(".hdf5") || $0.path.hasSuffix(".keras"))
        }.map { path($0.path) }.sorted()
    }

    /// A real Keras file by name: in `models/keras-zoo/` or `models/keras/` (the fer model).
    public static func kerasModel(_ name: String) -> String {
        let hit = entries.first { $0.path.hasPrefix("models/keras") && $0.path.hasSuffix("/" + name) }
        return path(hit?.path ?? "models/keras-zoo/" + name)
    }

    /// ONNX samples committed under `samples/`.
    public static var sampleONNXModels: [String] {
        let dir = repoRoot.appendingPathComponent("samples")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return files.filter { $0.hasSuffix(".onnx") }.sorted().map { dir.appendingPathComponent($0).path }
    }

    /// A real ONNX model by its path in `models/onnx/` (`silero_vad.onnx`, `romanizer_encoder_external/model.onnx`).
    public static func onnxModel(_ name: String) -> String {
        path("models/onnx/" + name)
    }

    /// The bytes of a file; a fixture that is not in place is an error naming it and `make fixtures`.
    public static func read(_ path: String) throws -> [UInt8] {
        if path.hasPrefix(root.path + "/") && !FileManager.default.fileExists(atPath: path) {
            throw FixtureError(description: "fixture missing: \(path) (run `make fixtures`)")
        }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
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
