import ModelIR

/// What `modelpress inspect` reports about a model. Encoded as JSON it follows
/// `schemas/inspect.schema.json` (field names and meanings are stable; new fields may be added).
public struct InspectReport: Codable, Sendable {
    public static let schemaVersion = 1

    public struct Producer: Codable, Sendable {
        public var name: String?
        public var version: String?
    }
    public struct Opset: Codable, Sendable {
        public var domain: String
        public var version: Int64?
    }
    public struct KeyValue: Codable, Sendable {
        public var key: String
        public var value: String
    }
    public struct Value: Codable, Sendable {
        public var name: String
        /// Human-readable type, e.g. `float32[batch, 64]`.
        public var type: String
        /// Element type for tensor values, nil otherwise.
        public var elementType: String?
        /// Dimensions: integers, symbolic names, or nil for unknown; nil when the rank is unknown.
        public var shape: [DimensionValue?]?
    }
    /// A dimension in JSON: a number or a symbolic name.
    public enum DimensionValue: Codable, Sendable, Equatable {
        case fixed(Int64)
        case symbolic(String)
        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .fixed(let n): try c.encode(n)
            case .symbolic(let s): try c.encode(s)
            }
        }
        public init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let n = try? c.decode(Int64.self) {
                self = .fixed(n)
            } else {
                self = .symbolic(try c.decode(String.self))
            }
        }
    }
    public struct GraphSummary: Codable, Sendable {
        public var name: String?
        /// Nodes of the main graph.
        public var nodes: Int
        /// Nodes of every graph: main, subgraphs at any depth, functions, training graphs.
        public var totalNodes: Int
        /// Subgraphs (bodies of If, Loop, Scan, ...) at any depth.
        public var subgraphs: Int
        /// Deepest subgraph nesting: 0 when there are no subgraphs.
        public var maxSubgraphDepth: Int
        public var functions: Int
        public var initializers: Int
        public var sparseInitializers: Int
        public var trainingInfo: Int
    }
    public struct OperatorCount: Codable, Sendable {
        public var domain: String
        public var op: String
        public var count: Int
    }
    public struct DTypeTotal: Codable, Sendable {
        public var dtype: String
        public var tensors: Int
        public var elements: Int
        public var bytes: Int
    }
    public struct Parameters: Codable, Sendable {
        /// Constant tensors: initializers, tensor attributes (Constant nodes), sparse parts, in every graph.
        public var tensors: Int
        public var elements: Int
        public var bytes: Int
        /// How many of those tensors are held in node attributes (Constant nodes and the like).
        public var tensorsInNodeAttributes: Int
        public var byType: [DTypeTotal]
    }
    public struct TensorStats: Codable, Sendable {
        public var min: Double?
        public var max: Double?
        public var mean: Double?
        public var std: Double?
        /// Fraction of elements exactly zero.
        public var zeroFraction: Double?
        /// Count of NaN and infinite elements (excluded from min, max, mean and std).
        public var nonFinite: Int
    }
    public struct TensorInfo: Codable, Sendable {
        public var name: String
        public var dtype: String
        public var shape: [Int64]
        public var elements: Int
        public var bytes: Int
        /// `initializer`, `attribute` or `sparseInitializer`.
        public var role: String
        /// Graph path, and node/attribute for attribute tensors.
        public var location: String
        /// Where its bytes were in the file: `raw`, `typed`, `external` or `none`.
        public var storedAs: String
        /// Present with `--tensors` for numeric tensors.
        public var stats: TensorStats?
    }
    public struct ExternalFile: Codable, Sendable {
        public var location: String
        public var tensors: Int
        public var bytes: Int
    }

    /// Keras files: layout, version, backend, training config and optimizer state.
    public struct KerasSummary: Codable, Sendable {
        public struct OptimizerWeights: Codable, Sendable {
            public var tensors: Int
            public var bytes: Int
        }
        /// `full-model`, `weights-only`, `weights-v3` or `keras-zip`.
        public var layout: String
        public var version: String?
        public var backend: String?
        /// The model's class in its config: `Sequential`, `Functional`, `Model`.
        public var modelClass: String?
        /// Whether the file holds a training (compile) configuration.
        public var trainingConfig: Bool
        /// Optimizer state kept in the file; not counted in `parameters`.
        public var optimizerWeights: OptimizerWeights
        /// Layers at every nesting depth (nested models count, and so do their layers).
        public var layers: Int
    }

    public var schemaVersion: Int
    public var file: String
    public var format: String
    public var fileBytes: Int
    public var producer: Producer
    public var irVersion: Int64?
    public var modelVersion: Int64?
    public var domain: String?
    public var docString: String?
    public var opsets: [Opset]
    public var metadata: [KeyValue]
    public var graph: GraphSummary
    public var inputs: [Value]
    public var outputs: [Value]
    public var operators: [OperatorCount]
    public var parameters: Parameters
    public var largestTensors: [TensorInfo]
    public var externalData: [ExternalFile]
    public var warnings: [String]
    /// Present for Keras files.
    public var keras: KerasSummary?
    /// Present for `.mpz` files: the sections and how each tensor is stored.
    public var mpz: MPZSummary?
    /// Every tensor, with statistics; only with `--tensors`.
    public var tensors: [TensorInfo]?
}

extension InspectReport {
    /// Builds the report for `loaded`. With `includeTensors`, lists every tensor with statistics
    /// (O(total weights)); otherwise O(nodes + tensors), reading no weight bytes.
    public init(_ loaded: LoadedModel, includeTensors: Bool, largest: Int = 10) {
        let m = loaded.model
        schemaVersion = Self.schemaVersion
        file = loaded.path
        format = m.format.rawValue
        fileBytes = loaded.fileBytes
        producer = Producer(name: m.producerName, version: m.producerVersion)
        irVersion = m.irVersion
        modelVersion = m.modelVersion
        domain = m.domain
        docString = m.docString
        opsets = m.opsetImports.map {
            Opset(domain: ($0.domain ?? "").isEmpty ? "ai.onnx" : $0.domain!, version: $0.version)
        }
        metadata = m.metadata.map { KeyValue(key: $0.key ?? "", value: $0.value ?? "") }
        inputs = m.graph.inputs.map(Self.value)
        outputs = m.graph.outputs.map(Self.value)

        var ops: [String: OperatorCount] = [:]
        var totalNodes = 0
        var subgraphs = 0
        var maxDepth = 0
        m.visitGraphs { _, depth, g in
            if depth > 0 {
                subgraphs += 1
                maxDepth = Swift.max(maxDepth, depth)
            }
            totalNodes += g.nodes.count
            for n in g.nodes { Self.count(n, into: &ops) }
        }
        for f in m.functions {
            totalNodes += f.nodes.count
            for n in f.nodes { Self.count(n, into: &ops) }
        }
        operators = ops.values.sorted { ($0.count, $1.domain, $1.op) > ($1.count, $0.domain, $0.op) }
        graph = GraphSummary(
            name: m.graph.name, nodes: m.graph.nodes.count, totalNodes: totalNodes, subgraphs: subgraphs,
            maxSubgraphDepth: maxDepth, functions: m.functions.count, initializers: m.graph.initializers.count,
            sparseInitializers: m.graph.sparseInitializers.count, trainingInfo: m.trainingInfo.count)

        var infos: [TensorInfo] = []
        var byType: [DType: DTypeTotal] = [:]
        var inAttributes = 0
        m.visitTensors { loc, t in
            // Optimizer state is reported under `keras`, not as model parameters.
            if m.format == .keras,
                t.metadata.contains(where: { $0.key == KerasMetadata.role && $0.value == KerasMetadata.Role.optimizer })
            {
                return
            }
            let elements = t.elementCount ?? 0
            let bytes = t.denseByteCount ?? 0
            var total = byType[t.dtype] ?? DTypeTotal(dtype: t.dtype.name, tensors: 0, elements: 0, bytes: 0)
            total.tensors += 1
            total.elements += elements
            total.bytes += bytes
            byType[t.dtype] = total
            if loc.role == .attribute { inAttributes += 1 }
            infos.append(
                TensorInfo(
                    name: t.name ?? "", dtype: t.dtype.name, shape: t.dims, elements: elements, bytes: bytes,
                    role: loc.role.rawValue,
                    location: t.metadata.first { $0.key == KerasMetadata.layer }.map { "layer " + ($0.value ?? "?") }
                        ?? loc.description,
                    storedAs: Self.storedAs(t.layout.dataField),
                    stats: includeTensors ? TensorStatistics.compute(t) : nil))
        }
        let totals = byType.values.sorted { ($0.bytes, $1.dtype) > ($1.bytes, $0.dtype) }
        parameters = Parameters(
            tensors: infos.count, elements: totals.reduce(0) { $0 + $1.elements },
            bytes: totals.reduce(0) { $0 + $1.bytes }, tensorsInNodeAttributes: inAttributes, byType: totals)
        largestTensors = Array(
            infos.enumerated().sorted { ($0.element.bytes, $1.offset) > ($1.element.bytes, $0.offset) }.prefix(largest)
                .map {
                    var t = $0.element
                    t.stats = nil
                    return t
                })
        externalData = loaded.externalFiles.map {
            ExternalFile(location: $0.location, tensors: $0.tensorCount, bytes: $0.bytes)
        }
        warnings = loaded.diagnostics.map(\.description)
        tensors = includeTensors ? infos : nil
        mpz = loaded.mpz
        keras = loaded.keras.map {
            KerasSummary(
                layout: $0.layout.rawValue, version: $0.kerasVersion, backend: $0.backend, modelClass: $0.modelClass,
                trainingConfig: $0.hasTrainingConfig,
                optimizerWeights: .init(tensors: $0.optimizerTensors, bytes: $0.optimizerBytes),
                layers: m.graph.nodes.count)
        }
    }

    private static func count(_ n: Node, into ops: inout [String: OperatorCount]) {
        let domain = (n.domain ?? "").isEmpty ? "ai.onnx" : n.domain!
        let op = n.opType ?? "?"
        ops[domain + "\u{1}" + op, default: OperatorCount(domain: domain, op: op, count: 0)].count += 1
    }

    private static func value(_ v: ValueInfo) -> Value {
        var elem: String?
        var shape: [DimensionValue?]?
        switch v.type?.kind {
        case .tensor(let t), .sparseTensor(let t):
            elem = t.elementType?.name
            shape = t.shape.map { s in
                s.dims.map { d -> DimensionValue? in
                    switch d.value {
                    case .fixed(let n): .fixed(n)
                    case .symbolic(let s): .symbolic(s)
                    case nil: nil
                    }
                }
            }
        default:
            break
        }
        return Value(name: v.name ?? "", type: v.type?.text ?? "?", elementType: elem, shape: shape)
    }

    private static func storedAs(_ f: TensorLayout.DataField) -> String {
        switch f {
        case .none: "none"
        case .raw: "raw"
        case .typed: "typed"
        case .external: "external"
        }
    }
}
