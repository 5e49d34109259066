import Foundation
import ModelIR
import ONNXFormat
import TestSupport
import Testing

@Suite struct WriterTests {
    let external = Fixtures.onnxModel("romanizer_encoder_external/model.onnx")

    func files(in dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    @Test func externalDataStaysExternalAndReadsBackEqual() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try ONNXReader.read(path: external)
        #expect(source.externalFiles.map(\.location) == ["model.onnx.data"])
        let out = dir.appendingPathComponent("copy.onnx").path
        let r = try ONNXWriter.write(source.model, to: out)
        #expect(r.externalDataPath == dir.appendingPathComponent("copy.onnx.data").path)
        #expect(try files(in: dir) == ["copy.onnx", "copy.onnx.data"])
        let back = try ONNXReader.read(path: out)
        var a: [Tensor] = []
        var b: [Tensor] = []
        source.model.visitTensors { _, t in a.append(t) }
        back.model.visitTensors { _, t in b.append(t) }
        #expect(a.map(\.storage) == b.map(\.storage))
        #expect(back.externalFiles.map(\.location) == ["copy.onnx.data"])
        #expect(back.externalFiles.first?.bytes == source.externalFiles.first?.bytes)
    }

    @Test func forcedExternalDataMovesLargeTensors() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try ONNXReader.read(path: Fixtures.onnxModel("silero_vad.onnx"))
        let out = dir.appendingPathComponent("vad.onnx").path
        _ = try ONNXWriter.write(source.model, to: out, options: ONNXWriteOptions(externalData: .always))
        let back = try ONNXReader.read(path: out)
        var large = 0
        var externalLarge = 0
        back.model.visitTensors { _, t in
            guard case .dense(let b) = t.storage, b.count >= 1024 else { return }
            large += 1
            if t.layout.dataField == .external { externalLarge += 1 }
        }
        #expect(large > 0 && externalLarge == large)
        // And back inline: same bytes as the original file.
        var model = back.model
        model.forEachTensor { _, t in if t.layout.dataField == .external { t.layout.dataField = .raw } }
        #expect(try ONNXWriter.serialize(model).count > 2_000_000)
    }

    @Test func modelsOverTheMessageLimitMoveWeightsOutAutomatically() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try ONNXReader.read(path: Fixtures.onnxModel("magika_standard_v3_3.onnx"))
        var options = ONNXWriteOptions()
        options.messageLimit = 1_000_000  // stands in for protobuf's 2 GiB
        let out = dir.appendingPathComponent("m.onnx").path
        let r = try ONNXWriter.write(source.model, to: out, options: options)
        #expect(r.bytes <= 1_000_000)
        #expect(r.externalDataBytes > 2_000_000)
        let back = try ONNXReader.read(path: out)
        #expect(back.externalFiles.count == 1)
    }

    @Test func graphTooLargeEvenWithExternalDataIsAnError() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = try ONNXReader.read(path: Fixtures.onnxModel("magika_standard_v3_3.onnx"))
        var options = ONNXWriteOptions()
        options.messageLimit = 100
        #expect(throws: ONNXError.self) {
            try ONNXWriter.write(source.model, to: dir.appendingPathComponent("m.onnx").path, options: options)
        }
        #expect(try files(in: dir).isEmpty, "a failed write must leave nothing behind")
    }

    @Test func inputsAreNeverOverwritten() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("in.onnx").path
        let original = try Fixtures.read(Fixtures.onnxModel("sigmoid.onnx"))
        try Data(original).write(to: URL(fileURLWithPath: path))
        let model = try ONNXReader.read(path: path).model
        #expect(throws: ONNXError.self) {
            try ONNXWriter.write(model, to: path, options: ONNXWriteOptions(protectedPaths: [path]))
        }
        #expect(try Fixtures.read(path) == original)
    }

    @Test func failedWriteLeavesNoFile() throws {
        let model = try ONNXReader.read(path: Fixtures.onnxModel("sigmoid.onnx")).model
        #expect(throws: ONNXError.self) { try ONNXWriter.write(model, to: "/nonexistent-dir/x.onnx") }
    }

    @Test func sameInputGivesSameBytes() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let model = try ONNXReader.read(path: external).model
        for name in ["a.onnx", "b.onnx"] {
            _ = try ONNXWriter.write(
                model, to: dir.appendingPathComponent(name).path, options: ONNXWriteOptions(externalData: .always))
        }
        #expect(
            try Fixtures.read(dir.appendingPathComponent("a.onnx.data").path)
                == Fixtures.read(dir.appendingPathComponent("b.onnx.data").path))
        let a = try Fixtures.read(dir.appendingPathComponent("a.onnx").path)
        let b = try Fixtures.read(dir.appendingPathComponent("b.onnx").path)
        // The two differ only in the side file's name.
        #expect(a.count == b.count)
    }
}
