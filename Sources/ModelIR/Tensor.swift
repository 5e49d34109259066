/// A named tensor value: element type, concrete dims, and its elements in some storage.
public struct Tensor: Hashable, Sendable {
    public var name: String?
    public var dtype: DType
    /// Concrete dimensions; empty for a scalar.
    public var dims: [Int64]
    public var storage: TensorStorage
    public var docString: String?
    public var metadata: [MetadataEntry]
    /// Where and how the source file held the elements, so a writer can put them back the same way.
    public var layout: TensorLayout
    public var unknownFields: UnknownFields

    public init(
        name: String?, dtype: DType, dims: [Int64], storage: TensorStorage, docString: String? = nil,
        metadata: [MetadataEntry] = [], layout: TensorLayout = .init(), unknownFields: UnknownFields = .init()
    ) {
        self.name = name
        self.dtype = dtype
        self.dims = dims
        self.storage = storage
        self.docString = docString
        self.metadata = metadata
        self.layout = layout
        self.unknownFields = unknownFields
    }

    /// Number of elements, or nil when the dims are negative or their product overflows.
    public var elementCount: Int? { ModelIR.elementCount(of: dims) }

    /// Bytes the elements occupy in dense form (strings: their total length); nil when not computable.
    public var denseByteCount: Int? {
        if case .strings(let s) = storage { return s.reduce(0) { $0 + $1.count } }
        guard let n = elementCount else { return nil }
        return dtype.byteCount(elements: n)
    }

    /// `12x34` or `scalar`.
    public var dimsText: String { dims.isEmpty ? "scalar" : dims.map(String.init).joined(separator: "x") }
}

/// The source file's arrangement of a tensor's bytes: which field held them, the ONNX segment and
/// data-location fields, and external-data descriptors. Writers use it to reproduce the file.
public struct TensorLayout: Hashable, Sendable {
    /// Where the element data was.
    public enum DataField: Hashable, Sendable {
        /// No element data at all (an empty tensor, or none given).
        case none
        /// Packed little-endian bytes (ONNX `raw_data`, HDF5 datasets).
        case raw
        /// ONNX's typed repeated fields (`float_data`, `int32_data`, ...).
        case typed
        /// A side file, described by `externalData`.
        case external
    }

    public var dataField: DataField
    /// False when the file omitted the element-type field (it is then `undefined`).
    public var hasDataType: Bool
    /// ONNX `segment` (begin, end), when the file had one.
    public var segment: Segment?
    /// ONNX `data_location` as written, when the file had the field.
    public var dataLocation: Int32?
    /// External-data descriptors as read (`location`, `offset`, `length`, `checksum`, ...).
    public var externalData: [MetadataEntry]

    public init(
        dataField: DataField = .raw, hasDataType: Bool = true, segment: Segment? = nil, dataLocation: Int32? = nil,
        externalData: [MetadataEntry] = []
    ) {
        self.dataField = dataField
        self.hasDataType = hasDataType
        self.segment = segment
        self.dataLocation = dataLocation
        self.externalData = externalData
    }

    /// Part of a tensor split over several messages (ONNX `TensorProto.Segment`).
    public struct Segment: Hashable, Sendable {
        public var begin: Int64?
        public var end: Int64?
        public var unknownFields: UnknownFields
        public init(begin: Int64?, end: Int64?, unknownFields: UnknownFields = .init()) {
            self.begin = begin
            self.end = end
            self.unknownFields = unknownFields
        }
    }
}

/// A sparse tensor in coordinate form: nonzero `values`, their `indices`, and the dense `dims`.
public struct SparseTensor: Hashable, Sendable {
    public var values: Tensor?
    public var indices: Tensor?
    public var dims: [Int64]
    public var unknownFields: UnknownFields

    public init(values: Tensor?, indices: Tensor?, dims: [Int64], unknownFields: UnknownFields = .init()) {
        self.values = values
        self.indices = indices
        self.dims = dims
        self.unknownFields = unknownFields
    }
}
