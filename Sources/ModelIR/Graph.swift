/// One operator invocation (an ONNX node, or a Keras layer in the `keras` domain).
public struct Node: Hashable, Sendable {
    public var name: String?
    /// Operator domain: nil or "" for the default ONNX domain, `ai.onnx.ml`, `com.microsoft`, `keras`, ...
    public var domain: String?
    /// Operator name (`Conv`, `MatMul`; for Keras, the layer class).
    public var opType: String?
    public var overload: String?
    public var inputs: [String]
    public var outputs: [String]
    public var attributes: [Attribute]
    public var docString: String?
    public var metadata: [MetadataEntry]
    /// Device placement for distributed execution, kept verbatim.
    public var deviceConfigurations: [OpaqueMessage]
    public var unknownFields: UnknownFields

    public init(
        name: String? = nil, domain: String? = nil, opType: String?, inputs: [String] = [], outputs: [String] = [],
        attributes: [Attribute] = []
    ) {
        self.name = name
        self.domain = domain
        self.opType = opType
        self.overload = nil
        self.inputs = inputs
        self.outputs = outputs
        self.attributes = attributes
        self.docString = nil
        self.metadata = []
        self.deviceConfigurations = []
        self.unknownFields = .init()
    }

    /// `Conv`, or `com.microsoft::QGemm` outside the default domain.
    public var qualifiedOpType: String {
        let op = opType ?? "?"
        guard let d = domain, !d.isEmpty, d != "ai.onnx" else { return op }
        return d + "::" + op
    }

    /// The attribute named `name`, if any.
    public func attribute(_ name: String) -> Attribute? { attributes.first { $0.name == name } }
}

/// Quantization parameter names attached to a tensor (ONNX `TensorAnnotation`).
public struct TensorAnnotation: Hashable, Sendable {
    public var tensorName: String?
    public var quantParameterTensorNames: [MetadataEntry]
    public var unknownFields: UnknownFields
    public init(tensorName: String?, quantParameterTensorNames: [MetadataEntry], unknownFields: UnknownFields = .init())
    {
        self.tensorName = tensorName
        self.quantParameterTensorNames = quantParameterTensorNames
        self.unknownFields = unknownFields
    }
}

/// A computation graph: nodes in order, declared inputs and outputs, and constant tensors.
public struct Graph: Hashable, Sendable {
    public var name: String?
    public var nodes: [Node]
    public var initializers: [Tensor]
    public var sparseInitializers: [SparseTensor]
    public var inputs: [ValueInfo]
    public var outputs: [ValueInfo]
    public var valueInfo: [ValueInfo]
    public var quantizationAnnotations: [TensorAnnotation]
    public var docString: String?
    public var metadata: [MetadataEntry]
    public var unknownFields: UnknownFields

    public init(name: String? = nil) {
        self.name = name
        nodes = []
        initializers = []
        sparseInitializers = []
        inputs = []
        outputs = []
        valueInfo = []
        quantizationAnnotations = []
        docString = nil
        metadata = []
        unknownFields = .init()
    }
}

/// A model-local function: a named body callable as an operator of `domain`.
public struct Function: Hashable, Sendable {
    public var name: String?
    public var domain: String?
    public var overload: String?
    public var inputs: [String]
    public var outputs: [String]
    /// Names of attributes without defaults.
    public var attributeNames: [String]
    /// Attributes with default values.
    public var attributes: [Attribute]
    public var nodes: [Node]
    public var docString: String?
    public var opsetImports: [OpsetImport]
    public var valueInfo: [ValueInfo]
    public var metadata: [MetadataEntry]
    public var unknownFields: UnknownFields

    public init(name: String?, domain: String?) {
        self.name = name
        self.domain = domain
        overload = nil
        inputs = []
        outputs = []
        attributeNames = []
        attributes = []
        nodes = []
        docString = nil
        opsetImports = []
        valueInfo = []
        metadata = []
        unknownFields = .init()
    }
}

/// An operator set a model imports. Order and duplicates are kept as found.
public struct OpsetImport: Hashable, Sendable {
    public var domain: String?
    public var version: Int64?
    public var unknownFields: UnknownFields
    public init(domain: String?, version: Int64?, unknownFields: UnknownFields = .init()) {
        self.domain = domain
        self.version = version
        self.unknownFields = unknownFields
    }

    /// `ai.onnx 17`, `com.microsoft 1`.
    public var text: String {
        let d = (domain ?? "").isEmpty ? "ai.onnx" : domain!
        return d + " " + (version.map(String.init) ?? "?")
    }
}

/// Training information: an initialization graph and a training-step graph with their bindings.
public struct TrainingInfo: Hashable, Sendable {
    public var initialization: Graph?
    public var algorithm: Graph?
    public var initializationBinding: [MetadataEntry]
    public var updateBinding: [MetadataEntry]
    public var unknownFields: UnknownFields
    public init(
        initialization: Graph?, algorithm: Graph?, initializationBinding: [MetadataEntry],
        updateBinding: [MetadataEntry], unknownFields: UnknownFields = .init()
    ) {
        self.initialization = initialization
        self.algorithm = algorithm
        self.initializationBinding = initializationBinding
        self.updateBinding = updateBinding
        self.unknownFields = unknownFields
    }
}
