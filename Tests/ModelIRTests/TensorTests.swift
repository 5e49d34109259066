import ModelIR
import Testing

@Suite struct TensorTests {
    func tensor(dims: [Int64], bytes: Int, dtype: DType = .float32) -> Tensor {
        Tensor(
            name: "dense/kernel:0", dtype: dtype, dims: dims,
            storage: .dense(TensorBuffer(copying: [UInt8](repeating: 1, count: bytes))))
    }

    @Test func validTensorPasses() throws {
        try tensor(dims: [12, 34], bytes: 1632).validate()
        try tensor(dims: [3], bytes: 2, dtype: .int4).validate()
    }

    @Test func sizeMismatchNamesTensorAndBothSizes() {
        #expect {
            try tensor(dims: [12, 34], bytes: 1600).validate()
        } throws: { error in
            let d = "\(error)"
            return d.contains("dense/kernel:0") && d.contains("12x34 float32 (1632 bytes)") && d.contains("1600 bytes")
        }
    }

    @Test func overflowingDimsAreAnError() {
        #expect(throws: TensorValidationError.self) { try tensor(dims: [Int64.max, 3], bytes: 0).validate() }
    }

    @Test func stringCountMustMatch() {
        let t = Tensor(name: "s", dtype: .string, dims: [2], storage: .strings([[0x61]]))
        #expect(throws: TensorValidationError.self) { try t.validate() }
    }

    @Test func buffersCompareByContent() {
        #expect(TensorBuffer(copying: [1, 2, 3]) == TensorBuffer(copying: [1, 2, 3]))
        #expect(TensorBuffer(copying: [1, 2, 3]) != TensorBuffer(copying: [1, 2, 4]))
    }

    @Test func adoptedBufferIsReleasedOnce() {
        final class Counter: @unchecked Sendable { var n = 0 }
        let counter = Counter()
        do {
            let p = UnsafeMutableRawPointer.allocate(byteCount: 8, alignment: 8)
            let b = TensorBuffer(adopting: p, count: 8) { q in
                counter.n += 1
                q.deallocate()
            }
            #expect(b.count == 8)
        }
        #expect(counter.n == 1)
    }
}

@Suite struct ModelTraversalTests {
    /// A model with an initializer, a Constant node, and an If whose branch holds a Constant.
    func model() -> Model {
        func constant(_ name: String) -> Node {
            var a = Attribute(name: "value", kind: .tensor)
            a.tensor = Tensor(
                name: name, dtype: .float32, dims: [2],
                storage: .dense(TensorBuffer(copying: [UInt8](repeating: 0, count: 8))))
            return Node(name: name + "_node", opType: "Constant", outputs: [name], attributes: [a])
        }
        var branch = Graph(name: "then")
        branch.nodes = [constant("inner")]
        var ifAttr = Attribute(name: "then_branch", kind: .graph)
        ifAttr.graph = branch
        var g = Graph(name: "main")
        g.initializers = [
            Tensor(name: "w", dtype: .float32, dims: [1], storage: .dense(TensorBuffer(copying: [0, 0, 0, 0])))
        ]
        g.nodes = [constant("c"), Node(name: "if", opType: "If", attributes: [ifAttr])]
        return Model(format: .onnx, graph: g)
    }

    @Test func constantNodesAndSubgraphTensorsAreVisited() {
        var names: [String] = []
        var depths: [Int] = []
        model().visitTensors { loc, t in
            names.append(t.name ?? "")
            depths.append(loc.depth)
        }
        #expect(names == ["w", "c", "inner"])
        #expect(depths == [0, 0, 1])
    }

    @Test func tensorsCanBeReplacedInPlace() {
        var m = model()
        m.forEachTensor { _, t in t.docString = "seen" }
        var docs: [String?] = []
        m.visitTensors { _, t in docs.append(t.docString) }
        #expect(docs == ["seen", "seen", "seen"])
    }

    @Test func graphsAreVisitedWithDepth() {
        var seen: [(String, Int)] = []
        model().visitGraphs { path, depth, _ in seen.append((path, depth)) }
        #expect(seen.map(\.1) == [0, 1])
        #expect(seen[1].0 == "main/if.then_branch")
    }
}
