import Foundation
import ModelIR
import ONNXFormat
import TestSupport
import Testing

@Suite struct BadInputTests {
    func decode(_ bytes: [UInt8], baseDirectory: String? = nil) throws(ONNXError) -> Model {
        let copy = bytes
        return try ONNXReader.decode(copy, path: "input.onnx", baseDirectory: baseDirectory).model
    }

    func expectError(
        _ code: ONNXError.Code, _ bytes: [UInt8], baseDirectory: String? = nil, containing text: String? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try decode(bytes, baseDirectory: baseDirectory)
            Issue.record("expected \(code), got a model", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            #expect(error.path == "input.onnx", sourceLocation: sourceLocation)
            #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
            if let text { #expect(error.description.contains(text), "\(error)", sourceLocation: sourceLocation) }
        }
    }

    /// Every strict prefix of a small real model is refused, with one of the two "this is not a whole
    /// model" codes; none crashes.
    @Test(arguments: ["sigmoid.onnx", "mul_1.onnx", "logreg_iris.onnx"])
    func everyTruncationIsRejected(name: String) throws {
        let bytes = try Fixtures.read(Fixtures.onnxModel(name))
        for n in 0..<bytes.count {
            do {
                _ = try decode(Array(bytes.prefix(n)))
                Issue.record("prefix of \(n) bytes of \(name) was accepted")
            } catch {
                #expect(error.code == .notONNX, "prefix \(n): \(error)")
            }
        }
    }

    @Test func emptyFileIsNotAModel() {
        expectError(.notONNX, [], containing: "empty")
    }

    @Test func randomBytesAreRejected() {
        var rng = SeededGenerator(seed: 0x5EED)
        for round in 0..<500 {
            let n = Int.random(in: 1...4096, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            do {
                _ = try decode(bytes)
                Issue.record("random buffer \(round) decoded as a model")
            } catch {
                #expect([.notONNX, .tooLarge, .tooDeep].contains(error.code))
            }
        }
    }

    @Test func otherFormatsAreNotONNX() {
        expectError(.notONNX, Array("{\"model\": \"not onnx\"}".utf8))
        expectError(.notONNX, [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a] + [UInt8](repeating: 0, count: 64))
        expectError(.notONNX, Array("PK\u{3}\u{4}".utf8) + [UInt8](repeating: 7, count: 40))
        // Valid protobuf, but no graph: what an empty or foreign message decodes to.
        var p = ProtoBytes()
        p.string(2, "producer only")
        expectError(.notONNX, p.bytes, containing: "no graph")
    }

    /// A damaged model is either refused with a one-line error of a "bad file" code naming the file, or (a
    /// flip in a name, a float, an unknown field) read as a model that is whole: every tensor of a known element
    /// type holds data matching its type and shape (a tensor whose type code is unknown is kept as it is, with
    /// a warning; a segment holds only part of its data), and the model writes and reads back to the same model.
    @Test(arguments: ["logreg_iris.onnx", "a crafted 2x3 float initializer"])
    func bytesFlippedInAModelAreRefusedOrReadWhole(source: String) throws {
        // logreg_iris keeps its weights in attributes; the crafted model is mostly a tensor's dims and data.
        let original =
            source.hasSuffix(".onnx")
            ? try Fixtures.read(Fixtures.onnxModel(source)) : CraftedONNX.initializer(dims: [2, 3], rawBytes: 24)
        var rng = SeededGenerator(seed: 42)
        var codes: [ONNXError.Code: Int] = [:]
        var accepted = 0
        for trial in 0..<2000 {
            var b = original
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            let read: ONNXReadResult
            do {
                read = try ONNXReader.decode(b, path: "input.onnx", baseDirectory: nil)
            } catch {
                codes[error.code, default: 0] += 1
                #expect([.notONNX, .invalidTensor].contains(error.code), "trial \(trial): \(error)")
                #expect(error.path == "input.onnx" && !error.description.contains("\n"), "trial \(trial): \(error)")
                continue
            }
            accepted += 1
            var invalid: [String] = []
            read.model.visitTensors { _, t in
                if t.dtype.bitWidth == nil && t.dtype != .string {
                    let warned = read.diagnostics.contains { $0.message.contains("element type code") }
                    if t.dtype != .undefined && !warned { invalid.append("no warning for \(t.dtype)") }
                    return
                }
                // A segment holds part of a tensor's data: its size cannot match the dims.
                guard t.layout.segment == nil else { return }
                do throws(TensorValidationError) { try t.validate() } catch { invalid.append("\(error)") }
            }
            #expect(invalid.isEmpty, "trial \(trial): \(invalid)")
            let again = try ONNXReader.decode(
                try ONNXWriter.serialize(read.model), path: "again.onnx", baseDirectory: nil)
            #expect(again.model == read.model, "trial \(trial): the model does not write and read back the same")
        }
        // Both outcomes happen with this seed, so both branches above were checked.
        #expect(accepted > 0 && codes.values.reduce(0, +) > 0, "accepted \(accepted), refused \(codes)")
    }

    @Test func tooDeepNestingIsRefusedBeforeProtobufC() {
        // ~9000 message levels in about 100 KB: protobuf-c alone would overflow the stack.
        expectError(.tooDeep, CraftedONNX.deeplyNested(levels: 3000), containing: "nest more than 100 levels")
    }

    @Test func moderateNestingIsFine() throws {
        let model = try decode(CraftedONNX.deeplyNested(levels: 30))
        var depth = 0
        model.visitGraphs { _, d, _ in depth = max(depth, d) }
        #expect(depth == 30)
    }

    @Test func shapeDisagreeingWithDataIsRejected() {
        expectError(
            .invalidTensor, CraftedONNX.initializer(dims: [2, 3], rawBytes: 20),
            containing: "2x3 float32 (24 bytes) but holds 20 bytes")
    }

    @Test func overflowingDimsAreRejected() {
        expectError(
            .invalidTensor, CraftedONNX.initializer(dims: [Int64.max, 4], rawBytes: 16), containing: "overflows")
        expectError(.invalidTensor, CraftedONNX.initializer(dims: [-1, 4], rawBytes: 16))
    }

    @Test func externalDataEscapesAreRefused() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let inner = dir.appendingPathComponent("model")
        try FileManager.default.createDirectory(at: inner, withIntermediateDirectories: true)
        try Data(count: 16).write(to: dir.appendingPathComponent("outside.bin"))
        try Data(count: 16).write(to: inner.appendingPathComponent("ok.bin"))
        try FileManager.default.createSymbolicLink(
            atPath: inner.appendingPathComponent("link.bin").path,
            withDestinationPath: dir.appendingPathComponent("outside.bin").path)
        let base = inner.path

        #expect(
            try decode(CraftedONNX.external(location: "ok.bin", elements: 4), baseDirectory: base).graph.initializers
                .count == 1)
        expectError(
            .externalData, CraftedONNX.external(location: "../outside.bin", elements: 4), baseDirectory: base,
            containing: "..")
        expectError(
            .externalData, CraftedONNX.external(location: dir.appendingPathComponent("outside.bin").path, elements: 4),
            baseDirectory: base, containing: "absolute")
        expectError(
            .externalData, CraftedONNX.external(location: "link.bin", elements: 4), baseDirectory: base,
            containing: "symlink")
        expectError(
            .externalData, CraftedONNX.external(location: "missing.bin", elements: 4), baseDirectory: base,
            containing: "does not exist")
        expectError(
            .externalData, CraftedONNX.external(location: "ok.bin", elements: 8), baseDirectory: base,
            containing: "need 32 bytes")
        expectError(
            .externalData, CraftedONNX.external(location: "ok.bin", elements: 4, length: 16, offset: 8),
            baseDirectory: base, containing: "shorter than declared")
        expectError(
            .externalData, CraftedONNX.external(location: "ok.bin", elements: 4), baseDirectory: nil,
            containing: "standard input")
    }
}
