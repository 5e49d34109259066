/// A named attribute of a node.
///
/// Mirrors every value slot the file may fill (a well-formed attribute fills exactly the one its
/// `type` names; a malformed one is kept as it is rather than silently repaired). `value` gives the
/// meaningful one.
public struct Attribute: Hashable, Sendable {
    /// The attribute's declared kind, numbered as ONNX numbers `AttributeProto.AttributeType`.
    public struct Kind: RawRepresentable, Hashable, Sendable {
        public var rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        public static let undefined = Kind(rawValue: 0)
        public static let float = Kind(rawValue: 1)
        public static let int = Kind(rawValue: 2)
        public static let string = Kind(rawValue: 3)
        public static let tensor = Kind(rawValue: 4)
        public static let graph = Kind(rawValue: 5)
        public static let floats = Kind(rawValue: 6)
        public static let ints = Kind(rawValue: 7)
        public static let strings = Kind(rawValue: 8)
        public static let tensors = Kind(rawValue: 9)
        public static let graphs = Kind(rawValue: 10)
        public static let sparseTensor = Kind(rawValue: 11)
        public static let sparseTensors = Kind(rawValue: 12)
        public static let typeProto = Kind(rawValue: 13)
        public static let typeProtos = Kind(rawValue: 14)
    }

    public var name: String?
    /// Set inside function bodies: the value comes from the calling node's attribute of this name.
    public var refAttrName: String?
    public var docString: String?
    public var kind: Kind?

    public var float: Float?
    public var int: Int64?
    public var string: [UInt8]?
    public var tensor: Tensor?
    public var graph: Graph?
    public var sparseTensor: SparseTensor?
    public var typeProto: ValueType?
    public var floats: [Float]
    public var ints: [Int64]
    public var strings: [[UInt8]]
    public var tensors: [Tensor]
    public var graphs: [Graph]
    public var sparseTensors: [SparseTensor]
    public var typeProtos: [ValueType]
    public var unknownFields: UnknownFields

    public init(name: String?, kind: Kind?) {
        self.name = name
        self.kind = kind
        floats = []
        ints = []
        strings = []
        tensors = []
        graphs = []
        sparseTensors = []
        typeProtos = []
        unknownFields = .init()
    }

    /// The subgraphs this attribute holds (for `If`, `Loop`, `Scan` and friends).
    public var subgraphs: [Graph] { (graph.map { [$0] } ?? []) + graphs }
}
