import FileSystem
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
        // And back inline (raw_data, as the source had them, without the external-data fields): the same
        // model, and the same bytes as the original file.
        var model = back.model
        model.forEachTensor { _, t in
            if t.layout.dataField == .external {
                t.layout = TensorLayout(dataField: .raw, hasDataType: t.layout.hasDataType, segment: t.layout.segment)
            }
        }
        #expect(model == source.model)
        #expect(try ONNXWriter.serialize(model) == Fixtures.read(Fixtures.onnxModel("silero_vad.onnx")))
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

    /// The write fails at the last step (the rename into place: a non-empty folder has the output's name),
    /// after the temporary files were written: the folder is left as it was.
    @Test(arguments: [ONNXWriteOptions.ExternalData.automatic, .always])
    func failedWriteLeavesNoFile(externalData: ONNXWriteOptions.ExternalData) throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let blocker = dir.appendingPathComponent("x.onnx")
        try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: false)
        try Data([1, 2, 3]).write(to: blocker.appendingPathComponent("keep"))
        let model = try ONNXReader.read(path: Fixtures.onnxModel("silero_vad.onnx")).model
        let e = #expect(throws: ONNXError.self) {
            try ONNXWriter.write(model, to: blocker.path, options: ONNXWriteOptions(externalData: externalData))
        }
        #expect(e?.code == .io && e?.cause?.operation == .rename, "\(String(describing: e))")
        #expect(try files(in: dir) == ["x.onnx"], "a failed write must leave nothing behind")
        #expect(try files(in: blocker) == ["keep"])
        #expect(try Fixtures.read(blocker.appendingPathComponent("keep").path) == [1, 2, 3])
    }

    /// The same failure over an earlier output's side file: the side file is put back as it was (the new one is
    /// renamed into place first, so the model never names data that is missing; the model's rename then fails).
    @Test func failedWriteRestoresAnEarlierSideFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let blocker = dir.appendingPathComponent("x.onnx")
        try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: false)
        let earlier: [UInt8] = Array("the earlier side file".utf8)
        let side = dir.appendingPathComponent("x.onnx.data")
        try Data(earlier).write(to: side)
        let model = try ONNXReader.read(path: Fixtures.onnxModel("silero_vad.onnx")).model
        let e = #expect(throws: ONNXError.self) {
            try ONNXWriter.write(model, to: blocker.path, options: ONNXWriteOptions(externalData: .always))
        }
        #expect(e?.cause?.operation == .rename, "\(String(describing: e))")
        #expect(try files(in: dir) == ["x.onnx", "x.onnx.data"], "a failed write must leave nothing behind")
        #expect(try Fixtures.read(side.path) == earlier, "the earlier side file must come back unchanged")
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
        // The two differ only in the side file's name: naming `b.onnx.data` where `a` names `a.onnx.data`
        // makes them equal.
        let (from, to) = (Array("a.onnx.data".utf8), Array("b.onnx.data".utf8))
        var renamed = a
        var references = 0
        var i = 0
        while i + from.count <= renamed.count {
            if Array(renamed[i..<(i + from.count)]) == from {
                renamed.replaceSubrange(i..<(i + from.count), with: to)
                references += 1
                i += from.count
            } else {
                i += 1
            }
        }
        #expect(references > 0, "a.onnx names its side file")
        #expect(a != b)
        #expect(renamed == b)
    }
}
