/// The file format a model was read from.
public enum ModelFormat: String, Hashable, Sendable, Codable {
    case onnx
    case keras
}

/// A whole model: metadata, the main graph, functions and training information.
public struct Model: Hashable, Sendable {
    public var format: ModelFormat
    public var irVersion: Int64?
    public var opsetImports: [OpsetImport]
    public var producerName: String?
    public var producerVersion: String?
    public var domain: String?
    public var modelVersion: Int64?
    public var docString: String?
    public var graph: Graph
    public var metadata: [MetadataEntry]
    public var trainingInfo: [TrainingInfo]
    public var functions: [Function]
    /// Device configurations for distributed execution, kept verbatim.
    public var deviceConfigurations: [OpaqueMessage]
    /// The source file's container structure without the tensor data, owned by the reader that made it
    /// so the matching writer can re-create the file exactly (Keras: the HDF5 tree of groups, attributes
    /// and dataset properties, whose datasets name the tensors that hold their data). nil for ONNX.
    public var sourceContainer: OpaqueMessage?
    public var unknownFields: UnknownFields

    public init(format: ModelFormat, graph: Graph) {
        self.format = format
        self.graph = graph
        irVersion = nil
        opsetImports = []
        producerName = nil
        producerVersion = nil
        domain = nil
        modelVersion = nil
        docString = nil
        metadata = []
        trainingInfo = []
        functions = []
        deviceConfigurations = []
        sourceContainer = nil
        unknownFields = .init()
    }
}
