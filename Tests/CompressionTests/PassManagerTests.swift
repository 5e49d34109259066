import Foundation
import KerasHDF5
import ModelIR
import ONNXFormat
import TestSupport
import Testing

@testable import Compression

/// Builds small IR models whose tensors feed known operators.
enum Models {
    static func floats(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0..<n).map { _ in Float.random(in: -scale...scale, using: &g) }
    }

    static func tensor(_ name: String, _ dims: [Int64], seed: UInt64, dtype: DType = .float32, values: [Float]? = nil)
        -> Tensor
    {
        let n = Int(dims.reduce(1, *))
        let v = values ?? floats(n, seed: seed)
        let storage: TensorStorage
        if dtype == .float32 {
            storage = .dense(
                TensorBuffer(count: n * 4) { out in
                    for i in 0..<n {
                        out.storeBytes(of: v[i].bitPattern.littleEndian, toByteOffset: i * 4, as: UInt32.self)
                    }
                })
        } else {
            storage = .dense(TensorBuffer(copying: [UInt8](repeating: 1, count: dtype.byteCount(elements: n) ?? 0)))
        }
        return Tensor(name: name, dtype: dtype, dims: dims, storage: storage)
    }

    static func node(_ op: String, _ inputs: [String], domain: String? = nil, ints: [String: Int64] = [:]) -> Node {
        var n = Node(
            name: op + "_" + (inputs.last ?? ""), domain: domain, opType: op, inputs: inputs, outputs: [op + "_out"])
        for (k, v) in ints.sorted(by: { $0.key < $1.key }) {
            var a = Attribute(name: k, kind: .int)
            a.int = v
            n.attributes.append(a)
        }
        return n
    }

    static func model(_ tensors: [Tensor], _ nodes: [Node], format: ModelFormat = .onnx) -> Model {
        var g = Graph(name: "g")
        g.initializers = tensors
        g.nodes = nodes
        return Model(format: format, graph: g)
    }

    static func kerasWeight(_ name: String, layer: String, _ dims: [Int64], seed: UInt64) -> Tensor {
        var t = tensor(name, dims, seed: seed)
        t.metadata = [
            MetadataEntry(key: "keras.layer", value: layer), MetadataEntry(key: "keras.role", value: "weight"),
            MetadataEntry(key: "keras.weight", value: name),
        ]
        return t
    }
}

@Suite struct PipelineTests {
    @Test func parsesPassesAndParameters() throws {
        let p = try Pipeline.parse(" prune(sparsity=0.6), kmeans(bits=4 , granularity=channel) ,huffman")
        #expect(p.map(\.name) == ["prune", "kmeans", "huffman"])
        #expect(p[1].arguments == [.init("bits", "4"), .init("granularity", "channel")])
        #expect(p.map(\.text) == ["prune(sparsity=0.6)", "kmeans(bits=4,granularity=channel)", "huffman"])
    }

    @Test(arguments: ["", "kmeans(bits=4", "kmeans(bits)", "prune(sparsity=0.5),", "a b", "kmeans(=4)"])
    func syntaxErrorsAreUsageErrors(text: String) {
        #expect(throws: CompressionError.self) { try Pipeline.parse(text) }
        do {
            _ = try Pipeline.parse(text)
        } catch {
            #expect(error.code == .usage)
        }
    }

    @Test func unknownPassListsTheValidOnes() throws {
        let spec = try Pipeline.parse("zip(level=9)")[0]
        do {
            _ = try PassRegistry.make(spec)
            Issue.record("an unknown pass was accepted")
        } catch {
            #expect(error.code == .usage)
            #expect(error.message.contains("unknown pass 'zip'"))
            #expect(
                error.message.contains("kmeans") && error.message.contains("linear") && error.message.contains("prune"))
        }
    }

    @Test func unknownParameterListsTheValidOnes() throws {
        do {
            _ = try PassRegistry.make(try Pipeline.parse("kmeans(bitz=4)")[0])
            Issue.record("an unknown parameter was accepted")
        } catch {
            #expect(error.code == .usage)
            #expect(error.message.contains("unknown parameter 'bitz'"))
            #expect(error.message.contains("bits=1..8"))
        }
    }

    @Test(arguments: ["linear(bits=9)", "linear(scheme=odd)", "prune(sparsity=1.5)", "prune()", "kmeans(bits=x)"])
    func badValuesAreUsageErrors(text: String) throws {
        let spec = try Pipeline.parse(text)[0]
        #expect(throws: CompressionError.self) { try PassRegistry.make(spec) }
    }

    @Test func stagesMustComeInOrder() throws {
        for bad in ["kmeans(bits=4),prune(sparsity=0.5)", "huffman,linear", "linear,kmeans"] {
            let m = PassManager(recipe: Recipe(passes: try Pipeline.parse(bad)))
            #expect(throws: CompressionError.self, "\(bad) was accepted") { try m.validate() }
        }
        try PassManager(
            recipe: Recipe(passes: try Pipeline.parse("prune(sparsity=0.5),clip(percentile=99),kmeans,huffman"))
        )
        .validate()
    }
}

@Suite struct ChannelAxisTests {
    /// The output-channel (and input) axis of a weight follows its consumer.
    @Test func onnxConsumers() {
        let cases: [(Node, [Int64], Int?, Int?)] = [
            (Models.node("Conv", ["x", "w"]), [8, 4, 3, 3], 0, 1),
            (Models.node("Conv", ["x", "w"], ints: ["group": 4]), [8, 1, 3, 3], 0, 1),  // grouped / depthwise
            (Models.node("ConvTranspose", ["x", "w"]), [4, 8, 3, 3], 1, 0),
            (Models.node("Gemm", ["x", "w"]), [64, 32], 1, 0),
            (Models.node("Gemm", ["x", "w"], ints: ["transB": 1]), [32, 64], 0, 1),
            (Models.node("MatMul", ["x", "w"]), [64, 32], 1, 0),
            (Models.node("MatMul", ["x", "w"]), [4, 64, 32], 2, 1),
            (Models.node("MatMul", ["w", "x"]), [64, 32], 0, 1),
            (Models.node("Gather", ["w", "ids"]), [1000, 64], 0, 1),
            (Models.node("LSTM", ["x", "w", "r"]), [1, 256, 64], 1, 2),
            (Models.node("Relu", ["w"]), [8, 8], nil, nil),
        ]
        for (node, dims, channel, input) in cases {
            let m = Models.model([Models.tensor("w", dims, seed: 1)], [node])
            let s = ModelAnalysis.sites(of: m)[0]
            #expect(s.channelAxis == channel, "\(node.opType!) \(dims): \(s.axisReason)")
            #expect(s.inputAxis == input, "\(node.opType!) \(dims)")
        }
    }

    @Test func throughIdentityAndConstantNodes() {
        // A Constant node's value reaches Conv through Identity.
        var constant = Node(name: "c", opType: "Constant", outputs: ["wc"])
        var a = Attribute(name: "value", kind: .tensor)
        a.tensor = Models.tensor("", [16, 8, 3, 3], seed: 2)
        constant.attributes = [a]
        let identity = Node(name: "id", opType: "Identity", inputs: ["wc"], outputs: ["wi"])
        let m = Models.model([], [constant, identity, Models.node("Conv", ["x", "wi"])])
        let s = ModelAnalysis.sites(of: m)
        #expect(s.count == 1)
        #expect(s[0].name == "wc")
        #expect(s[0].channelAxis == 0)
        #expect(s[0].consumers.map(\.opType) == ["Conv"])
    }

    @Test func kerasLayers() {
        let cases: [(String, String, [Int64], Int?)] = [
            ("Dense", "kernel", [64, 10], 1),
            ("Conv2D", "kernel", [3, 3, 16, 32], 3),
            ("Conv1D", "kernel", [5, 16, 32], 2),
            ("DepthwiseConv2D", "kernel", [3, 3, 16, 1], 2),
            ("SeparableConv2D", "depthwise_kernel", [3, 3, 16, 1], 2),
            ("SeparableConv2D", "pointwise_kernel", [1, 1, 16, 32], 3),
            ("Conv2DTranspose", "kernel", [3, 3, 8, 16], 2),
            ("Embedding", "embeddings", [1000, 64], 0),
            ("LSTM", "kernel", [64, 256], 1),
        ]
        for (cls, w, dims, axis) in cases {
            let t = Models.kerasWeight("layer/\(w):0", layer: "layer", dims, seed: 3)
            let n = Node(name: "layer", domain: "keras", opType: cls, inputs: ["prev", t.name!], outputs: ["layer"])
            let s = ModelAnalysis.sites(of: Models.model([t], [n], format: .keras))[0]
            #expect(s.channelAxis == axis, "\(cls) \(w): \(s.axisReason)")
        }
    }
}

@Suite struct PassManagerTests {
    func run(_ m: Model, _ pipeline: String, recipe: (inout Recipe) -> Void = { _ in }) throws -> CompressionResult {
        var r = Recipe(passes: try Pipeline.parse(pipeline))
        recipe(&r)
        return try PassManager(recipe: r).run(m)
    }

    func convModel() -> Model {
        Models.model(
            [
                Models.tensor("conv1.w", [32, 16, 3, 3], seed: 1), Models.tensor("conv1.b", [32], seed: 2),
                Models.tensor("conv2.w", [64, 32, 3, 3], seed: 3), Models.tensor("bn.scale", [64], seed: 4),
                Models.tensor("fc.w", [10, 4096], seed: 5), Models.tensor("small", [4, 4], seed: 6),
                Models.tensor("shape", [2], seed: 7, dtype: .int64),
                Models.tensor("q", [64, 64], seed: 8, dtype: .int8),
            ],
            [
                Models.node("Conv", ["x", "conv1.w", "conv1.b"]), Models.node("Conv", ["y", "conv2.w"]),
                Models.node("BatchNormalization", ["z", "bn.scale"]),
                Models.node("Gemm", ["f", "fc.w"], ints: ["transB": 1]),
                Models.node("MatMul", ["s", "small"]), Models.node("Reshape", ["r", "shape"]),
                Models.node("DequantizeLinear", ["q", "qs"]),
            ])
    }

    @Test func defaultExclusionsSayWhy() throws {
        let r = try run(convModel(), "linear(bits=8)").report
        let why = Dictionary(uniqueKeysWithValues: r.tensors.map { ($0.name, $0.skipped ?? "compressed") })
        #expect(why["conv1.w"] == "compressed")
        #expect(why["conv2.w"] == "compressed")
        #expect(why["fc.w"] == "compressed")
        #expect(why["small"]?.contains("small") == true)
        #expect(why["shape"]?.contains("integer") == true)
        #expect(why["q"]?.contains("already quantized") == true)
        #expect(why["conv1.b"]?.hasPrefix("small") == true)
        #expect(r.totals.processed == 3)

        // With no size floor, biases and normalization parameters are still left alone, each for its reason.
        var recipe = Recipe(passes: try Pipeline.parse("linear(bits=8)"))
        recipe.defaults.minElements = 1
        let all = try PassManager(recipe: recipe).run(convModel()).report
        let reason = Dictionary(uniqueKeysWithValues: all.tensors.map { ($0.name, $0.skipped ?? "compressed") })
        #expect(reason["conv1.b"] == "bias")
        #expect(reason["bn.scale"] == "normalization parameter")
        #expect(reason["small"] == "compressed")
        #expect(reason["shape"]?.contains("integer") == true)
    }

    @Test func recipeOverridesByPositionOpAndName() throws {
        let result = try run(convModel(), "kmeans(bits=4)") { r in
            var first = TensorOverride(match: TensorMatch(op: "Conv", position: .first))
            first.parameters["kmeans"] = [.init("bits", "8")]
            var gemm = TensorOverride(match: TensorMatch(op: "Gemm"))
            gemm.skip = ["kmeans"]
            var byName = TensorOverride(match: TensorMatch(name: "conv2.*"))
            byName.exclude = true
            var small = TensorOverride(match: TensorMatch(name: "small"))
            small.include = true
            r.overrides = [first, gemm, byName, small]
        }
        let rows = Dictionary(uniqueKeysWithValues: result.report.tensors.map { ($0.name, $0) })
        #expect(rows["conv1.w"]?.bits == 8)
        #expect(rows["conv2.w"]?.skipped == "excluded by the recipe")
        #expect(rows["fc.w"]?.skipped?.hasPrefix("no pass changed it") == true)
        #expect(rows["small"]?.bits == 4)
    }

    @Test func nanNamesTheTensor() throws {
        var v = Models.floats(4096, seed: 9)
        v[17] = .nan
        let m = Models.model(
            [Models.tensor("bad.weight", [64, 64], seed: 0, values: v)], [Models.node("MatMul", ["x", "bad.weight"])])
        for p in ["linear(bits=8)", "kmeans(bits=4)", "prune(sparsity=0.5)", "fp16", "ternary"] {
            do {
                _ = try run(m, p)
                Issue.record("\(p) accepted a NaN weight")
            } catch let error as CompressionError {
                #expect(error.code == .invalidTensor, "\(p)")
                #expect(error.description.contains("bad.weight"), "\(p): \(error)")
                #expect(error.description.contains("element 17"), "\(p): \(error)")
            } catch {
                Issue.record("\(p): unexpected \(error)")
            }
        }
    }

    @Test func globalPruningHitsTheSparsityAcrossTensors() throws {
        let result = try run(convModel(), "prune(sparsity=0.6,scope=global)")
        let rows = result.report.tensors.filter { $0.skipped == nil }
        let zeros = rows.reduce(0.0) { $0 + $1.sparsity * Double($1.elements) }
        let total = rows.reduce(0) { $0 + $1.elements }
        #expect(abs(zeros - (0.6 * Double(total)).rounded()) < 0.5)
        #expect(rows.count == 3)
        // One threshold for the model: every kept weight is at least as large as every pruned one.
        let after = Dictionary(
            uniqueKeysWithValues: try result.dequantizedModel().graph.initializers.map { ($0.name!, $0) })
        var kept = Float.infinity
        var pruned: Float = 0
        for t in convModel().graph.initializers where rows.contains(where: { $0.name == t.name }) {
            let before = try FloatIO.values(of: t)
            let now = try FloatIO.values(of: after[t.name!]!)
            for (b, a) in zip(before, now) {
                if a == 0 { pruned = max(pruned, abs(b)) } else { kept = min(kept, abs(b)) }
            }
        }
        #expect(pruned <= kept)
    }

    @Test func sameInputGivesTheSameBits() throws {
        let m = convModel()
        for p in [
            "prune(sparsity=0.5),kmeans(bits=4)", "linear(bits=4,granularity=block,block=16)", "auto(max_error=0.05)",
        ] {
            let a = try run(m, p)
            let b = try PassManager(recipe: Recipe(passes: try Pipeline.parse(p)), parallel: false).run(m)
            #expect(a.model == b.model, "\(p) is not deterministic")
            #expect(try a.dequantizedModel() == b.dequantizedModel(), "\(p) is not deterministic")
        }
    }

    @Test func reportMatchesTheDequantizedWeights() throws {
        let m = convModel()
        let result = try run(m, "prune(sparsity=0.3),linear(bits=6)")
        var original: [String: [Float]] = [:]
        for t in m.graph.initializers where t.dtype == .float32 { original[t.name!] = try FloatIO.values(of: t) }
        var compared = 0
        for t in try result.dequantizedModel().graph.initializers where t.dtype == .float32 {
            let row = try #require(result.report.tensors.first(where: { $0.name == t.name }), "\(t.name!)")
            let after = try FloatIO.values(of: t)
            let before = original[t.name!]!
            if row.skipped != nil {
                #expect(after == before, "\(t.name!) was skipped but changed")
                continue
            }
            // The textbook metrics, by a plain loop in Double (independent of ErrorMetrics).
            #expect(before.count == after.count)
            var signal = 0.0  // Σ x²
            var other = 0.0  // Σ y²
            var dot = 0.0  // Σ x y
            var noise = 0.0  // Σ (x - y)²
            var maxError = 0.0
            for (x, y) in zip(before.map(Double.init), after.map(Double.init)) {
                signal += x * x
                other += y * y
                dot += x * y
                noise += (x - y) * (x - y)
                maxError = max(maxError, abs(x - y))
            }
            #expect(noise > 0 && signal > 0, "\(t.name!): 6-bit quantization changes the weights")
            let relativeL2 = (noise / signal).squareRoot()
            let cosine = dot / (signal * other).squareRoot()
            let sqnr = 10 * log10(signal / noise)
            let name = t.name!
            #expect(abs((row.relativeL2 ?? .nan) - relativeL2) <= 1e-9 * relativeL2, "\(name) \(relativeL2)")
            #expect(abs((row.cosine ?? .nan) - cosine) <= 1e-12, "\(name) cosine \(cosine)")
            #expect(row.maxAbsError == maxError, "\(name) max error \(maxError)")
            #expect(abs((row.sqnrDB ?? .nan) - sqnr) <= 1e-9, "\(name) SQNR \(sqnr)")
            let zeros = Double(after.filter { $0 == 0 }.count) / Double(after.count)
            #expect(abs(zeros - row.sparsity) < 1e-12)
            #expect(row.bits == 6)
            compared += 1
        }
        #expect(compared == 3, "the three compressed tensors were compared")
        // The encoded model holds linear storage for the compressed tensors.
        let kinds = result.model.graph.initializers.map(\.storage.kind)
        #expect(kinds.filter { $0 == "linear" }.count == 3)
    }

    @Test func maxErrorPicksTheFewestBitsWithinBudget() throws {
        let result = try run(convModel(), "auto(max_error=0.05)")
        for row in result.report.tensors where row.skipped == nil {
            #expect((row.relativeL2 ?? 1) <= 0.05, "\(row.name)")
            #expect(row.bits < 8, "\(row.name): uniform random weights need fewer than 8 bits for 5%")
        }
        let tight = try run(convModel(), "auto(max_error=0.001,max_bits=4)")
        #expect(tight.report.tensors.filter { $0.skipped == nil }.allSatisfy { $0.steps.isEmpty })
        #expect(tight.diagnostics.contains { $0.message.contains("no encoding up to 4 bits") })
    }

    @Test func fp16OverflowIsCountedAndKeptOrClamped() throws {
        var v = Models.floats(4096, seed: 10)
        v[5] = 1e6
        let m = Models.model(
            [Models.tensor("big", [64, 64], seed: 0, values: v)], [Models.node("MatMul", ["x", "big"])])
        let kept = try run(m, "fp16")
        #expect(kept.report.tensors[0].encoding == "float32")
        #expect(kept.diagnostics.contains { $0.message.contains("1 values overflow fp16") })
        let clamped = try run(m, "fp16(overflow=clamp)")
        #expect(clamped.report.tensors[0].encoding == "float16")
        let back = try FloatIO.values(of: clamped.dequantizedModel().graph.initializers[0])
        #expect(back[5] == 65504)
        #expect(back.allSatisfy { $0.isFinite })
    }
}

/// Every pass runs on every real model, and what the report says matches what was written.
@Suite struct RealModelTests {
    static let pipelines = [
        "linear(bits=8)", "linear(bits=4,granularity=block,block=32,range=mse)", "kmeans(bits=4)",
        "kmeans(bits=3,granularity=channel)", "fp16", "bf16", "binary", "ternary", "prune(sparsity=0.5,scope=global)",
        "prune(sigma=1)", "prune_channels(sparsity=0.25)", "clip(percentile=99.9)", "auto(max_error=0.02)",
        "prune(sparsity=0.3),kmeans(bits=5),huffman",
    ]

    static func load(_ path: String) throws -> Model {
        path.hasSuffix(".onnx") ? try ONNXReader.read(path: path).model : try KerasReader.read(path: path).model
    }

    @Test(arguments: Fixtures.realONNXModels + Fixtures.realKerasModels)
    func everyPassRunsOnEveryModel(path: String) throws {
        let m = try Self.load(path)
        for p in Self.pipelines {
            let r = try PassManager(recipe: Recipe(passes: try Pipeline.parse(p))).run(m)
            #expect(r.report.totals.originalBytes > 0 || m.graph.initializers.isEmpty, "\(path) \(p)")
            for row in r.report.tensors where row.skipped == nil {
                // Every processed tensor is measured: its metrics are present and finite.
                #expect(
                    row.cosine?.isFinite == true, "\(path) \(p) \(row.name): cosine \(String(describing: row.cosine))")
                #expect(row.relativeL2?.isFinite == true, "\(path) \(p) \(row.name)")
                #expect(row.maxAbsError?.isFinite == true, "\(path) \(p) \(row.name)")
            }
            if p == "linear(bits=8)" {
                for row in r.report.tensors where row.skipped == nil {
                    #expect((row.cosine ?? 0) > 0.999, "\(path): \(row.name) cosine \(row.cosine ?? 0) at 8 bits")
                }
            }
        }
    }
}

@Suite struct PrunedKMeansTests {
    /// After pruning, k-means keeps zero as its own centroid: pruned weights stay exactly zero.
    @Test(arguments: [2, 4, 5])
    func zerosSurviveKMeans(bits: Int) throws {
        let m = Models.model([Models.tensor("w", [128, 64], seed: 21)], [Models.node("MatMul", ["x", "w"])])
        var r = Recipe(passes: try Pipeline.parse("prune(sparsity=0.6),kmeans(bits=\(bits))"))
        r.defaults.minElements = 1
        let result = try PassManager(recipe: r).run(m)
        let row = try #require(result.report.tensors.first)
        #expect(row.sparsity == (0.6 * 8192).rounded() / 8192, "sparsity after kmeans is \(row.sparsity)")
        guard case .palettized(let p) = result.model.graph.initializers[0].storage else {
            Issue.record("not palettized")
            return
        }
        #expect(p.codebook.contains(0))
        #expect(p.codebook == p.codebook.sorted())
        #expect(Set(p.codebook).count <= 1 << bits)
    }
}
