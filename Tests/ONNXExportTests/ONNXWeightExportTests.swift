import Codecs
import Foundation
import ModelIR
import ONNXFormat
import TestSupport
import Testing

@testable import Compression
@testable import ONNXExport

/// Reading back what `ONNXWeightExport` wrote: tensors, nodes, and the values the new nodes compute.
enum ExportProbe {
    /// A graph with one `Identity` per weight (so every weight has a consumer), under the given opset.
    static func model(
        _ weights: [Tensor], opset: Int64? = 17, ir: Int64 = 8, graphInputs: [String] = [], extraNodes: [Node] = []
    ) -> Model {
        var g = Graph(name: "g")
        g.initializers = weights
        g.inputs = graphInputs.map { ValueInfo(name: $0, type: nil) }
        g.nodes =
            extraNodes
            + weights.map {
                Node(name: "id_" + $0.name!, opType: "Identity", inputs: [$0.name!], outputs: [$0.name! + "_out"])
            }
        g.outputs = weights.map { ValueInfo(name: $0.name! + "_out", type: nil) }
        var m = Model(format: .onnx, graph: g)
        m.irVersion = ir
        m.opsetImports = opset.map { [OpsetImport(domain: "", version: $0)] } ?? []
        return m
    }

    static func dense(_ name: String, _ values: [Float], dims: [Int64], dtype: DType = .float32) -> Tensor {
        Tensor(name: name, dtype: dtype, dims: dims, storage: .dense(FloatIO.buffer(values, as: dtype)))
    }

    static func bytes(_ t: Tensor) -> [UInt8] {
        guard case .dense(let b) = t.storage else { return [] }
        return b.bytes
    }

    /// The values of a dense float tensor; float16 ones decoded by `Binary16`, not by the code under test.
    static func floats(_ t: Tensor) throws -> [Float] {
        guard t.dtype == .float16 else { return try FloatIO.values(of: t) }
        let b = bytes(t)
        return stride(from: 0, to: b.count, by: 2).map { Binary16.value(UInt16(b[$0]) | UInt16(b[$0 + 1]) << 8) }
    }

    /// Signed or unsigned 8/16-bit integers of a dense tensor, widened.
    static func ints(_ t: Tensor) -> [Int32] {
        let b = bytes(t)
        switch t.dtype {
        case .int8: return b.map { Int32(Int8(bitPattern: $0)) }
        case .uint8: return b.map { Int32($0) }
        case .int16:
            return stride(from: 0, to: b.count, by: 2).map {
                Int32(Int16(bitPattern: UInt16(b[$0]) | UInt16(b[$0 + 1]) << 8))
            }
        case .uint16: return stride(from: 0, to: b.count, by: 2).map { Int32(UInt16(b[$0]) | UInt16(b[$0 + 1]) << 8) }
        default: return []
        }
    }

    /// Tensors of a graph by name: initializers and `Constant` values (under the node's output).
    static func tensors(_ g: Graph) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for t in g.initializers { out[t.name!] = t }
        for n in g.nodes where n.opType == "Constant" { out[n.outputs[0]] = n.attribute("value")?.tensor }
        return out
    }

    /// The value `name` computes in `g`, evaluating the DequantizeLinear / Gather / Cast nodes the export adds
    /// the way ONNX defines them (a Cast to float16 rounds to nearest even, by `Binary16`).
    static func evaluate(_ name: String, in g: Graph) throws -> [Float] {
        let t = tensors(g)
        if let w = t[name] { return try floats(w) }
        let n = try #require(g.nodes.first { $0.outputs.contains(name) }, "nothing produces \(name)")
        switch n.opType {
        case "Cast":
            let to = DType(rawValue: Int32(n.attribute("to")!.int!))
            if let src = t[n.inputs[0]], src.dtype.isInteger { return ints(src).map { Float($0) } }
            let v = try evaluate(n.inputs[0], in: g)
            return to == .float16 ? v.map(Binary16.rounded) : v
        case "DequantizeLinear":
            let q = try #require(t[n.inputs[0]]), s = try #require(t[n.inputs[1]]), z = try #require(t[n.inputs[2]])
            let codes = ints(q), scales = try floats(s), zeros = ints(z)
            let dims = q.dims.map { Int($0) }
            let axis = n.attribute("axis")?.int.map { Int($0) }
            let block = n.attribute("block_size")?.int.map { Int($0) }
            return codes.indices.map { i in
                var g = 0
                if let axis, !s.dims.isEmpty {
                    var index = QuantTestData.unravel(i, dims)
                    if let block {
                        index[axis] /= block
                        g = QuantTestData.ravel(index, s.dims.map { Int($0) })
                    } else {
                        g = index[axis]
                    }
                }
                return Float(codes[i] - zeros[g]) * scales[g]
            }
        case "Gather":
            let book = try floats(try #require(t[n.inputs[0]]))
            let idx = try evaluate(n.inputs[1], in: g)
            return idx.map { book[Int($0)] }
        default:
            Issue.record("unexpected producer \(n.opType ?? "?") of \(name)")
            return []
        }
    }

    /// Every node input is defined before use: by a graph input, an initializer, an outer-scope value or an
    /// earlier node. Returns the offending inputs.
    static func undefinedInputs(_ g: Graph, outer: Set<String> = []) -> [String] {
        var known = outer.union(g.inputs.compactMap(\.name)).union(g.initializers.compactMap(\.name))
        var bad: [String] = []
        for n in g.nodes {
            for i in n.inputs where !i.isEmpty && !known.contains(i) { bad.append(i) }
            for a in n.attributes { for sub in a.subgraphs { bad += undefinedInputs(sub, outer: known) } }
            known.formUnion(n.outputs)
        }
        return bad
    }

    /// Value names defined more than once in one scope chain (SSA violations).
    static func duplicateDefinitions(_ g: Graph, outer: Set<String> = []) -> [String] {
        var seen = outer
        var dups: [String] = []
        let defined = g.inputs.compactMap(\.name) + g.initializers.compactMap(\.name) + g.nodes.flatMap(\.outputs)
        for name in defined where !name.isEmpty {
            if !seen.insert(name).inserted { dups.append(name) }
        }
        for n in g.nodes {
            for a in n.attributes { for sub in a.subgraphs { dups += duplicateDefinitions(sub, outer: seen) } }
        }
        return dups
    }

    /// Every graph of the model with its path.
    static func graphs(_ m: Model) -> [(String, Graph)] {
        var out: [(String, Graph)] = []
        m.visitGraphs { path, _, g in out.append((path, g)) }
        return out
    }
}

/// IEEE 754 binary16 by its definition, the oracle for float16 values (independent of `FloatCast` and `FloatIO`).
///
/// A pattern `s eeeee mmmmmmmmmm` is `(-1)^s x 2^(e-15) x (1 + m/1024)` for `e` in 1...30,
/// `(-1)^s x 2^-14 x m/1024` for `e == 0`, infinity (`m == 0`) or NaN for `e == 31`. The finite non-negative
/// patterns 0x0000...0x7BFF increase with their value, so rounding searches them.
enum Binary16 {
    static func value(_ bits: UInt16) -> Float {
        let sign: Double = bits & 0x8000 != 0 ? -1 : 1
        let e = Int(bits >> 10 & 0x1F)
        let m = Double(bits & 0x3FF)
        if e == 31 { return m == 0 ? Float(sign * .infinity) : .nan }
        let magnitude =
            e == 0 ? m / 1024 * 0x1p-14 : (1 + m / 1024) * Double(sign: .plus, exponent: e - 15, significand: 1)
        return Float(sign * magnitude)
    }

    /// `x` rounded to binary16: to nearest, ties to the even pattern, `|x| >= 65520` to infinity.
    static func bits(_ x: Float) -> UInt16 {
        if x.isNaN { return 0x7E00 }
        let sign: UInt16 = x.sign == .minus ? 0x8000 : 0
        let a = Double(x.magnitude)
        if a >= 65520 { return sign | 0x7C00 }
        // The largest pattern whose value is <= a.
        var lo: UInt16 = 0
        var hi: UInt16 = 0x7BFF
        while lo < hi {
            let mid = lo + (hi - lo + 1) / 2
            if Double(value(mid)) <= a { lo = mid } else { hi = mid - 1 }
        }
        if Double(value(lo)) == a || lo == 0x7BFF { return sign | lo }
        let midpoint = (Double(value(lo)) + Double(value(lo + 1))) / 2  // exact in Double
        if a < midpoint { return sign | lo }
        if a > midpoint { return sign | (lo + 1) }
        return sign | (lo % 2 == 0 ? lo : lo + 1)
    }

    static func rounded(_ x: Float) -> Float { value(bits(x)) }
}

@Suite struct ONNXWeightExportTests {
    typealias P = ExportProbe

    /// The oracle itself, against values tabulated from IEEE 754 binary16.
    @Test func binary16OracleMatchesTheStandard() {
        let table: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (-2, 0xC000), (0.5, 0x3800), (65504, 0x7BFF),
            (0x1p-24, 0x0001), (0x1p-14, 0x0400), (0x1.FF8p-15, 0x03FF), (0.333251953125, 0x3555),
            (.infinity, 0x7C00), (-.infinity, 0xFC00),
        ]
        for (x, h) in table {
            #expect(Binary16.bits(x) == h, "\(x)")
            #expect(Binary16.value(h).bitPattern == x.bitPattern, "\(h)")
        }
        // Rounding: to nearest, ties to the even pattern, overflow from the midpoint 65520 on.
        let rounding: [(Float, UInt16)] = [
            (1 + 0x1p-11, 0x3C00), (1 + 3 * 0x1p-11, 0x3C02), (1 + 0x1p-11 + 0x1p-20, 0x3C01),
            (0x1p-25, 0x0000), (3 * 0x1p-25, 0x0002), (0x1p-25 + 0x1p-35, 0x0001), (65519, 0x7BFF),
            (65520, 0x7C00), (-65520, 0xFC00), (0.1, 0x2E66), (1e-8, 0x0000),
        ]
        for (x, h) in rounding { #expect(Binary16.bits(x) == h, "\(x)") }
        #expect(Binary16.value(0x7E00).isNaN && Binary16.bits(.nan) & 0x7C00 == 0x7C00)
    }

    static let values = QuantTestData.gaussian(count: 4 * 6 * 8, seed: 11)
    static let dims: [Int64] = [4, 6, 8]

    func linearModel(
        bits: Int, symmetric: Bool, granularity: QuantizationGranularity, opset: Int64? = 21, dtype: DType = .float32
    ) throws -> (Model, LinearQuantized) {
        let q = try LinearQuantizer.quantize(
            Self.values, dims: Self.dims.map { Int($0) },
            options: .init(bits: bits, symmetric: symmetric, granularity: granularity))
        let t = Tensor(name: "w", dtype: dtype, dims: Self.dims, storage: .linearQuantized(q))
        return (P.model([t], opset: opset), q)
    }

    // MARK: Linear

    static let linearCases: [(Int, Bool, QuantizationGranularity)] = [
        (8, true, .perTensor), (8, false, .perTensor), (8, true, .perAxis(axis: 0)), (8, false, .perAxis(axis: 2)),
        (4, true, .perAxis(axis: 1)), (4, false, .perTensor), (3, true, .perTensor), (2, false, .perAxis(axis: 0)),
        (8, true, .perBlock(axis: 2, blockSize: 3)), (4, false, .perBlock(axis: 1, blockSize: 4)),
        (12, true, .perAxis(axis: 0)), (16, false, .perTensor),
    ]

    @Test(arguments: linearCases)
    func linearBecomesDequantizeLinear(bits: Int, symmetric: Bool, granularity: QuantizationGranularity) throws {
        let (m, q) = try linearModel(bits: bits, symmetric: symmetric, granularity: granularity)
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.isEmpty)
        let g = out.graph
        let t = P.tensors(g)
        #expect(t["w"] == nil, "the original initializer is replaced")
        let codes = try #require(t["w_quantized"])
        let wide = bits > 8
        #expect(codes.dtype == (symmetric ? (wide ? .int16 : .int8) : (wide ? .uint16 : .uint8)))
        #expect(codes.dims == Self.dims)
        // The int8/uint8 values are the codes (sign-extended for signed codes).
        let raw = try BitPacking.unpack(q.codes, bits: bits, count: Self.values.count)
        let expected = raw.map { c -> Int32 in
            symmetric ? (Int32(c) << (32 - bits)) >> (32 - bits) : Int32(c)
        }
        #expect(P.ints(codes) == expected)
        let scale = try #require(t["w_scale"])
        let zero = try #require(t["w_zero_point"])
        #expect(scale.dtype == .float32 && zero.dtype == codes.dtype && zero.dims == scale.dims)
        #expect(try P.floats(scale) == q.scales)
        #expect(P.ints(zero) == (q.zeroPoints.isEmpty ? [Int32](repeating: 0, count: q.scales.count) : q.zeroPoints))
        let dq = try #require(g.nodes.first)
        #expect(dq.opType == "DequantizeLinear" && dq.inputs == ["w_quantized", "w_scale", "w_zero_point"])
        #expect(dq.outputs == ["w"])
        switch granularity {
        case .perTensor:
            #expect(scale.dims == [] && dq.attribute("axis") == nil)
        case .perAxis(let a):
            #expect(scale.dims == [Self.dims[a]] && dq.attribute("axis")?.int == Int64(a))
        case .perBlock(let a, let b):
            var sd = Self.dims
            sd[a] = (sd[a] + Int64(b) - 1) / Int64(b)
            #expect(
                scale.dims == sd && dq.attribute("axis")?.int == Int64(a) && dq.attribute("block_size")?.int == Int64(b)
            )
        }
        // What DequantizeLinear computes is exactly the dequantized weight.
        #expect(try P.evaluate("w", in: g) == LinearQuantizer.dequantize(q, dims: Self.dims.map { Int($0) }))
        #expect(P.undefinedInputs(g).isEmpty && P.duplicateDefinitions(g).isEmpty)
        // ... and ONNX holds it: it round-trips through the writer and reader.
        let back = try ONNXReader.decode(try ONNXWriter.serialize(out), path: "mem", baseDirectory: nil).model
        #expect(P.tensors(back.graph)["w_quantized"].map(P.ints) == expected)
    }

    @Test(arguments: [
        (QuantizationGranularity.perTensor, Int64?(9), "needs opset 10"),
        (.perAxis(axis: 0), 12, "needs opset 13"),
        (.perBlock(axis: 1, blockSize: 2), 20, "needs opset 21"),
        (.perTensor, nil, "imports no default-domain opset"),
    ])
    func opsetTooLowFallsBackToFloat(granularity: QuantizationGranularity, opset: Int64?, why: String) throws {
        let (m, q) = try linearModel(bits: 8, symmetric: true, granularity: granularity, opset: opset)
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.count == 1 && notes[0].hasPrefix("tensor 'w': ") && notes[0].contains(why), "\(notes)")
        #expect(notes.first?.hasSuffix("written as float") == true)
        #expect(out.opsetImports == m.opsetImports, "the opset is never bumped")
        let w = try #require(P.tensors(out.graph)["w"])
        #expect(try P.floats(w) == LinearQuantizer.dequantize(q, dims: Self.dims.map { Int($0) }))
        #expect(out.graph.nodes.count == m.graph.nodes.count)
    }

    @Test func lowestOpsetsThatWork() throws {
        for (g, opset) in [(QuantizationGranularity.perTensor, Int64(10)), (.perAxis(axis: 1), 13)] {
            let (m, _) = try linearModel(bits: 8, symmetric: false, granularity: g, opset: opset)
            let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
            #expect(notes.isEmpty && out.graph.nodes.first?.opType == "DequantizeLinear")
        }
        // 16-bit codes need opset 21 whatever the granularity.
        let (m, _) = try linearModel(bits: 12, symmetric: true, granularity: .perTensor, opset: 19)
        let (_, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.count == 1 && notes[0].contains("needs opset 21"))
    }

    @Test(arguments: [DType.float16, .float64])
    func nonFloat32WeightGetsATrailingCast(dtype: DType) throws {
        let (m, q) = try linearModel(bits: 8, symmetric: true, granularity: .perAxis(axis: 0), opset: 17, dtype: dtype)
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.isEmpty)
        let nodes = out.graph.nodes
        #expect(nodes[0].opType == "DequantizeLinear" && nodes[0].outputs == ["w_dequantized"])
        #expect(nodes[1].opType == "Cast" && nodes[1].inputs == ["w_dequantized"] && nodes[1].outputs == ["w"])
        #expect(nodes[1].attribute("to")?.int == Int64(dtype.rawValue))
        let want = try LinearQuantizer.dequantize(q, dims: Self.dims.map { Int($0) })
        let got = try P.evaluate("w", in: out.graph)
        #expect(got == (dtype == .float16 ? want.map(Binary16.rounded) : want))
    }

    @Test func zeroPointOutsideTheCodeTypeFallsBack() throws {
        let q = LinearQuantized(
            bits: 8, signed: true, granularity: .perTensor, scales: [0.5], zeroPoints: [200],
            codes: TensorBuffer(copying: [UInt8](repeating: 3, count: 16)))
        let m = P.model([Tensor(name: "w", dtype: .float32, dims: [16], storage: .linearQuantized(q))])
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes == ["tensor 'w': zero point 200 does not fit int8 codes; written as float"])
        #expect(try P.floats(try #require(P.tensors(out.graph)["w"])) == [Float](repeating: (3 - 200) * 0.5, count: 16))
    }

    // MARK: Palettized and reduced precision

    @Test(arguments: [1, 4, 8])
    func perTensorPaletteBecomesGather(bits: Int) throws {
        let p = try KMeansQuantizer.quantize(Self.values, dims: Self.dims.map { Int($0) }, options: .init(bits: bits))
        let m = P.model([Tensor(name: "w", dtype: .float32, dims: Self.dims, storage: .palettized(p))])
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.isEmpty)
        let t = P.tensors(out.graph)
        let book = try #require(t["w_codebook"])
        let indices = try #require(t["w_indices"])
        #expect(book.dtype == .float32 && book.dims == [Int64(1 << bits)])
        #expect(try P.floats(book) == p.codebook)
        #expect(indices.dtype == .uint8 && indices.dims == Self.dims)
        #expect(
            P.bytes(indices)
                == (try BitPacking.unpack(p.indices, bits: bits, count: Self.values.count)).map { UInt8($0) })
        let ops = out.graph.nodes.prefix(2).map { $0.opType ?? "" }
        #expect(ops == ["Cast", "Gather"])
        #expect(out.graph.nodes[0].attribute("to")?.int == Int64(DType.int32.rawValue))
        #expect(out.graph.nodes[1].attribute("axis")?.int == 0 && out.graph.nodes[1].outputs == ["w"])
        #expect(try P.evaluate("w", in: out.graph) == KMeansQuantizer.dequantize(p, dims: Self.dims.map { Int($0) }))
    }

    @Test func perChannelPaletteFallsBack() throws {
        let p = try KMeansQuantizer.quantize(
            Self.values, dims: Self.dims.map { Int($0) }, options: .init(bits: 2, granularity: .perAxis(axis: 0)))
        let m = P.model([Tensor(name: "w", dtype: .float32, dims: Self.dims, storage: .palettized(p))])
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.count == 1 && notes[0].contains("per-tensor palette"))
        #expect(
            try P.floats(try #require(P.tensors(out.graph)["w"]))
                == KMeansQuantizer.dequantize(p, dims: Self.dims.map { Int($0) }))
    }

    @Test func reducedPrecisionBecomesCast() throws {
        let values = QuantTestData.gaussian(count: 2048, seed: 9)  // fp16 mode takes 1024+ elements
        let bits = FloatCast.convert(values, to: .float16, clamp: false).bits  // input data only
        let back = bits.map(Binary16.value)
        let data = TensorBuffer(count: bits.count * 2) { o in
            for i in bits.indices { o.storeBytes(of: bits[i].littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        }
        let t = Tensor(
            name: "w", dtype: .float32, dims: [32, 64],
            storage: .reducedPrecision(ReducedPrecision(storedType: .float16, data: data)))
        for mode in [ONNXWeightMode.qdq, .fp16] {
            let (out, notes) = try ONNXWeightExport.export(P.model([t]), mode: mode)
            #expect(notes.isEmpty)
            let half = try #require(P.tensors(out.graph)["w_fp16"])
            #expect(half.dtype == .float16 && P.bytes(half) == data.bytes)
            #expect(out.graph.nodes[0].opType == "Cast" && out.graph.nodes[0].attribute("to")?.int == 1)
            #expect(try P.evaluate("w", in: out.graph) == back)
        }
        // bfloat16 needs opset 13 for its Cast.
        let bf = Tensor(
            name: "w", dtype: .float32, dims: [2],
            storage: .reducedPrecision(
                ReducedPrecision(storedType: .bfloat16, data: TensorBuffer(copying: [0, 0x3F, 0, 0x40]))))
        let (_, notes11) = try ONNXWeightExport.export(P.model([bf], opset: 11), mode: .qdq)
        #expect(notes11.count == 1 && notes11[0].contains("needs opset 13"))
        let (out13, notes13) = try ONNXWeightExport.export(P.model([bf], opset: 13), mode: .qdq)
        #expect(notes13.isEmpty)
        #expect(try P.evaluate("w", in: out13.graph) == [0.5, 2])
    }

    // MARK: fp16 mode

    @Test func fp16StoresLargeFloat32WeightsAsHalf() throws {
        let big = QuantTestData.gaussian(count: 2048, seed: 3)
        let q = try LinearQuantizer.quantize(
            big, dims: [32, 64], options: .init(bits: 8, granularity: .perAxis(axis: 0)))
        var overflow = big
        overflow[7] = 70_000
        let m = P.model([
            P.dense("big", big, dims: [32, 64]), P.dense("small", Array(big.prefix(1000)), dims: [1000]),
            P.dense("over", overflow, dims: [2048]), P.dense("double", big, dims: [2048], dtype: .float64),
            Tensor(name: "lin", dtype: .float32, dims: [32, 64], storage: .linearQuantized(q)),
        ])
        let (out, notes) = try ONNXWeightExport.export(m, mode: .fp16)
        #expect(notes == ["tensor 'over': 1 values overflow float16 (|x| >= 65520); kept float32"])
        let t = P.tensors(out.graph)
        #expect(t["big"] == nil && t["big_fp16"]?.dtype == .float16 && t["lin_fp16"]?.dtype == .float16)
        #expect(t["small"]?.dtype == .float32 && t["over"]?.dtype == .float32 && t["double"]?.dtype == .float64)
        #expect(try P.evaluate("big", in: out.graph) == big.map(Binary16.rounded))
        let lin = try LinearQuantizer.dequantize(q, dims: [32, 64])
        #expect(try P.evaluate("lin", in: out.graph) == lin.map(Binary16.rounded))
        #expect(out.graph.nodes.filter { $0.opType == "Cast" }.map(\.outputs) == [["big"], ["lin"]])
        #expect(P.undefinedInputs(out.graph).isEmpty)
    }

    // MARK: Where weights are

    /// IR < 4 models list weights as graph inputs too, so a feed may replace them: they stay initializers.
    @Test func graphInputWeightsAreLeftAlone() throws {
        let (m0, q) = try linearModel(bits: 8, symmetric: true, granularity: .perTensor, opset: 13)
        var m = m0
        let big = QuantTestData.gaussian(count: 2048, seed: 5)
        m.graph.initializers.append(P.dense("big", big, dims: [2048]))
        m.graph.inputs = [ValueInfo(name: "w", type: nil), ValueInfo(name: "big", type: nil)]
        for (mode, name) in [(ONNXWeightMode.qdq, "w"), (.fp16, "big")] {
            let (out, notes) = try ONNXWeightExport.export(m, mode: mode)
            #expect(notes.count == 1 && notes[0].hasPrefix("tensor '\(name)': is also a graph input"), "\(notes)")
            #expect(out.graph.nodes == m.graph.nodes)
            let t = P.tensors(out.graph)
            #expect(try P.floats(try #require(t["w"])) == LinearQuantizer.dequantize(q, dims: [4, 6, 8]))
            #expect(try P.floats(try #require(t["big"])) == big)
        }
    }

    @Test func newNamesAvoidExistingOnes() throws {
        let (m0, _) = try linearModel(bits: 8, symmetric: true, granularity: .perTensor, opset: 13)
        var m = m0
        // Names the export would pick are taken: by a value in the main graph and by a node in a subgraph.
        m.graph.nodes.append(
            Node(name: "w_DequantizeLinear", opType: "Identity", inputs: ["w"], outputs: ["w_quantized"]))
        m.graph.valueInfo = [ValueInfo(name: "w_scale", type: nil), ValueInfo(name: "w_scale_1", type: nil)]
        let (out, _) = try ONNXWeightExport.export(m, mode: .qdq)
        let dq = try #require(out.graph.nodes.first)
        #expect(dq.inputs == ["w_quantized_1", "w_scale_2", "w_zero_point"])
        #expect(dq.name == "w_DequantizeLinear_1")
        #expect(P.duplicateDefinitions(out.graph).isEmpty && P.undefinedInputs(out.graph).isEmpty)
    }

    @Test func irVersion3GetsConstantNodes() throws {
        let (m0, q) = try linearModel(bits: 8, symmetric: true, granularity: .perTensor, opset: 10)
        var m = m0
        m.irVersion = 3
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.isEmpty && out.graph.initializers.isEmpty)
        #expect(
            out.graph.nodes.prefix(4).map { $0.opType ?? "" } == [
                "Constant", "Constant", "Constant", "DequantizeLinear",
            ])
        #expect(try P.evaluate("w", in: out.graph) == LinearQuantizer.dequantize(q, dims: [4, 6, 8]))
    }

    @Test func constantNodeWeightsAreReplacedInPlace() throws {
        let q = try LinearQuantizer.quantize(Self.values, dims: [4, 6, 8], options: .init(bits: 8, symmetric: false))
        var value = Attribute(name: "value", kind: .tensor)
        value.tensor = Tensor(name: "const_tensor", dtype: .float32, dims: Self.dims, storage: .linearQuantized(q))
        var m = P.model([], opset: 13)
        m.graph.inputs = [ValueInfo(name: "x", type: nil)]
        m.graph.nodes = [
            Node(name: "first", opType: "Relu", inputs: ["x"], outputs: ["r"]),
            Node(name: "c", opType: "Constant", outputs: ["k"], attributes: [value]),
            Node(name: "use", opType: "Add", inputs: ["r", "k"], outputs: ["y"]),
        ]
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.isEmpty && out.graph.initializers.isEmpty)
        #expect(
            out.graph.nodes.map { $0.opType ?? "" } == [
                "Relu", "Constant", "Constant", "Constant", "DequantizeLinear", "Add",
            ])
        #expect(P.tensors(out.graph)["k_quantized"]?.dtype == .uint8)
        #expect(try P.evaluate("k", in: out.graph) == LinearQuantizer.dequantize(q, dims: [4, 6, 8]))
        #expect(P.undefinedInputs(out.graph).isEmpty)
    }

    // MARK: Refusals and determinism

    @Test func kerasAndUndecodedStoragesAreRefused() throws {
        let (m, q) = try linearModel(bits: 8, symmetric: true, granularity: .perTensor)
        var keras = m
        keras.format = .keras
        for mode in [ONNXWeightMode.qdq, .fp16] {
            let e = #expect(throws: CompressionError.self) { try ONNXWeightExport.export(keras, mode: mode) }
            #expect(e?.code == .unsupported && e?.message.contains("Keras files keep float weights") == true)
        }
        let (floatKeras, _) = try ONNXWeightExport.export(keras, mode: .float)
        #expect(try P.floats(floatKeras.graph.initializers[0]) == LinearQuantizer.dequantize(q, dims: [4, 6, 8]))
        let sparse = Tensor(
            name: "s", dtype: .float32, dims: [4],
            storage: .sparse(
                SparseStorage(positions: .flatIndices([1]), values: .dense(FloatIO.buffer([2], as: .float32)))))
        for mode in [ONNXWeightMode.qdq, .fp16] {
            let e = #expect(throws: CompressionError.self) {
                try ONNXWeightExport.export(P.model([sparse]), mode: mode)
            }
            #expect(e?.code == .unsupported && e?.location == "tensor 's'")
        }
    }

    @Test func floatModeIsTheDequantizedModel() throws {
        let (m, _) = try linearModel(bits: 4, symmetric: false, granularity: .perAxis(axis: 1))
        let (out, notes) = try ONNXWeightExport.export(m, mode: .float)
        #expect(notes.isEmpty)
        #expect(try out == Dequantizer.dense(m))
    }

    // MARK: Real models

    static func compressed(_ file: String, _ pipeline: String) throws -> Model {
        let m = try ONNXReader.read(path: Fixtures.onnxModel(file)).model
        return try PassManager(recipe: Recipe(passes: try Pipeline.parse(pipeline))).run(m).model
    }

    /// Silero keeps its weights in `Constant` nodes inside both branches of an `If`: each branch gets its own
    /// int8 Constants and DequantizeLinear nodes, computing exactly the dequantized weights.
    @Test func sileroSubgraphConstants() throws {
        let m = try Self.compressed("silero_vad.onnx", "linear(bits=8)")
        var encoded: [String: [Float]] = [:]  // "<graph path>|<value name>" -> dequantized values
        for (path, g) in P.graphs(m) {
            for n in g.nodes {
                if let (_, t) = WeightRewriter.constantValue(n), let v = try Dequantizer.values(of: t) {
                    encoded[path + "|" + n.outputs[0]] = v
                }
            }
        }
        #expect(encoded.count >= 10, "silero's branch weights are quantized")
        #expect(Set(encoded.keys.map { $0.split(separator: "|")[0] }).count == 2, "in both branches of its If")
        let (out, notes) = try ONNXWeightExport.export(m, mode: .qdq)
        #expect(notes.isEmpty, "\(notes.prefix(3))")
        var checked = 0
        var dequantizeNodes = 0
        for (path, g) in P.graphs(out) {
            dequantizeNodes += g.nodes.filter { $0.opType == "DequantizeLinear" }.count
            for n in g.nodes where n.opType == "Constant" {
                if case .dense = n.attribute("value")!.tensor!.storage {} else { Issue.record("encoded constant left") }
            }
            for (key, v) in encoded where key.hasPrefix(path + "|") {
                let name = String(key.dropFirst(path.count + 1))
                let producer = g.nodes.first { $0.outputs == [name] }
                #expect(producer?.opType == "DequantizeLinear", "\(key)")
                #expect(try P.evaluate(name, in: g) == v, "\(key)")
                checked += 1
            }
        }
        #expect(checked == encoded.count && dequantizeNodes == encoded.count)
        #expect(P.undefinedInputs(out.graph).isEmpty && P.duplicateDefinitions(out.graph).isEmpty)
        #expect(out.graph.nodes.count == m.graph.nodes.count, "the main graph holds no weights")
    }

    /// PaddlePaddle's ppocr holds its weights in main-graph `Constant` nodes and imports opset 11: per-tensor
    /// weights become int8 Constants + DequantizeLinear in place; per-channel ones need opset 13 and stay float.
    @Test func ppocrConstantsAndItsOpset() throws {
        let perTensor = try Self.compressed("ppocr_mobile_v2_cls.onnx", "linear(bits=8,granularity=tensor)")
        let (out, notes) = try ONNXWeightExport.export(perTensor, mode: .qdq)
        #expect(notes.isEmpty)
        let dq = out.graph.nodes.filter { $0.opType == "DequantizeLinear" }
        #expect(dq.count >= 10 && dq.allSatisfy { $0.attribute("axis") == nil })
        #expect(P.undefinedInputs(out.graph).isEmpty && P.duplicateDefinitions(out.graph).isEmpty)
        for d in dq {
            let q = try #require(P.tensors(out.graph)[d.inputs[0]])
            #expect(q.dtype == .int8)
        }

        let perChannel = try Self.compressed("ppocr_mobile_v2_cls.onnx", "linear(bits=8)")
        let (out2, notes2) = try ONNXWeightExport.export(perChannel, mode: .qdq)
        #expect(!notes2.isEmpty && notes2.allSatisfy { $0.contains("needs opset 13 (the model imports 11)") })
        #expect(try out2 == Dequantizer.dense(perChannel))
    }

    @Test func deterministic() throws {
        let m = try Self.compressed("silero_vad.onnx", "linear(bits=8)")
        for mode in [ONNXWeightMode.qdq, .fp16] {
            let a = try ONNXWriter.serialize(try ONNXWeightExport.export(m, mode: mode).model)
            let b = try ONNXWriter.serialize(try ONNXWeightExport.export(m, mode: mode).model)
            #expect(a == b)
        }
    }
}
