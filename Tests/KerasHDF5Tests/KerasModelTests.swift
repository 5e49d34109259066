import Foundation
import ModelIR
import TestSupport
import Testing

@testable import KerasHDF5

/// Edits an HDF5 tree in place at a slash-separated path of groups.
func kerasEditGroup(_ g: inout H5Group, _ path: [String], _ body: (inout H5Group) -> Void) {
    guard let first = path.first else {
        body(&g)
        return
    }
    for i in g.children.indices {
        guard case .group(var sub) = g.children[i], sub.name == first else { continue }
        kerasEditGroup(&sub, Array(path.dropFirst()), body)
        g.children[i] = .group(sub)
    }
}

/// A temporary file path with `name`.
func kerasTemp(_ name: String) throws -> String {
    try Fixtures.temporaryDirectory().appendingPathComponent(name).path
}

@Suite struct KerasModelTests {
    /// Keras -> IR -> Keras -> IR gives the same IR: every tensor, node and container record.
    @Test(arguments: Fixtures.realKerasModels)
    func readWriteReadIsTheSame(path: String) throws {
        let first = try KerasReader.read(path: path)
        let out = try kerasTemp(URL(fileURLWithPath: path).lastPathComponent)
        _ = try KerasWriter.write(first.model, to: out)
        let second = try KerasReader.read(path: out)
        #expect(second.model.graph.initializers == first.model.graph.initializers)
        #expect(second.model.graph.nodes == first.model.graph.nodes)
        #expect(second.info == first.info)
        #expect(second.model.sourceContainer == first.model.sourceContainer)
        // Deterministic: the same model writes the same bytes.
        let again = out + ".again" + (path.hasSuffix(".keras") ? ".keras" : ".h5")
        _ = try KerasWriter.write(first.model, to: again)
        #expect(try Fixtures.read(out) == Fixtures.read(again))
    }

    @Test func realKerasModelsAreThere() {
        #expect(Fixtures.realKerasModels.count == 17, "the fixture manifest lists \(Fixtures.realKerasModels.count)")
        #expect(Fixtures.missingFixtures.isEmpty, "\(Fixtures.missingMessage)")
    }

    /// Layers become keras-domain nodes; weights attach to the innermost layer their path names.
    @Test func layersAndWeights() throws {
        let fer = try KerasReader.read(path: Fixtures.kerasModel("fer_emotion_model.hdf5"))
        #expect(fer.info.layout == .fullModel)
        #expect(fer.info.kerasVersion == "2.0.5")
        #expect(fer.info.backend == "tensorflow")
        #expect(fer.info.hasTrainingConfig)
        #expect(fer.info.optimizerTensors > 100)
        let conv = try #require(fer.model.graph.nodes.first { $0.name == "conv2d_1" })
        #expect(conv.domain == "keras" && conv.opType == "Conv2D")
        #expect(conv.inputs == ["input_1", "model_weights/conv2d_1/conv2d_1_1/kernel:0"])
        let kernel = try #require(fer.model.graph.initializers.first { $0.name == conv.inputs[1] })
        #expect(kernel.dims == [3, 3, 1, 8])
        #expect(kernel.metadata.contains(MetadataEntry(key: KerasMetadata.layer, value: "conv2d_1")))
        let opt = fer.model.graph.initializers.filter { $0.name?.hasPrefix("optimizer_weights/") == true }
        #expect(opt.count == fer.info.optimizerTensors)
        #expect(opt.allSatisfy { $0.metadata.contains(MetadataEntry(key: KerasMetadata.role, value: "optimizer")) })

        // Nested models: the weight belongs to the inner Dense, not to the Sequential that holds it.
        let nested = try KerasReader.read(path: Fixtures.kerasModel("k3_nested_submodels.h5"))
        let dense3 = try #require(nested.model.graph.nodes.first { $0.name == "dense_3" })
        #expect(dense3.opType == "Dense")
        #expect(dense3.metadata.contains(MetadataEntry(key: KerasMetadata.parent, value: "inner_sequential")))
        #expect(dense3.inputs.contains("model_weights/inner_sequential/inner_sequential/dense_3/kernel"))

        // A .keras zip: Keras 3 names weight groups by class; the config says which layer each is.
        let zip = try KerasReader.read(path: Fixtures.kerasModel("k3_branching_functional.keras"))
        #expect(zip.info.layout == .kerasZip && zip.info.kerasVersion == "3.15.1")
        let stem = try #require(zip.model.graph.nodes.first { $0.name == "stem" })
        #expect(stem.opType == "Conv2D" && stem.inputs.contains("layers/conv2d/vars/0"))
        let head = try #require(zip.model.graph.nodes.first { $0.name == "reg_head" })
        #expect(head.inputs.contains("layers/dense_1/vars/0"))
        #expect(!zip.model.graph.nodes.contains { $0.opType == "Layer" })
    }

    @Test func stripOptimizerDropsOnlyTheOptimizerState() throws {
        for name in ["fer_emotion_model.hdf5", "k3_lstm_text_sequential.h5", "k3_lstm_text.weights.h5"] {
            let r = try KerasReader.read(path: Fixtures.kerasModel(name))
            var o = KerasWriteOptions()
            o.stripOptimizer = true
            let out = try kerasTemp(name)
            let w = try KerasWriter.write(r.model, to: out, options: o)
            let back = try KerasReader.read(path: out)
            #expect(back.info.optimizerTensors == 0, "\(name)")
            #expect(w.bytes < (try Fixtures.read(Fixtures.kerasModel(name))).count, "\(name)")
            let weights = r.model.graph.initializers.filter { t in
                !t.metadata.contains(MetadataEntry(key: KerasMetadata.role, value: "optimizer"))
            }
            #expect(back.model.graph.initializers == weights, "\(name)")
        }
    }

    @Test func warnsAboutLambdaAndCustomLayers() throws {
        let path = Fixtures.kerasModel("k2_conv1d_sequential.h5")
        var tree = try HDF5.readTree(path: path)
        let i = try #require(tree.root.attributes.firstIndex { $0.name == "model_config" })
        guard case .variableStrings(let s) = tree.root.attributes[i].value else {
            Issue.record("model_config is not a variable-length string")
            return
        }
        var json = String(decoding: s[0], as: UTF8.self)
        json = json.replacingOccurrences(of: "\"class_name\": \"MaxPooling1D\"", with: "\"class_name\": \"Lambda\"")
        json = json.replacingOccurrences(
            of: "\"class_name\": \"GlobalMaxPooling1D\"", with: "\"class_name\": \"MyPool\"")
        tree.root.attributes[i].value = .variableStrings([Array(json.utf8)])
        let out = try kerasTemp("lambda.h5")
        try HDF5.writeTree(tree, to: out)
        let r = try KerasReader.read(path: out)
        let text = r.diagnostics.map(\.description).joined(separator: "\n")
        #expect(text.contains("Lambda layer") && text.contains("Python bytecode"), "\(text)")
        #expect(text.contains("custom class 'MyPool'"), "\(text)")
        #expect(r.diagnostics.count == 2)
    }

    // MARK: Bad input

    func expectError(_ code: KerasError.Code, _ path: String, containing words: [String]) {
        do {
            _ = try KerasReader.read(path: path)
            Issue.record("\(path) was read without error")
        } catch {
            #expect(error.code == code, "\(error)")
            for w in words { #expect(error.description.contains(w), "\(error) lacks '\(w)'") }
            #expect(!error.description.contains("\n"))
            #expect(error.description.hasPrefix(path))
        }
    }

    @Test func anHDF5FileThatIsNotKeras() throws {
        var g = H5Group(name: "", attributes: [], children: [], encodedCreationProperties: [])
        let data = TensorBuffer(copying: [UInt8](repeating: 7, count: 64))
        g.children = [
            .dataset(
                H5Dataset(
                    name: "data", attributes: [], type: try HDF5.typeInfo(.float32), space: try HDF5.space(dims: [16]),
                    encodedCreationProperties: try HDF5.datasetCreationProperties(), layout: .contiguous,
                    value: .raw(data)))
        ]
        let out = try kerasTemp("plain.h5")
        try HDF5.writeTree(H5Tree(root: g), to: out)
        expectError(.notKeras, out, containing: ["not a Keras model"])
        let text = try kerasTemp("text.h5")
        try Data("hello".utf8).write(to: URL(fileURLWithPath: text))
        expectError(.notHDF5, text, containing: ["not an HDF5 file"])
    }

    @Test func missingWeightsAreNamed() throws {
        var tree = try HDF5.readTree(path: Fixtures.kerasModel("k2_conv1d_sequential.h5"))
        // Remove the first Conv1D's weight group, as a damaged file would lack it.
        var removed = ""
        kerasEditGroup(&tree.root, ["model_weights"]) { g in
            if let i = g.children.firstIndex(where: { $0.name.hasPrefix("conv1d") }) {
                removed = g.children[i].name
                g.children.remove(at: i)
            }
        }
        #expect(!removed.isEmpty)
        let out = try kerasTemp("missing.h5")
        try HDF5.writeTree(tree, to: out)
        expectError(.inconsistent, out, containing: [removed, "missing"])

        // A weight listed in weight_names whose dataset is gone.
        var tree2 = try HDF5.readTree(path: Fixtures.kerasModel("k2_conv1d_sequential.h5"))
        kerasEditGroup(&tree2.root, ["model_weights", "dense_6", "dense_6"]) { g in
            g.children.removeAll { $0.name.hasPrefix("bias") }
        }
        let out2 = try kerasTemp("missing-bias.h5")
        try HDF5.writeTree(tree2, to: out2)
        expectError(.inconsistent, out2, containing: ["dense_6/bias", "no dataset"])
    }

    @Test func shapesThatDisagreeWithTheConfig() throws {
        var tree = try HDF5.readTree(path: Fixtures.kerasModel("k2_conv1d_sequential.h5"))
        kerasEditGroup(&tree.root, ["model_weights", "dense_6", "dense_6"]) { g in
            for i in g.children.indices {
                guard case .dataset(var d) = g.children[i], d.name.hasPrefix("kernel") else { continue }
                // Same bytes, transposed shape: 64x10 becomes 10x64.
                if let s = try? HDF5.space(dims: d.space.dims.reversed()) { d.space = s }
                g.children[i] = .dataset(d)
            }
        }
        let out = try kerasTemp("transposed.h5")
        try HDF5.writeTree(tree, to: out)
        expectError(.inconsistent, out, containing: ["layer 'dense_6' (Dense)", "expects kernel", "10x64"])
    }

    @Test func brokenConfigJSON() throws {
        var tree = try HDF5.readTree(path: Fixtures.kerasModel("k2_conv1d_sequential.h5"))
        let i = try #require(tree.root.attributes.firstIndex { $0.name == "model_config" })
        tree.root.attributes[i].value = .variableStrings([Array("{\"class_name\": ".utf8)])
        let out = try kerasTemp("badjson.h5")
        try HDF5.writeTree(tree, to: out)
        expectError(.inconsistent, out, containing: ["not valid JSON"])
    }

    // MARK: Writer refusals

    @Test func writerRefusesWhatKerasFilesCannotHold() throws {
        let r = try KerasReader.read(path: Fixtures.kerasModel("k3_fp16_mlp.h5"))
        let dir = try Fixtures.temporaryDirectory()
        func refuse(_ m: Model, _ name: String, _ code: KerasError.Code, _ word: String) {
            let out = dir.appendingPathComponent(name).path
            do {
                _ = try KerasWriter.write(m, to: out)
                Issue.record("\(name) was written")
            } catch {
                #expect(error.code == code, "\(error)")
                #expect(error.description.contains(word), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: out))
        }
        var quantized = r.model
        let k = quantized.graph.initializers.firstIndex { $0.dims.count == 2 }!
        quantized.graph.initializers[k].storage = .palettized(
            Palettized(bits: 1, granularity: .perTensor, codebook: [0, 1], indices: TensorBuffer(copying: [0])))
        refuse(quantized, "q.h5", .unsupported, "dequantize")
        var retyped = r.model
        retyped.graph.initializers[k].dtype = .float32
        refuse(retyped, "t.h5", .unsupported, "keep each weight's type")
        var missing = r.model
        missing.graph.initializers.remove(at: k)
        refuse(missing, "m.h5", .inconsistent, "no tensor for dataset")
        refuse(r.model, "x.keras", .unsupported, ".h5")
        refuse(Model(format: .onnx, graph: Graph()), "o.h5", .unsupported, "read from a Keras file")
        // Never overwrite an input.
        let input = dir.appendingPathComponent("in.h5").path
        try FileManager.default.copyItem(atPath: Fixtures.kerasModel("k3_fp16_mlp.h5"), toPath: input)
        var o = KerasWriteOptions()
        o.protectedPaths = [input]
        #expect(throws: KerasError.self) { try KerasWriter.write(r.model, to: input, options: o) }
        #expect(try Fixtures.read(input) == Fixtures.read(Fixtures.kerasModel("k3_fp16_mlp.h5")))
    }
}
