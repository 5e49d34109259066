import Foundation
import TestSupport
import Testing

/// `.mpz` end to end through the binary: compress, decompress, convert, inspect, bad files.
@Suite struct MPZCLITests {
    let mlp = Fixtures.repoRoot.appendingPathComponent("samples/digits_mlp.onnx").path
    let cnn = Fixtures.repoRoot.appendingPathComponent("samples/digits_cnn.h5").path

    @Test(arguments: ["lossless", "balanced", "small"])
    func compressDecompressRestoresTheSourceFormat(preset: String) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (input, ext) in [(mlp, "onnx"), (cnn, "h5")] {
            let packed = dir.appendingPathComponent("m.\(ext).mpz").path
            let back = dir.appendingPathComponent("back.\(ext)").path
            let c = try ModelPressBinary.run(["compress", input, "-o", packed, "--preset", preset])
            #expect(c.status == 0, "\(c.stderr)")
            #expect(c.stdoutText.contains("as .mpz"), "\(c.stdoutText)")
            let size = try Fixtures.read(packed).count
            #expect(size < (try Fixtures.read(input).count), "\(input) \(preset): \(size) bytes")
            let d = try ModelPressBinary.run(["decompress", "-q", packed, "-o", back])
            #expect(d.status == 0, "\(d.stderr)")
            if preset == "lossless" {
                // The ONNX writer reproduces the source bytes; Keras files are compared by h5diff in interop.
                if ext == "onnx" { #expect(try Fixtures.read(back) == Fixtures.read(input)) }
            }
            let i = try ModelPressBinary.run(["inspect", back])
            #expect(i.status == 0, "\(i.stderr)")
        }
    }

    @Test func sameInputSameBytesOnAnyCoreCount() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var outputs: [[UInt8]] = []
        for extra in [[], [], ["--single-thread"]] {
            let out = dir.appendingPathComponent("m\(outputs.count).mpz").path
            let r = try ModelPressBinary.run(["compress", "-q", mlp, "-o", out, "--preset", "small"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
            outputs.append(try Fixtures.read(out))
        }
        #expect(outputs[0] == outputs[1])
        #expect(outputs[0] == outputs[2])
    }

    @Test func jsonOutputDescribesTheFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("m.mpz").path
        let r = try ModelPressBinary.run(["compress", mlp, "-o", out, "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout)) as? [String: Any])
        #expect(json["preset"] as? String == "balanced")
        let mpz = try #require(json["mpz"] as? [String: Any])
        #expect(mpz["fileBytes"] as? Int == (try Fixtures.read(out).count))
        #expect(mpz["sourceFormat"] as? String == "onnx")
        let tensors = try #require(mpz["tensors"] as? [[String: Any]])
        #expect(tensors.contains { ($0["encoding"] as? String)?.hasPrefix("linear 8-bit + huffman") == true })
        let report = try #require(json["report"] as? [String: Any])
        let rows = try #require(report["tensors"] as? [[String: Any]])
        #expect(rows.contains { $0["codedBytes"] != nil && $0["fileBytes"] != nil })
        let inspect = try ModelPressBinary.run(["inspect", "--json", out])
        let ij = try #require(try JSONSerialization.jsonObject(with: Data(inspect.stdout)) as? [String: Any])
        let im = try #require(ij["mpz"] as? [String: Any])
        #expect((im["tensors"] as? [[String: Any]])?.count == tensors.count)
    }

    @Test func damagedFilesFailWithOneLineAndWriteNothing() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.mpz").path
        #expect(try ModelPressBinary.run(["compress", "-q", mlp, "-o", good]).status == 0)
        let bytes = try Fixtures.read(good)
        var rng = SeededGenerator(seed: 5)
        var cases: [(String, [UInt8])] = []
        for n in [0, 7, 40, 63, 64, 100, 200, bytes.count / 2, bytes.count - 1] {
            cases.append(("truncated at \(n)", Array(bytes.prefix(n))))
        }
        for _ in 0..<25 {
            var b = bytes
            let i = Int.random(in: 0..<b.count, using: &rng)
            b[i] ^= UInt8.random(in: 1...255, using: &rng)
            cases.append(("flip at \(i)", b))
        }
        for (what, b) in cases {
            let bad = dir.appendingPathComponent("bad.mpz")
            try Data(b).write(to: bad)
            let out = dir.appendingPathComponent("out.onnx").path
            let r = try ModelPressBinary.run(["decompress", bad.path, "-o", out])
            #expect(r.status == 1, "\(what): \(r.stderr)")
            #expect(r.stderrLines.count == 1, "\(what): \(r.stderr)")
            #expect(r.stderr.contains("bad.mpz"), "\(what): \(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: out), "\(what)")
        }
    }

    @Test func aKerasModelIsNotRestoredAsONNX() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let packed = dir.appendingPathComponent("cnn.mpz").path
        #expect(try ModelPressBinary.run(["compress", "-q", cnn, "-o", packed]).status == 0)
        let out = dir.appendingPathComponent("cnn.onnx").path
        let r = try ModelPressBinary.run(["decompress", packed, "-o", out])
        #expect(r.status == 1)
        #expect(r.stderr.contains("Keras"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
        let q = try ModelPressBinary.run([
            "decompress", packed, "-o", dir.appendingPathComponent("c.h5").path, "--onnx-weights", "qdq",
        ])
        #expect(q.status == 64, "\(q.stderr)")
    }

    @Test func pipelinesThroughStandardInputAndOutput() throws {
        let input = try Fixtures.read(mlp)
        let c = try ModelPressBinary.run(["compress", "-q", "-", "-o", "-", "--preset", "lossless"], stdin: input)
        #expect(c.status == 0, "\(c.stderr)")
        let d = try ModelPressBinary.run(["decompress", "-q", "-", "-o", "-"], stdin: c.stdout)
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stdout == input)
    }

    @Test func convertGoesToAndFromMPZ() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let packed = dir.appendingPathComponent("m.mpz").path
        let back = dir.appendingPathComponent("m.onnx").path
        #expect(try ModelPressBinary.run(["convert", "-q", mlp, packed]).status == 0)
        #expect(try ModelPressBinary.run(["convert", "-q", packed, back]).status == 0)
        #expect(try Fixtures.read(back) == Fixtures.read(mlp))
        let same = try ModelPressBinary.run(["convert", packed, packed])
        #expect(same.status == 1, "\(same.stderr)")
        #expect(try ModelPressBinary.run(["inspect", packed]).status == 0)
    }
}
