/// The declared type of a graph value: a tensor, sequence, map, optional, sparse tensor or opaque type.
public struct ValueType: Hashable, Sendable {
    public indirect enum Kind: Hashable, Sendable {
        case tensor(TensorType)
        case sparseTensor(TensorType)
        case sequence(elem: ValueType?, unknownFields: UnknownFields)
        case map(key: DType?, value: ValueType?, unknownFields: UnknownFields)
        case optional(elem: ValueType?, unknownFields: UnknownFields)
        case opaque(domain: String?, name: String?, unknownFields: UnknownFields)
    }

    /// nil when the file names no kind.
    public var kind: Kind?
    public var denotation: String?
    public var unknownFields: UnknownFields

    public init(_ kind: Kind?, denotation: String? = nil, unknownFields: UnknownFields = .init()) {
        self.kind = kind
        self.denotation = denotation
        self.unknownFields = unknownFields
    }

    /// `float32[batch, 64]`, `seq(float32[?])`, `map(int64, float32[])`, ...
    public var text: String {
        switch kind {
        case .tensor(let t): t.text
        case .sparseTensor(let t): "sparse " + t.text
        case .sequence(let e, _): "seq(" + (e?.text ?? "?") + ")"
        case .map(let k, let v, _): "map(" + (k?.name ?? "?") + ", " + (v?.text ?? "?") + ")"
        case .optional(let e, _): "optional(" + (e?.text ?? "?") + ")"
        case .opaque(let d, let n, _): "opaque(" + [d, n].compactMap { $0 }.joined(separator: ".") + ")"
        case nil: "?"
        }
    }
}

/// Element type and (optional) shape of a tensor-typed value.
public struct TensorType: Hashable, Sendable {
    public var elementType: DType?
    /// nil when the rank is unknown.
    public var shape: Shape?
    public var unknownFields: UnknownFields

    public init(elementType: DType?, shape: Shape?, unknownFields: UnknownFields = .init()) {
        self.elementType = elementType
        self.shape = shape
        self.unknownFields = unknownFields
    }

    public var text: String { (elementType?.name ?? "?") + (shape?.text ?? "[rank ?]") }
}

/// A named value with its declared type (graph input, output or intermediate).
public struct ValueInfo: Hashable, Sendable {
    public var name: String?
    public var type: ValueType?
    public var docString: String?
    public var metadata: [MetadataEntry]
    public var unknownFields: UnknownFields

    public init(
        name: String?, type: ValueType?, docString: String? = nil, metadata: [MetadataEntry] = [],
        unknownFields: UnknownFields = .init()
    ) {
        self.name = name
        self.type = type
        self.docString = docString
        self.metadata = metadata
        self.unknownFields = unknownFields
    }
}
