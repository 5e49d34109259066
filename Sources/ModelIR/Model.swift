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
        unknownFields = .init()
    }
}
