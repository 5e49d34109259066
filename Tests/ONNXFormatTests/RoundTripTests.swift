import Foundation
import ModelIR
import ONNXFormat
import TestSupport
import Testing

@Suite struct RoundTripTests {
    /// Golden bytes: protobuf-c writes what Python's onnx wrote, so read -> IR -> write must reproduce
    /// every real model and sample byte for byte.
    @Test(arguments: Fixtures.realONNXModels.filter { !$0.contains("_external/") } + Fixtures.sampleONNXModels)
    func realModelsComeBackByteIdentical(path: String) throws {
        let original = try Fixtures.read(path)
        let read = try ONNXReader.read(path: path)
        let written = try ONNXWriter.serialize(read.model)
        #expect(written.count == original.count)
        #expect(written == original, "\(path) changed on the way through the IR")
    }

    @Test func realModelsAreThere() {
        #expect(Fixtures.realONNXModels.count == 10, "the fixture manifest lists \(Fixtures.realONNXModels.count)")
        #expect(Fixtures.missingFixtures.isEmpty, "\(Fixtures.missingMessage)")
        #expect(!Fixtures.sampleONNXModels.isEmpty, "samples/*.onnx is missing")
    }

    /// Every kind of field the IR models, built by hand, survives write -> read -> write.
    @Test func everyFieldKindSurvives() throws {
        let model = EveryField.model()
        let bytes = try ONNXWriter.serialize(model)
        let copy = bytes
        let back = try ONNXReader.decode(copy, path: "every-field.onnx", baseDirectory: nil).model
        let same = back == model  // compared outside #expect, whose failure text would print both models
        #expect(same, "the IR changed on the way through ONNX")
        #expect(try ONNXWriter.serialize(back) == bytes)
    }

    @Test func unknownFieldsAreKeptVerbatim() throws {
        var bytes = try Fixtures.read(Fixtures.onnxModel("sigmoid.onnx"))
        // Field 999 (varint 7) and field 1000 (length-delimited "hi") at the top level.
        var extra = ProtoBytes()
        extra.int(999, 7)
        extra.string(1000, "hi")
        bytes += extra.bytes
        let copy = bytes
        let model = try ONNXReader.decode(copy, path: "unknown.onnx", baseDirectory: nil).model
        #expect(model.unknownFields.fields.map(\.number) == [999, 1000])
        #expect(try ONNXWriter.serialize(model) == bytes)
    }

    /// A file that already uses the field number the zero-copy reader borrows for its placeholders is
    /// read by the plain path, and still comes back byte for byte.
    @Test func placeholderFieldNumberInTheInputIsHandled() throws {
        var bytes = CraftedONNX.initializer(dims: [1024], rawBytes: 4096)
        let plain = try ONNXWriter.serialize(ONNXReader.decode(bytes, path: "a.onnx", baseDirectory: nil).model)
        #expect(plain == bytes)
        // Same model with the placeholder field (536870911) added to the tensor, as an unknown field.
        bytes = CraftedONNX.model { g in
            g.string(2, "g")
            g.message(5) { t in
                t.int(1, 1024)
                t.int(2, 1)
                t.string(8, "w")
                t.bytes(9, [UInt8](repeating: 0x3f, count: 4096))
                t.int(536_870_911, 5)
            }
            g.message(12) { v in v.string(1, "w") }
        }
        let model = try ONNXReader.decode(bytes, path: "b.onnx", baseDirectory: nil).model
        #expect(model.graph.initializers[0].unknownFields.fields.map(\.number) == [536_870_911])
        #expect(try ONNXWriter.serialize(model) == bytes)
    }

    /// int32_data values out of range for a narrow type are kept as their low bits, with a warning.
    @Test func outOfRangeTypedValuesAreReported() throws {
        var packed = ProtoBytes()
        packed.varint(300)
        packed.varint(5)
        let bytes = CraftedONNX.model { g in
            g.string(2, "g")
            g.message(5) { t in
                t.int(1, 2)
                t.int(2, 2)  // uint8
                t.bytes(5, packed.bytes)
                t.string(8, "u")
            }
        }
        let r = try ONNXReader.decode(bytes, path: "u8.onnx", baseDirectory: nil)
        guard case .dense(let b) = r.model.graph.initializers[0].storage else {
            Issue.record("expected dense storage")
            return
        }
        #expect(b.bytes == [44, 5])
        #expect(r.diagnostics.count == 1)
        #expect(r.diagnostics.first?.message.contains("outside the range of uint8") == true)
    }

    @Test func largeWeightsAreSharedWithTheInputNotCopied() throws {
        let input = TensorBuffer(copying: try Fixtures.read(Fixtures.onnxModel("magika_standard_v3_3.onnx")))
        let model = try ONNXReader.decode(input, path: "magika.onnx", baseDirectory: nil).model
        let start = UInt(bitPattern: input.baseAddress)
        var shared = 0
        model.visitTensors { _, t in
            guard case .dense(let b) = t.storage, b.count >= 512, let a = b.baseAddress else { return }
            let p = UInt(bitPattern: a)
            if p >= start && p < start + UInt(input.count) { shared += 1 }
        }
        #expect(shared >= 9)
    }

    @Test func constantNodeWeightsAreVisibleAsTensors() throws {
        let model = try ONNXReader.read(path: Fixtures.onnxModel("ppocr_mobile_v2_cls.onnx")).model
        #expect(model.graph.initializers.isEmpty)  // PaddlePaddle keeps every weight in Constant nodes
        var constants = 0
        var elements = 0
        model.visitTensors { loc, t in
            if loc.role == .attribute, loc.opType == "Constant" {
                constants += 1
                elements += t.elementCount ?? 0
            }
        }
        #expect(constants > 40)
        #expect(elements > 100_000)
    }

    @Test func subgraphWeightsAreVisible() throws {
        let model = try ONNXReader.read(path: Fixtures.onnxModel("silero_vad.onnx")).model
        var maxDepth = 0
        var inSubgraphs = 0
        model.visitTensors { loc, t in
            maxDepth = max(maxDepth, loc.depth)
            if loc.depth > 0 { inSubgraphs += t.elementCount ?? 0 }
        }
        #expect(maxDepth >= 1)
        #expect(inSubgraphs > 500_000)
    }
}

/// A hand-built model that fills every field the IR models.
enum EveryField {
    static func buffer(_ floats: [Float]) -> TensorBuffer {
        TensorBuffer(copying: floats.flatMap { f in withUnsafeBytes(of: f.bitPattern.littleEndian) { Array($0) } })
    }

    static func model() -> Model {
        let u = UnknownFields([.init(number: 777, wireType: 0, payload: [5])])
        var t = Tensor(
            name: "w", dtype: .float32, dims: [2, 2], storage: .dense(buffer([1, -2, 0.5, 3])), docString: "weight",
            metadata: [MetadataEntry(key: "k", value: "v")], unknownFields: u)
        t.layout.segment = .init(begin: 0, end: 4)
        var typed = Tensor(
            name: "t16", dtype: .float16, dims: [3], storage: .dense(TensorBuffer(copying: [0, 60, 0, 188, 255, 127])))
        typed.layout.dataField = .typed
        var i8 = Tensor(
            name: "i8", dtype: .int8, dims: [3], storage: .dense(TensorBuffer(copying: [0x80, 0x7f, 0xff])))
        i8.layout.dataField = .typed
        var u32 = Tensor(name: "u32", dtype: .uint32, dims: [1], storage: .dense(TensorBuffer(copying: [1, 2, 3, 4])))
        u32.layout.dataField = .typed
        var i4 = Tensor(name: "i4", dtype: .int4, dims: [3], storage: .dense(TensorBuffer(copying: [0x21, 0x03])))
        i4.layout.dataField = .typed
        var f64 = Tensor(
            name: "f64", dtype: .float64, dims: [1],
            storage: .dense(TensorBuffer(copying: [0, 0, 0, 0, 0, 0, 240, 63])))
        f64.layout.dataField = .typed
        var s = Tensor(name: "s", dtype: .string, dims: [2], storage: .strings([Array("a".utf8), [0, 255]]))
        s.layout.dataField = .typed
        let idx = Tensor(
            name: "idx", dtype: .int64, dims: [1], storage: .dense(TensorBuffer(copying: [1, 0, 0, 0, 0, 0, 0, 0])))
        let sparse = SparseTensor(
            values: Tensor(name: "sv", dtype: .float32, dims: [1], storage: .dense(buffer([9]))), indices: idx,
            dims: [4])

        var sub = Graph(name: "body")
        sub.nodes = [Node(name: "id", opType: "Identity", inputs: ["x"], outputs: ["y"])]
        sub.outputs = [ValueInfo(name: "y", type: ValueType(.tensor(TensorType(elementType: .float32, shape: nil))))]

        var attrs: [Attribute] = []
        var a = Attribute(name: "f", kind: .float); a.float = 0.25; a.docString = "d"; attrs.append(a)
        a = Attribute(name: "i", kind: .int); a.int = -3; attrs.append(a)
        a = Attribute(name: "s", kind: .string); a.string = [0, 1, 2]; attrs.append(a)
        a = Attribute(name: "t", kind: .tensor); a.tensor = typed; attrs.append(a)
        a = Attribute(name: "g", kind: .graph); a.graph = sub; attrs.append(a)
        a = Attribute(name: "st", kind: .sparseTensor); a.sparseTensor = sparse; attrs.append(a)
        a = Attribute(name: "tp", kind: .typeProto)
        a.typeProto = ValueType(
            .sequence(
                elem: ValueType(.tensor(TensorType(elementType: .int8, shape: Shape([])))), unknownFields: .init()))
        attrs.append(a)
        a = Attribute(name: "fs", kind: .floats); a.floats = [1, 2]; attrs.append(a)
        a = Attribute(name: "is", kind: .ints); a.ints = [1, -1]; attrs.append(a)
        a = Attribute(name: "ss", kind: .strings); a.strings = [[1], []]; attrs.append(a)
        a = Attribute(name: "ts", kind: .tensors); a.tensors = [i8, u32, i4, f64, s]; attrs.append(a)
        a = Attribute(name: "gs", kind: .graphs); a.graphs = [sub, sub]; attrs.append(a)
        a = Attribute(name: "sts", kind: .sparseTensors); a.sparseTensors = [sparse]; attrs.append(a)
        a = Attribute(name: "tps", kind: .typeProtos)
        a.typeProtos = [
            ValueType(
                .map(
                    key: .int64, value: ValueType(.optional(elem: nil, unknownFields: .init())), unknownFields: .init())
            ),
            ValueType(.opaque(domain: "d", name: "n", unknownFields: .init()), denotation: "IMAGE"),
            ValueType(.sparseTensor(TensorType(elementType: .float32, shape: Shape([Dimension(.fixed(4))])))),
            ValueType(nil, denotation: "nothing"),
        ]
        attrs.append(a)
        a = Attribute(name: "ref", kind: .float); a.refAttrName = "alpha"; attrs.append(a)

        var node = Node(
            name: "n", domain: "custom", opType: "Op", inputs: ["x", ""], outputs: ["y"], attributes: attrs)
        node.overload = "o"
        node.docString = "node doc"
        node.metadata = [MetadataEntry(key: "a", value: nil)]
        node.unknownFields = u

        var g = Graph(name: "main")
        g.nodes = [node]
        g.initializers = [t]
        g.sparseInitializers = [sparse]
        g.inputs = [
            ValueInfo(
                name: "x",
                type: ValueType(
                    .tensor(
                        TensorType(
                            elementType: .float32,
                            shape: Shape([
                                Dimension(.symbolic("batch"), denotation: "DATA_BATCH"), Dimension(.fixed(2)),
                                Dimension(nil),
                            ]))), denotation: "TENSOR"),
                docString: "input", metadata: [MetadataEntry(key: "m", value: "n")])
        ]
        g.outputs = [ValueInfo(name: "y", type: nil)]
        g.valueInfo = [ValueInfo(name: "z", type: ValueType(.tensor(TensorType(elementType: nil, shape: nil))))]
        g.quantizationAnnotations = [
            TensorAnnotation(
                tensorName: "w", quantParameterTensorNames: [MetadataEntry(key: "SCALE_TENSOR", value: "s")])
        ]
        g.docString = "graph doc"
        g.metadata = [MetadataEntry(key: "gk", value: "gv")]

        var f = Function(name: "Op", domain: "custom")
        f.overload = "o"
        f.inputs = ["x"]
        f.outputs = ["y"]
        f.attributeNames = ["alpha"]
        var fa = Attribute(name: "beta", kind: .int); fa.int = 2
        f.attributes = [fa]
        f.nodes = [Node(opType: "Identity", inputs: ["x"], outputs: ["y"])]
        f.opsetImports = [OpsetImport(domain: "", version: 17)]
        f.valueInfo = [ValueInfo(name: "x", type: nil)]
        f.metadata = [MetadataEntry(key: "fk", value: "fv")]
        f.docString = "function doc"

        var m = Model(format: .onnx, graph: g)
        m.irVersion = 10
        m.opsetImports = [
            OpsetImport(domain: "", version: 17), OpsetImport(domain: "", version: 17),
            OpsetImport(domain: "custom", version: 1),
        ]
        m.producerName = "test"
        m.producerVersion = "1"
        m.domain = "ai.modelpress"
        m.modelVersion = 3
        m.docString = "model doc"
        m.metadata = [MetadataEntry(key: "author", value: "me")]
        m.functions = [f]
        m.trainingInfo = [
            TrainingInfo(
                initialization: sub, algorithm: nil, initializationBinding: [MetadataEntry(key: "a", value: "b")],
                updateBinding: [])
        ]
        m.unknownFields = u
        // Distributed-execution messages, kept verbatim.
        var device = ProtoBytes()
        device.string(1, "cfg")
        device.int(2, 2)
        device.string(3, "gpu0")
        device.string(3, "gpu1")
        m.deviceConfigurations = [OpaqueMessage(typeName: "onnx.DeviceConfigurationProto", bytes: device.bytes)]
        var placement = ProtoBytes()
        placement.string(1, "cfg")
        placement.message(2) { spec in
            spec.string(1, "x")
            spec.int(2, 0)
            spec.int(2, 1)
            spec.message(4) { dim in
                dim.int(1, 0)
                dim.message(2) {
                    $0.int(1, 4); $0.int(3, 2)
                }
            }
        }
        placement.int(3, 1)
        m.graph.nodes[0].deviceConfigurations = [
            OpaqueMessage(typeName: "onnx.NodeDeviceConfigurationProto", bytes: placement.bytes)
        ]
        return m
    }
}
