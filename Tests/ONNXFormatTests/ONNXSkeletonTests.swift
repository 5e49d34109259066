import ModelIR
import ONNXFormat
import TestSupport
import Testing

@Suite struct ONNXSkeletonTests {
    /// Detaches every tensor of at least `minimum` elements, decodes the skeleton and attaches them again.
    static func roundTrip(_ model: Model, minimum: Int) throws -> (Model, skeletonBytes: Int, detached: Int) {
        var detached = Set<Int>()
        var storages: [Int: TensorStorage] = [:]
        var ordinal = 0
        model.visitTensors { _, t in
            // External tensors are always detached: inlined in the skeleton they would lose their layout.
            if t.dtype != .string, (t.elementCount ?? 0) >= minimum || t.layout.dataField == .external {
                detached.insert(ordinal)
                storages[ordinal] = t.storage
            }
            ordinal += 1
        }
        let bytes = try ONNXSkeleton.serialize(model, detached: detached)
        var back = try ONNXSkeleton.decode(bytes, name: "test")
        back.format = model.format
        ordinal = 0
        back.forEachTensor { _, t in
            #expect(ONNXSkeleton.takeMarker(&t) == (storages[ordinal] != nil))
            if let s = storages[ordinal] {
                #expect(t.storage == .dense(TensorBuffer(copying: [])))
                t.storage = s
            }
            ordinal += 1
        }
        return (back, bytes.count, detached.count)
    }

    @Test(arguments: Fixtures.realONNXModels)
    func everyRealModelComesBackEqual(path: String) throws {
        let model = try ONNXReader.read(path: path).model
        let (back, skeleton, detached) = try Self.roundTrip(model, minimum: 1024)
        #expect(Bool(back == model))
        let original = try ONNXWriter.serialize(model)
        #expect(Bool(try ONNXWriter.serialize(back) == original))
        if detached > 0 { #expect(skeleton < original.count) }
    }

    @Test func detachingNothingIsTheModelItself() throws {
        let model = try ONNXReader.read(path: Fixtures.onnxModel("silero_vad.onnx")).model
        let (back, _, detached) = try Self.roundTrip(model, minimum: Int.max)
        #expect(detached == 0)
        #expect(Bool(back == model))
    }

    @Test func externalLayoutIsKept() throws {
        let path = Fixtures.onnxModel("romanizer_encoder_external/model.onnx")
        let model = try ONNXReader.read(path: path).model
        let (back, _, detached) = try Self.roundTrip(model, minimum: Int.max)
        #expect(detached == 9)
        #expect(Bool(back == model))
        var external = 0
        back.visitTensors { _, t in if t.layout.dataField == .external { external += 1 } }
        #expect(external > 0)
    }

    @Test func damagedSkeletonIsRefused() throws {
        let model = try ONNXReader.read(path: Fixtures.onnxModel("mul_1.onnx")).model
        let bytes = try ONNXSkeleton.serialize(model, detached: [0])
        #expect(throws: ONNXError.self) { try ONNXSkeleton.decode([], name: "x") }
        #expect(throws: ONNXError.self) { try ONNXSkeleton.decode(Array(bytes.prefix(bytes.count / 2)), name: "x") }
    }
}
