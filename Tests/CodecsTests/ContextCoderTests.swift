import Codecs
import Compression
import Foundation
import TestSupport
import Testing

@Suite struct ContextCoderTests {
    private func compress(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { ContextCoder.compress($0) }
    }

    private func decompress(_ coded: [UInt8], count: Int) throws(CodecError) -> [UInt8] {
        let result = coded.withUnsafeBytes { raw in
            Result { () throws(CodecError) -> [UInt8] in try ContextCoder.decompress(raw, count: count) }
        }
        return try result.get()
    }

    /// Compresses, checks the exact round trip and returns the coded size.
    @discardableResult
    private func roundTrip(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> Int {
        let coded = compress(bytes)
        let restored = try decompress(coded, count: bytes.count)
        #expect(restored == bytes, sourceLocation: sourceLocation)
        return coded.count
    }

    /// Order-0 entropy of `bytes` in whole bytes, from their histogram: the size an ideal coder that sees
    /// each byte alone (no context) would reach. Computed here, independent of the coder.
    private static func order0Bytes(_ bytes: [UInt8]) -> Double {
        var histogram = [Int](repeating: 0, count: 256)
        for b in bytes { histogram[Int(b)] += 1 }
        let n = Double(bytes.count)
        return histogram.reduce(0.0) { sum, c in c == 0 ? sum : sum + Double(c) * log2(n / Double(c)) } / 8
    }

    private static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// Pseudo-English: words from a small vocabulary with punctuation, like names and configs in a graph.
    private static func text(_ count: Int, seed: UInt64) -> [UInt8] {
        let words = [
            "conv", "dense", "kernel", "bias", "relu", "the", "model", "layer", "batch_normalization", "input",
            "output", "of", "and", "weights", "/", "_1", ":0", "attention", "query", "value",
        ]
        var rng = SeededGenerator(seed: seed)
        var out: [UInt8] = []
        while out.count < count {
            out += Array(words[Int.random(in: 0..<words.count, using: &rng)].utf8)
            out.append(Int.random(in: 0..<8, using: &rng) == 0 ? UInt8(ascii: "\n") : UInt8(ascii: " "))
        }
        return Array(out.prefix(count))
    }

    @Test func emptyInputCodesToNothing() throws {
        #expect(compress([]).isEmpty)
        #expect(try decompress([], count: 0) == [])
    }

    @Test(arguments: [0, 1, 0x7F, 0x80, 0xFF])
    func singleByte(value: Int) throws {
        let size = try roundTrip([UInt8(value)])
        #expect(size <= 2)
    }

    @Test func allByteValues() throws {
        let ascending = (0..<256).map { UInt8($0) }
        try roundTrip(ascending)
        try roundTrip(ascending.reversed())
        try roundTrip(ascending + ascending + ascending)
    }

    @Test(arguments: [(UInt8(0), 100_000), (UInt8(0xFF), 100_000), (UInt8(ascii: "a"), 3)])
    func longRun(value: UInt8, count: Int) throws {
        let size = try roundTrip([UInt8](repeating: value, count: count))
        if count >= 100_000 { #expect(size < 200) }  // a run costs almost nothing
    }

    @Test func repeatedPattern() throws {
        let pattern = Array("node/conv2d_17/BiasAdd:0\u{0}".utf8)
        let bytes = Array((0..<4000).map { _ in pattern }.joined())
        let size = try roundTrip(bytes)
        #expect(size < bytes.count / 100)
    }

    @Test(arguments: [1, 2, 3, 100, 1000, 65_536, 200_000])
    func randomBytesBarelyExpand(count: Int) throws {
        let bytes = Self.randomBytes(count, seed: UInt64(count))
        let size = try roundTrip(bytes)
        // Incompressible input grows by under 1% plus a few bytes of model warm-up.
        #expect(size <= count + count / 100 + 8)
    }

    @Test func textCompresses() throws {
        let bytes = Self.text(50_000, seed: 7)
        let size = try roundTrip(bytes)
        #expect(size < bytes.count / 3)
    }

    /// The graph-only ONNX file of the real romanizer (its weights are external): a real graph part.
    @Test func realGraphBeatsZstd() throws {
        let path = Fixtures.onnxModel("romanizer_encoder_external/model.onnx")
        let bytes = try Fixtures.read(path)
        #expect(bytes.count == 6136)
        let size = try roundTrip(bytes)
        // `zstd -19 -c model.onnx | wc -c` with zstd 1.5.4 gives 1541; xz -9 gives 1548.
        #expect(size < 1541)
        // Names and op types repeat: contexts must reach well under half of what coding each byte alone could.
        let order0 = Self.order0Bytes(bytes)
        #expect(Double(size) < order0 / 2, "\(size) bytes vs order-0 entropy \(order0) bytes")
        // Regression golden, recorded from this implementation; a change means the format changed.
        #expect(size == Self.regressionGoldenGraphSize)
    }

    /// The coded size of the romanizer graph (regression golden: recorded from this implementation; a change
    /// means the format changed).
    static let regressionGoldenGraphSize = 1285

    /// The first 200 KB of the shared silero VAD model: protobuf framing, names and raw float weights.
    @Test func realModelPrefixBeatsZstd() throws {
        let bytes = Array(try Fixtures.read(Fixtures.onnxModel("silero_vad.onnx")).prefix(200_000))
        #expect(bytes.count == 200_000)
        let size = try roundTrip(bytes)
        // `head -c 200000 silero_vad.onnx | zstd -19 | wc -c` with zstd 1.5.4 gives 140117 (xz -9: 136748).
        #expect(size < 140_117)
    }

    @Test func deterministic() {
        let bytes = Self.text(20_000, seed: 3) + Self.randomBytes(3000, seed: 4)
        #expect(compress(bytes) == compress(bytes))
    }

    /// Regression golden: the stream format is normative (`schemas/mpz-context.md`) and these bytes were
    /// recorded from this implementation, not derived from the annex by hand; a change means the format
    /// changed (old files would no longer decode), so it needs a new format version, not a new golden.
    @Test func regressionGoldenBytes() throws {
        let input = Array("ModelPress context coder: conv1/kernel conv2/kernel conv3/kernel".utf8)
        let coded = compress(input)
        #expect(coded == Self.regressionGolden)
        #expect(try decompress(Self.regressionGolden, count: input.count) == input)
    }

    /// 64 input bytes coded to 34. Regression golden: recorded from this implementation; a change means the
    /// format changed.
    static let regressionGolden: [UInt8] = [
        0xBB, 0xAD, 0x6A, 0x3B, 0xFE, 0xF5, 0xDC, 0x90, 0xD1, 0x6D, 0xF0, 0xEF, 0x35, 0x01, 0x48, 0x7B, 0x52, 0x66,
        0x3E, 0x11, 0x12, 0xA7, 0x71, 0xFB, 0xE4, 0x0F, 0x92, 0xF0, 0x6E, 0x9E, 0x26, 0xA8, 0x3D, 0x1E,
    ]

    @Test func everyTruncationIsSafe() throws {
        let bytes = Self.text(3000, seed: 11)
        let coded = compress(bytes)
        var detected = 0
        for length in 0..<coded.count {
            do {
                let restored = try decompress(Array(coded.prefix(length)), count: bytes.count)
                #expect(restored.count == bytes.count)
                #expect(restored != bytes)
            } catch {
                #expect(error.code == .corrupt)
                detected += 1
            }
        }
        // Dropping two or more bytes leaves the decoder short of data by more than its tail slack.
        #expect(detected >= coded.count - 1)
    }

    @Test func flippedBytesNeverCrash() throws {
        let bytes = Self.text(2000, seed: 12)
        let coded = compress(bytes)
        var changed = 0
        for i in 0..<coded.count {
            var damaged = coded
            damaged[i] ^= 0x5A
            do {
                let restored = try decompress(damaged, count: bytes.count)
                #expect(restored.count == bytes.count)
                if restored != bytes { changed += 1 }
            } catch {
                #expect(error.code == .corrupt)
                changed += 1
            }
        }
        // Every flip but perhaps one in the final byte changes the output or is detected.
        #expect(changed >= coded.count - 1)
    }

    @Test func trailingBytesAreCorrupt() throws {
        let bytes = Self.text(1000, seed: 13)
        let coded = compress(bytes) + [UInt8](repeating: 0x55, count: 64)
        #expect(throws: CodecError.self) { _ = try decompress(coded, count: bytes.count) }
        #expect(throws: CodecError.self) { _ = try decompress([1], count: 0) }
    }

    @Test func randomStreamsNeverCrash() throws {
        var rng = SeededGenerator(seed: 99)
        for trial in 0..<50 {
            let coded = Self.randomBytes(Int.random(in: 0..<300, using: &rng), seed: UInt64(trial))
            let count = Int.random(in: 0..<2000, using: &rng)
            do {
                #expect(try decompress(coded, count: count).count == count)
            } catch {
                #expect(error.code == .corrupt)
            }
        }
    }

    @Test(arguments: [-1, Int.min, (1 << 32) + 1, Int.max])
    func absurdCountIsCorrupt(count: Int) {
        do {
            _ = try decompress([1, 2, 3, 4], count: count)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .corrupt)
            #expect(error.location == "context-coded stream")
        }
    }
}
