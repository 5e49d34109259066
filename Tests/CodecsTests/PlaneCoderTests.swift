import Codecs
import Compression
import Foundation
import KerasHDF5
import ModelIR
import ONNXFormat
import TestSupport
import Testing

func planeRoundTrip(_ bytes: [UInt8], width: Int) throws -> PlaneCodingStats {
    let (block, stats) = bytes.withUnsafeBytes { PlaneCoder.encode($0, elementWidth: width) }
    #expect(block.count == stats.codedBytes)
    for threads in [1, 2] {
        let back = try block.withUnsafeBytes {
            try PlaneCoder.decode($0, elementWidth: width, byteCount: bytes.count, threads: threads)
        }
        #expect(back.bytes == bytes, "width \(width) bytes \(bytes.count) threads \(threads)")
    }
    return stats
}

/// The size `zstd -19` compresses `bytes` to, or nil when the zstd CLI is missing.
func zstd19Size(_ bytes: [UInt8]) throws -> Int? {
    let dir = try Fixtures.temporaryDirectory()
    defer { try? FileManager.default.removeItem(at: dir) }
    let input = dir.appendingPathComponent("in.bin")
    try Data(bytes).write(to: input)
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["zstd", "-19", "-q", "-f", input.path, "-o", input.path + ".zst"]
    do { try p.run() } catch { return nil }
    p.waitUntilExit()
    guard p.terminationStatus == 0 else { return nil }
    let attributes = try FileManager.default.attributesOfItem(atPath: input.path + ".zst")
    return (attributes[.size] as? NSNumber)?.intValue
}

@Suite struct PlaneCoderTests {
    @Test(arguments: [1, 2, 4, 8])
    func roundTrip(width: Int) throws {
        let segment = Huffman.segmentLength
        for elements in [0, 1, 3, 1000, segment - 1, segment + 1] {
            let floats = gaussianFloats(elements * width / 4 + 2, seed: UInt64(elements))
            var bytes = floats.withUnsafeBytes { Array($0) }
            bytes = Array(bytes.prefix(elements * width))
            for extra in [0, width - 1] {
                let input = bytes + [UInt8](repeating: 0xA5, count: extra)
                _ = try planeRoundTrip(input, width: width)
            }
        }
    }

    @Test func specialFloatsRoundTrip() throws {
        let specials: [Float] = [
            .nan, -.nan, .signalingNaN, .infinity, -.infinity, 0, -0.0, .leastNonzeroMagnitude,
            -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude, 1, -1,
        ]
        var values = gaussianFloats(10_000, seed: 3)
        for (i, s) in specials.enumerated() { values[i * 700] = s }
        let bytes = values.withUnsafeBytes { Array($0) }
        let stats = try planeRoundTrip(bytes, width: 4)
        #expect(stats.codedBytes < bytes.count)
        // float16 / bfloat16 views of the same bytes.
        _ = try planeRoundTrip(bytes, width: 2)
    }

    @Test func exponentPlaneShrinksAndMantissaStaysRaw() throws {
        let bytes = gaussianFloats(1 << 18, seed: 4).map { $0 * 0.02 }.withUnsafeBytes { Array($0) }
        let stats = try planeRoundTrip(bytes, width: 4)
        #expect(stats.transform == "rotate")
        // Sign and low mantissa bits are close to random: at most a few percent to gain.
        #expect(stats.planeBytes[0] >= (1 << 18) * 95 / 100)
        #expect(stats.planes[1] == "raw")
        #expect(stats.planes[3] == "huffman")
        #expect(stats.planeBytes[3] < (1 << 18) / 2)
        #expect(Double(stats.codedBytes) < 0.86 * Double(bytes.count))
    }

    @Test func constantAndIntegerPlanes() throws {
        // int64 indices: high bytes all zero cost a table each, no stream bytes.
        let ints = (0..<100_000).map { Int64($0 % 300) }
        let bytes = ints.withUnsafeBytes { Array($0) }
        let stats = try planeRoundTrip(bytes, width: 8)
        #expect(stats.codedBytes < bytes.count / 6)
    }

    @Test func goldenBlock() throws {
        // Two float32 elements, 1.0 and -2.0, stay raw: transform 0, width 4, four raw planes.
        let bytes: [UInt8] = [0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0]
        let (block, _) = bytes.withUnsafeBytes { PlaneCoder.encode($0, elementWidth: 4) }
        #expect(block.bytes == [0x00, 0x04, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x3F, 0xC0])
    }

    @Test func beatsZstd19OnRealModels() throws {
        var lines: [String] = []
        var paths = Fixtures.realONNXModels
        paths += ["k3_mobilenetv2.h5", "k3_lstm_text_sequential.h5", "k3_transformer_mha.h5"].map {
            Fixtures.kerasModel($0)
        }
        var compared = 0
        var totalPlane = 0
        var totalZstd = 0
        for path in paths {
            let model: Model
            if path.hasSuffix(".onnx") {
                model = try ONNXReader.read(path: path).model
            } else {
                model = try KerasReader.read(path: path).model
            }
            let tensors = floatTensors(of: model)
            let raw = tensors.flatMap(\.raw)
            guard raw.count >= 4096 else { continue }
            var coded = 0
            for t in tensors { coded += try planeRoundTrip(t.raw, width: 4).codedBytes }
            guard let zstd = try zstd19Size(raw) else {
                lines.append("zstd CLI missing; skipped \(path)")
                continue
            }
            let name = URL(fileURLWithPath: path).lastPathComponent
            lines.append(
                "\(name.padding(toLength: 32, withPad: " ", startingAt: 0)) float32 bytes=\(raw.count)"
                    + " plane=\(coded) (\(String(format: "%.4f", Double(coded) / Double(raw.count))))"
                    + " zstd-19=\(zstd) (\(String(format: "%.4f", Double(zstd) / Double(raw.count))))")
            // Per-tensor plane blocks against zstd on all of the model's floats at once. Known exceptions: values
            // repeat as sequences LZ matching finds (silero_vad's STFT basis: 10,925 distinct values in 66,048)
            // and the 33 KB tashkeel model; order-0 planes lose there by 1% and 4%.
            let known = name == "silero_vad.onnx" || name == "tashkeel_rawi_int8.onnx"
            #expect(Double(coded) < (known ? 1.05 : 1.0) * Double(zstd), "\(name): plane \(coded) vs zstd -19 \(zstd)")
            totalPlane += coded
            totalZstd += zstd
            compared += 1
        }
        print("PlaneCoder vs zstd -19 (float32 tensors):\n" + lines.joined(separator: "\n"))
        #expect(compared >= 6)
        #expect(totalPlane * 20 < totalZstd * 19)
    }

    // MARK: Malformed input

    static func smallBlocks() -> [([UInt8], Int, Int)] {
        var out: [([UInt8], Int, Int)] = []
        let floats = gaussianFloats(600, seed: 5).map { $0 * 0.1 }.withUnsafeBytes { Array($0) }
        for width in [1, 2, 4, 8] {
            let input = Array(floats.prefix(1203))
            out.append((input.withUnsafeBytes { PlaneCoder.encode($0, elementWidth: width) }.block.bytes, width, 1203))
        }
        return out
    }

    @Test func everyTruncationIsCorrupt() {
        for (block, width, size) in Self.smallBlocks() {
            for length in 0..<block.count {
                expectCorrupt(
                    {
                        _ = try Array(block[0..<length]).withUnsafeBytes {
                            try PlaneCoder.decode($0, elementWidth: width, byteCount: size, threads: 1)
                        }
                    }, "width \(width) prefix \(length)")
            }
        }
    }

    @Test func flippedBytesAndGarbage() {
        var rng = SeededGenerator(seed: 13)
        var thrown = 0
        for (block, width, size) in Self.smallBlocks() {
            for trial in 0..<1500 {
                var damaged = block
                damaged[Int.random(in: 0..<damaged.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
                if trial % 2 == 0 {
                    damaged[Int.random(in: 0..<damaged.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    let back = try damaged.withUnsafeBytes {
                        try PlaneCoder.decode($0, elementWidth: width, byteCount: size, threads: 2)
                    }
                    #expect(back.count == size)
                } catch let error as CodecError {
                    #expect(error.code == .corrupt)
                    thrown += 1
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
            for _ in 0..<300 {
                let garbage = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in
                    UInt8.random(in: 0...255, using: &rng)
                }
                do {
                    let back = try garbage.withUnsafeBytes {
                        try PlaneCoder.decode($0, elementWidth: width, byteCount: size, threads: 1)
                    }
                    #expect(back.count == size)
                } catch let error as CodecError {
                    #expect(error.code == .corrupt)
                } catch {
                    Issue.record("unexpected error \(error)")
                }
            }
        }
        #expect(thrown > 500)
    }
}
