import Foundation
import TestSupport
import Testing

/// End-to-end: the built `modelpress` binary, its stdout, stderr and exit status.
@Suite struct CLITests {
    let sample = Fixtures.repoRoot.appendingPathComponent("samples/digits_mlp.onnx").path

    @Test func inspectPrintsTheModel() throws {
        let r = try ModelPressBinary.run(["inspect", sample])
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdoutText
        #expect(out.contains("producer"))
        #expect(out.contains("skl2onnx"))
        #expect(out.contains("pixels  float32[?, 64]"))
        #expect(out.contains("ai.onnx.ml::ArrayFeatureExtractor"))
        #expect(out.range(of: #"MatMul\s+3"#, options: .regularExpression) != nil)
        #expect(out.contains("Parameters: 6,581 elements in 8 tensors"))
    }

    @Test func inspectJSONHasTheDocumentedFields() throws {
        let r = try ModelPressBinary.run(["inspect", "--json", sample])
        #expect(r.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        #expect(json["schemaVersion"] as? Int == 1)
        #expect(json["format"] as? String == "onnx")
        #expect(json["irVersion"] as? Int == 8)
        let params = try #require(json["parameters"] as? [String: Any])
        #expect(params["elements"] as? Int == 6581)
        #expect((json["largestTensors"] as? [Any])?.count == 8)
        #expect(json["tensors"] == nil)
    }

    @Test func inspectTensorsAddsStatistics() throws {
        let r = try ModelPressBinary.run(["inspect", "--json", "--tensors", sample])
        #expect(r.status == 0)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        let tensors = try #require(json["tensors"] as? [[String: Any]])
        #expect(tensors.count == 8)
        let stats = try #require(tensors.first { $0["name"] as? String == "coefficient" }?["stats"] as? [String: Any])
        let lo = try #require(stats["min"] as? Double)
        let hi = try #require(stats["max"] as? Double)
        #expect(lo < 0 && hi > 0)
    }

    @Test func inspectIsDeterministic() throws {
        let a = try ModelPressBinary.run(["inspect", "--json", "--tensors", sample])
        let b = try ModelPressBinary.run(["inspect", "--json", "--tensors", sample])
        #expect(a.stdout == b.stdout)
    }

    @Test func convertRoundTripIsByteIdentical() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("out.onnx").path
        let r = try ModelPressBinary.run(["convert", "-q", sample, out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty)
        #expect(try Fixtures.read(out) == Fixtures.read(sample))
    }

    @Test func convertWorksInAPipeline() throws {
        let input = try Fixtures.read(sample)
        let r = try ModelPressBinary.run(["convert", "-", "-"], stdin: input)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == input)
    }

    @Test func usageErrorsExit64() throws {
        #expect(try ModelPressBinary.run(["inspect"]).status == 64)
        #expect(try ModelPressBinary.run(["inspect", "--no-such-flag", sample]).status == 64)
        #expect(try ModelPressBinary.run(["frobnicate"]).status == 64)
    }

    @Test func helpDocumentsExitCodes() throws {
        let r = try ModelPressBinary.run(["--help"])
        #expect(r.status == 0)
        #expect(r.stdoutText.contains("64 usage error"))
    }

    @Test func convertRefusesToOverwriteItsInput() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("m.onnx").path
        let original = try Fixtures.read(sample)
        try Data(original).write(to: URL(fileURLWithPath: path))
        let r = try ModelPressBinary.run(["convert", path, path])
        #expect(r.status == 1)
        #expect(r.stderrLines.count == 1)
        #expect(try Fixtures.read(path) == original)
    }
}

/// Every kind of bad input: one line on stderr naming the file, exit status 1, no output left behind.
@Suite struct CLIBadInputTests {
    enum Case: String, CaseIterable, Sendable {
        case missing, empty, truncated, randomBytes, notONNX, tooDeep, shapeMismatch, dimsOverflow
        case externalEscapes, externalMissing, externalShort
    }

    /// The whole error line after `modelpress: error: <file>: `, for the inputs that are not ONNX at all.
    static let exactErrors: [Case: String] = [
        .randomBytes: "byte 0: not a valid ONNX file: field 458 of ModelProto has invalid wire type 7",
        .notONNX:
            "byte 0: not a valid ONNX file: field 4 of ModelProto uses protobuf groups (wire type 3), which ONNX "
            + "never writes",
    ]

    /// Writes the bad input for `c` into `dir`; returns its path and a phrase the error must contain.
    func makeInput(_ c: Case, in dir: URL) throws -> (String, String) {
        let path = dir.appendingPathComponent("bad.onnx")
        var bytes: [UInt8] = []
        var phrase = ""
        switch c {
        case .missing:
            return (path.path, "cannot open")
        case .empty:
            phrase = "empty"
        case .truncated:
            let whole = try Fixtures.read(Fixtures.repoRoot.appendingPathComponent("samples/digits_mlp.onnx").path)
            bytes = Array(whole.prefix(whole.count / 2))
            phrase = "truncated"
        case .randomBytes:
            var rng = SeededGenerator(seed: 7)
            bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &rng) }
            phrase = Self.exactErrors[c]!
        case .notONNX:
            bytes = Array("# just a text file\nnot a model\n".utf8)
            phrase = Self.exactErrors[c]!
        case .tooDeep:
            bytes = CraftedONNX.deeplyNested(levels: 3000)
            phrase = "nest more than 100 levels"
        case .shapeMismatch:
            bytes = CraftedONNX.initializer(dims: [2, 3], rawBytes: 20)
            phrase = "24 bytes) but holds 20 bytes"
        case .dimsOverflow:
            bytes = CraftedONNX.initializer(dims: [Int64.max, 2], rawBytes: 8)
            phrase = "overflows"
        case .externalEscapes:
            bytes = CraftedONNX.external(location: "../secret.bin", elements: 4)
            try Data(count: 16).write(to: dir.deletingLastPathComponent().appendingPathComponent("secret.bin"))
            phrase = "leaves the model's folder"
        case .externalMissing:
            bytes = CraftedONNX.external(location: "weights.bin", elements: 4)
            phrase = "does not exist"
        case .externalShort:
            bytes = CraftedONNX.external(location: "weights.bin", elements: 4, length: 16)
            try Data(count: 10).write(to: dir.appendingPathComponent("weights.bin"))
            phrase = "shorter than declared"
        }
        try Data(bytes).write(to: path)
        return (path.path, phrase)
    }

    @Test(arguments: Case.allCases)
    func badInputIsOneLineAndExitOne(_ c: Case) throws {
        let root = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let dir = root.appendingPathComponent("in")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let (input, phrase) = try makeInput(c, in: dir)
        let outDir = root.appendingPathComponent("out")
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        for args in [["inspect", input], ["convert", input, outDir.appendingPathComponent("x.onnx").path]] {
            let r = try ModelPressBinary.run(args, timeout: 30)
            #expect(r.status == 1, "\(c) \(args[0]): status \(r.status)")
            #expect(r.stderrLines.count == 1, "\(c) \(args[0]): \(r.stderr)")
            #expect(r.stderr.contains(input), "\(c): the error must name the file: \(r.stderr)")
            #expect(r.stderr.contains(phrase), "\(c): expected '\(phrase)' in: \(r.stderr)")
            if let exact = Self.exactErrors[c] {
                #expect(r.stderrLines == ["modelpress: error: \(input): " + exact], "\(c) \(args[0])")
            }
            #expect(r.stdout.isEmpty)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: outDir.path).isEmpty, "\(c): output left behind")
    }
}
