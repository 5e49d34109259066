import Foundation
import TestSupport
import Testing

/// End-to-end for Keras files and the compression commands.
@Suite struct KerasAndCompressCLITests {
    let cnn = Fixtures.repoRoot.appendingPathComponent("samples/digits_cnn.h5").path
    let mlp = Fixtures.repoRoot.appendingPathComponent("samples/digits_mlp.onnx").path

    @Test func inspectKerasShowsLayersVersionAndOptimizer() throws {
        let r = try ModelPressBinary.run(["inspect", cnn])
        #expect(r.status == 0, "\(r.stderr)")
        let out = r.stdoutText
        #expect(out.contains("KERAS model"))
        #expect(out.contains("backend jax"))
        #expect(out.contains("keras::Conv2D"))
        #expect(out.contains("--strip-optimizer drops them"))
        let j = try ModelPressBinary.run(["inspect", "--json", cnn])
        let json = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout)) as? [String: Any])
        let keras = try #require(json["keras"] as? [String: Any])
        #expect(keras["layout"] as? String == "full-model")
        #expect((keras["optimizerWeights"] as? [String: Any])?["tensors"] as? Int ?? 0 > 0)
    }

    @Test func convertKerasKeepsEverythingOrStripsTheOptimizer() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("same.h5").path
        let r = try ModelPressBinary.run(["convert", "-q", cnn, out])
        #expect(r.status == 0, "\(r.stderr)")
        let diff = try Self.h5diff(cnn, out)
        #expect(diff.status == 0, "\(diff.output)")
        let stripped = dir.appendingPathComponent("stripped.h5").path
        let s = try ModelPressBinary.run(["convert", "-q", "--strip-optimizer", cnn, stripped])
        #expect(s.status == 0, "\(s.stderr)")
        let size = { (p: String) in (try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0 }
        #expect(size(stripped) < size(out))
        let i = try ModelPressBinary.run(["inspect", stripped])
        #expect(i.stdoutText.contains("optimizer weights  none"))
    }

    @Test func badKerasInputIsOneLineAndLeavesNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bytes = try Fixtures.read(cnn)
        let cases: [(String, [UInt8])] = [
            ("truncated.h5", Array(bytes.prefix(bytes.count / 2))),
            ("superblock.h5", Array(bytes.prefix(8)) + [UInt8](repeating: 0xff, count: 64) + bytes.dropFirst(72)),
            ("empty.h5", []),
            ("text.keras", Array("not a zip".utf8)),
        ]
        for (name, content) in cases {
            let input = dir.appendingPathComponent(name).path
            try Data(content).write(to: URL(fileURLWithPath: input))
            let out = dir.appendingPathComponent("out-" + name).path
            for args in [["convert", input, out], ["inspect", input]] {
                let r = try ModelPressBinary.run(args)
                #expect(r.status == 1, "\(name) \(args[0]): \(r.stderr)")
                #expect(r.stderrLines.count == 1, "\(name) \(args[0]): \(r.stderr)")
                #expect(r.stderr.contains(input), "\(name): \(r.stderr)")
                #expect(!FileManager.default.fileExists(atPath: out))
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        #expect(files.allSatisfy { !$0.contains(".tmp-") }, "\(files)")
    }

    @Test func kerasToONNXIsRefusedBeforeWriting() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x.onnx").path
        let r = try ModelPressBinary.run(["convert", cnn, out])
        #expect(r.status == 1)
        #expect(r.stderr.contains("not supported"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func compressPrintsThePerTensorTableAndJSON() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = dir.appendingPathComponent("r.json").path
        let r = try ModelPressBinary.run([
            "compress", cnn, "--passes", "prune(sparsity=0.5),kmeans(bits=4),huffman", "--report", report,
        ])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdoutText.contains("kmeans 4-bit"))
        #expect(r.stdoutText.contains("SQNR dB"))
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: report))) as? [String: Any])
        #expect(json["schemaVersion"] as? Int == 1)
        let totals = try #require(json["totals"] as? [String: Any])
        // Two thirds of this file are optimizer state, which passes leave alone (strip it with convert).
        #expect((totals["ratio"] as? Double ?? 0) > 1.3)
        #expect((json["pipeline"] as? [String]) == ["prune(sparsity=0.5)", "kmeans(bits=4)", "huffman"])
    }

    @Test func convertWithPassesWritesDequantizedWeights() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (input, name) in [(mlp, "q.onnx"), (cnn, "q.h5")] {
            let out = dir.appendingPathComponent(name).path
            let r = try ModelPressBinary.run([
                "convert", "-q", input, out, "--passes", "kmeans(bits=2)", "--recipe",
                Self.recipe(dir, #"{"passes": "linear", "defaults": {"min_elements": 16}}"#),
            ])
            #expect(r.status == 0, "\(r.stderr)")
            let back = try ModelPressBinary.run(["inspect", out])
            #expect(back.status == 0)
            #expect(try Fixtures.read(out) != Fixtures.read(input))
        }
    }

    @Test func usageErrorsExit64AndListWhatIsValid() throws {
        let cases: [([String], String)] = [
            (["compress", mlp, "--passes", "zip"], "valid passes"),
            (["compress", mlp, "--passes", "kmeans(bitz=4)"], "bits=1..8"),
            (["compress", mlp, "--passes", "kmeans,prune(sparsity=0.5)"], "put pruning and clipping first"),
            (["compress", mlp, "--preset", "small", "--passes", "linear"], "exclude each other"),
            (["compress", mlp, "--preset", "tiny"], "tiny"),
            (["compress", mlp, "--passes", "linear", "--max-error", "0.01"], "--max-error"),
        ]
        for (args, words) in cases {
            let r = try ModelPressBinary.run(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
            #expect(r.stderr.contains(words), "\(args): \(r.stderr)")
            #expect(r.stderrLines.count == 1, "\(args): \(r.stderr)")
        }
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = Self.recipe(dir, #"{"passes": "kmeans", "overrides": [{"match": {"nmae": "x"}}]}"#)
        let r = try ModelPressBinary.run(["compress", mlp, "--recipe", bad])
        #expect(r.status == 64)
        #expect(r.stderr.contains("unknown key \"nmae\""), "\(r.stderr)")
    }

    @Test func listPassesNamesEveryPass() throws {
        let r = try ModelPressBinary.run(["compress", "--list-passes"])
        #expect(r.status == 0)
        for p in ["prune", "prune_channels", "clip", "linear", "kmeans", "fp16", "bf16", "binary", "ternary", "auto"] {
            #expect(r.stdoutText.contains("\n\(p):") || r.stdoutText.hasPrefix("\(p):"), "\(p)")
        }
    }

    static func recipe(_ dir: URL, _ json: String) -> String {
        let path = dir.appendingPathComponent("recipe-\(json.hashValue).json").path
        try? Data(json.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func h5diff(_ a: String, _ b: String) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/h5diff")
        p.arguments = ["-c", a, b]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
