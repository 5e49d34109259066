internal import CONNXProto
import ModelIR

#if canImport(Glibc)
    import Glibc
#endif

/// Turns protobuf-c's unpacked messages into IR values. Copies everything into Swift storage,
/// except large `raw_data` buffers, whose ownership it takes over from protobuf-c (no copy).
struct ONNXDecoder {
    let path: String
    var externalData: ExternalDataReader?
    var diagnostics = Diagnostics()
    /// Payloads `WireSkeleton` cut out of the input, indexed by the placeholder fields left behind.
    let payloads: [TensorBuffer]
    /// Decoding an `ONNXSkeleton`: tensors marked detached get empty storage, and a model without an IR
    /// version (a Keras model's graph) is accepted.
    let skeleton: Bool

    init(path: String, externalData: ExternalDataReader?, payloads: [TensorBuffer] = [], skeleton: Bool = false) {
        self.path = path
        self.externalData = externalData
        self.payloads = payloads
        self.skeleton = skeleton
    }

    // MARK: Model

    mutating func model(_ m: UnsafeMutablePointer<Onnx__ModelProto>) throws(ONNXError) -> Model {
        let p = m.pointee
        guard let g = p.graph else {
            throw ONNXError(.notONNX, path: path, "not an ONNX model: it has no graph")
        }
        var model = Model(format: .onnx, graph: try graph(g, path: "main"))
        // What every real model has: an IR version, and (since IR 3) at least one opset import. Their
        // absence means a truncated file or something that merely parses as protobuf.
        guard p.has_ir_version != 0 || skeleton else {
            throw ONNXError(
                .notONNX, path: path,
                "not a complete ONNX model: it declares no IR version (ModelProto field 1); the file is truncated or not ONNX"
            )
        }
        model.irVersion = p.has_ir_version != 0 ? p.ir_version : nil
        model.opsetImports = list(p.n_opset_import, p.opset_import) { opset($0) }
        guard p.ir_version < 3 || !model.opsetImports.isEmpty else {
            throw ONNXError(
                .notONNX, path: path,
                "not a complete ONNX model: IR version \(p.ir_version) requires opset imports and it has none; the file is truncated or damaged"
            )
        }
        model.producerName = string(p.producer_name)
        model.producerVersion = string(p.producer_version)
        model.domain = string(p.domain)
        model.modelVersion = p.has_model_version != 0 ? p.model_version : nil
        model.docString = string(p.doc_string)
        model.metadata = entries(p.n_metadata_props, p.metadata_props)
        model.trainingInfo = try list(p.n_training_info, p.training_info) { (t) throws(ONNXError) in
            try trainingInfo(t)
        }
        model.functions = try list(p.n_functions, p.functions) { (f) throws(ONNXError) in try function(f) }
        model.deviceConfigurations = list(p.n_configuration, p.configuration) {
            opaque(UnsafeMutableRawPointer($0), type: "onnx.DeviceConfigurationProto")
        }
        model.unknownFields = unknown(p.base)
        return model
    }

    mutating func trainingInfo(_ t: UnsafeMutablePointer<Onnx__TrainingInfoProto>) throws(ONNXError) -> TrainingInfo {
        let p = t.pointee
        return TrainingInfo(
            initialization: try p.initialization.map { (g) throws(ONNXError) in
                try graph(g, path: "training.initialization")
            },
            algorithm: try p.algorithm.map { (g) throws(ONNXError) in try graph(g, path: "training.algorithm") },
            initializationBinding: entries(p.n_initialization_binding, p.initialization_binding),
            updateBinding: entries(p.n_update_binding, p.update_binding),
            unknownFields: unknown(p.base))
    }

    mutating func function(_ f: UnsafeMutablePointer<Onnx__FunctionProto>) throws(ONNXError) -> Function {
        let p = f.pointee
        var fn = Function(name: string(p.name), domain: string(p.domain))
        let where_ = "function " + (fn.name ?? "?")
        fn.overload = string(p.overload)
        fn.inputs = strings(p.n_input, p.input)
        fn.outputs = strings(p.n_output, p.output)
        fn.attributeNames = strings(p.n_attribute, p.attribute)
        fn.attributes = try list(p.n_attribute_proto, p.attribute_proto) { (a) throws(ONNXError) in
            try attribute(a, path: where_)
        }
        fn.nodes = try list(p.n_node, p.node) { (n) throws(ONNXError) in try node(n, path: where_) }
        fn.docString = string(p.doc_string)
        fn.opsetImports = list(p.n_opset_import, p.opset_import) { opset($0) }
        fn.valueInfo = list(p.n_value_info, p.value_info) { valueInfo($0) }
        fn.metadata = entries(p.n_metadata_props, p.metadata_props)
        fn.unknownFields = unknown(p.base)
        return fn
    }

    // MARK: Graph, node, attribute

    mutating func graph(_ g: UnsafeMutablePointer<Onnx__GraphProto>, path graphPath: String) throws(ONNXError) -> Graph
    {
        let p = g.pointee
        var graph = Graph(name: string(p.name))
        graph.nodes = try list(p.n_node, p.node) { (n) throws(ONNXError) in try node(n, path: graphPath) }
        graph.initializers = try list(p.n_initializer, p.initializer) { (t) throws(ONNXError) in
            try tensor(t, context: graphPath)
        }
        graph.sparseInitializers = try list(p.n_sparse_initializer, p.sparse_initializer) {
            (s) throws(ONNXError) in try sparseTensor(s, context: graphPath)
        }
        graph.docString = string(p.doc_string)
        graph.inputs = list(p.n_input, p.input) { valueInfo($0) }
        graph.outputs = list(p.n_output, p.output) { valueInfo($0) }
        graph.valueInfo = list(p.n_value_info, p.value_info) { valueInfo($0) }
        graph.quantizationAnnotations = list(p.n_quantization_annotation, p.quantization_annotation) { a in
            TensorAnnotation(
                tensorName: string(a.pointee.tensor_name),
                quantParameterTensorNames: entries(
                    a.pointee.n_quant_parameter_tensor_names, a.pointee.quant_parameter_tensor_names),
                unknownFields: unknown(a.pointee.base))
        }
        graph.metadata = entries(p.n_metadata_props, p.metadata_props)
        graph.unknownFields = unknown(p.base)
        return graph
    }

    mutating func node(_ n: UnsafeMutablePointer<Onnx__NodeProto>, path graphPath: String) throws(ONNXError) -> Node {
        let p = n.pointee
        var node = Node(name: string(p.name), domain: string(p.domain), opType: string(p.op_type))
        node.overload = string(p.overload)
        node.inputs = strings(p.n_input, p.input)
        node.outputs = strings(p.n_output, p.output)
        let label = graphPath + "/" + (node.name ?? node.opType ?? "?")
        node.attributes = try list(p.n_attribute, p.attribute) { (a) throws(ONNXError) in
            try attribute(a, path: label)
        }
        node.docString = string(p.doc_string)
        node.metadata = entries(p.n_metadata_props, p.metadata_props)
        node.deviceConfigurations = list(p.n_device_configurations, p.device_configurations) {
            opaque(UnsafeMutableRawPointer($0), type: "onnx.NodeDeviceConfigurationProto")
        }
        node.unknownFields = unknown(p.base)
        return node
    }

    mutating func attribute(_ a: UnsafeMutablePointer<Onnx__AttributeProto>, path nodePath: String) throws(ONNXError)
        -> Attribute
    {
        let p = a.pointee
        var attr = Attribute(
            name: string(p.name),
            kind: p.has_type != 0 ? Attribute.Kind(rawValue: Int32(bitPattern: p.type.rawValue)) : nil)
        let label = nodePath + "." + (attr.name ?? "?")
        attr.refAttrName = string(p.ref_attr_name)
        attr.docString = string(p.doc_string)
        attr.float = p.has_f != 0 ? p.f : nil
        attr.int = p.has_i != 0 ? p.i : nil
        attr.string = p.has_s != 0 ? bytes(p.s) : nil
        attr.tensor = try p.t.map { (t) throws(ONNXError) in try tensor(t, context: label) }
        attr.graph = try p.g.map { (g) throws(ONNXError) in try graph(g, path: label) }
        attr.sparseTensor = try p.sparse_tensor.map { (s) throws(ONNXError) in try sparseTensor(s, context: label) }
        attr.typeProto = p.tp.map { valueType($0) }
        attr.floats = array(p.n_floats, p.floats)
        attr.ints = array(p.n_ints, p.ints)
        attr.strings = (0..<p.n_strings).map { bytes(p.strings[$0]) }
        attr.tensors = try list(p.n_tensors, p.tensors) { (t) throws(ONNXError) in try tensor(t, context: label) }
        attr.graphs = try list(p.n_graphs, p.graphs) { (g) throws(ONNXError) in try graph(g, path: label) }
        attr.sparseTensors = try list(p.n_sparse_tensors, p.sparse_tensors) { (s) throws(ONNXError) in
            try sparseTensor(s, context: label)
        }
        attr.typeProtos = list(p.n_type_protos, p.type_protos) { valueType($0) }
        attr.unknownFields = unknown(p.base)
        return attr
    }

    // MARK: Types

    func valueInfo(_ v: UnsafeMutablePointer<Onnx__ValueInfoProto>) -> ValueInfo {
        let p = v.pointee
        return ValueInfo(
            name: string(p.name), type: p.type.map { valueType($0) }, docString: string(p.doc_string),
            metadata: entries(p.n_metadata_props, p.metadata_props), unknownFields: unknown(p.base))
    }

    func valueType(_ t: UnsafeMutablePointer<Onnx__TypeProto>) -> ValueType {
        let p = t.pointee
        let kind: ValueType.Kind?
        switch p.value_case {
        case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE:
            kind = p.tensor_type.map {
                .tensor(tensorType($0.pointee.has_elem_type, $0.pointee.elem_type, $0.pointee.shape, $0.pointee.base))
            }
        case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE:
            kind = p.sparse_tensor_type.map {
                .sparseTensor(
                    tensorType($0.pointee.has_elem_type, $0.pointee.elem_type, $0.pointee.shape, $0.pointee.base))
            }
        case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE:
            kind = p.sequence_type.map {
                .sequence(elem: $0.pointee.elem_type.map { valueType($0) }, unknownFields: unknown($0.pointee.base))
            }
        case ONNX__TYPE_PROTO__VALUE_MAP_TYPE:
            kind = p.map_type.map {
                .map(
                    key: $0.pointee.has_key_type != 0 ? DType(rawValue: $0.pointee.key_type) : nil,
                    value: $0.pointee.value_type.map { valueType($0) }, unknownFields: unknown($0.pointee.base))
            }
        case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE:
            kind = p.optional_type.map {
                .optional(elem: $0.pointee.elem_type.map { valueType($0) }, unknownFields: unknown($0.pointee.base))
            }
        case ONNX__TYPE_PROTO__VALUE_OPAQUE_TYPE:
            kind = p.opaque_type.map {
                .opaque(
                    domain: string($0.pointee.domain), name: string($0.pointee.name),
                    unknownFields: unknown($0.pointee.base))
            }
        default:
            kind = nil
        }
        return ValueType(kind, denotation: string(p.denotation), unknownFields: unknown(p.base))
    }

    func tensorType(
        _ hasElem: protobuf_c_boolean, _ elem: Int32, _ shape: UnsafeMutablePointer<Onnx__TensorShapeProto>?,
        _ base: ProtobufCMessage
    ) -> TensorType {
        TensorType(
            elementType: hasElem != 0 ? DType(rawValue: elem) : nil,
            shape: shape.map { s in
                Shape(
                    list(s.pointee.n_dim, s.pointee.dim) { d in
                        let value: Dimension.Value?
                        switch d.pointee.value_case {
                        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE: value = .fixed(d.pointee.dim_value)
                        case ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM:
                            value = .symbolic(string(d.pointee.dim_param) ?? "")
                        default: value = nil
                        }
                        return Dimension(
                            value, denotation: string(d.pointee.denotation), unknownFields: unknown(d.pointee.base))
                    }, unknownFields: unknown(s.pointee.base))
            }, unknownFields: unknown(base))
    }

    // MARK: Tensors

    mutating func sparseTensor(_ s: UnsafeMutablePointer<Onnx__SparseTensorProto>, context: String) throws(ONNXError)
        -> SparseTensor
    {
        let p = s.pointee
        return SparseTensor(
            values: try p.values.map { (t) throws(ONNXError) in try tensor(t, context: context) },
            indices: try p.indices.map { (t) throws(ONNXError) in try tensor(t, context: context) },
            dims: array(p.n_dims, p.dims), unknownFields: unknown(p.base))
    }

    mutating func tensor(_ t: UnsafeMutablePointer<Onnx__TensorProto>, context: String) throws(ONNXError) -> Tensor {
        let p = t.pointee
        let name = string(p.name)
        let dtype = DType(rawValue: p.data_type)
        let dims: [Int64] = array(p.n_dims, p.dims)
        let label = "tensor '\(name ?? "?")' in \(context)"
        var layout = TensorLayout(
            dataField: .none, hasDataType: p.has_data_type != 0,
            segment: p.segment.map {
                TensorLayout.Segment(
                    begin: $0.pointee.has_begin != 0 ? $0.pointee.begin : nil,
                    end: $0.pointee.has_end != 0 ? $0.pointee.end : nil, unknownFields: unknown($0.pointee.base))
            },
            dataLocation: p.has_data_location != 0 ? Int32(bitPattern: p.data_location.rawValue) : nil,
            externalData: entries(p.n_external_data, p.external_data))

        let typedCounts: [(TypedField, Int)] = [
            (.float, p.n_float_data), (.int32, p.n_int32_data), (.string, p.n_string_data),
            (.int64, p.n_int64_data), (.double, p.n_double_data), (.uint64, p.n_uint64_data),
        ].filter { $0.1 > 0 }
        let elements = elementCount(of: dims)
        if elements == nil {
            throw ONNXError(
                .invalidTensor, path: path,
                "has dims \(dims) whose product is negative or overflows; the file is corrupt", at: label)
        }

        var unknownFields = unknown(p.base)
        if skeleton,
            let i = unknownFields.fields.firstIndex(where: { $0.number == ONNXSkeleton.detachedField }),
            let field = ONNXSkeleton.DetachedField(unknownFields.fields[i].payload)
        {
            // The marker stays: the caller matches it to a chunk (`ONNXSkeleton.takeMarker`).
            layout.dataField = field
            return Tensor(
                name: name, dtype: dtype, dims: dims, storage: .dense(TensorBuffer(copying: [])),
                docString: string(p.doc_string), metadata: entries(p.n_metadata_props, p.metadata_props),
                layout: layout, unknownFields: unknownFields)
        }
        var extracted: TensorBuffer?
        if !payloads.isEmpty,
            let i = unknownFields.fields.firstIndex(where: { UInt64($0.number) == WireSkeleton.placeholderField })
        {
            let index = unknownFields.fields[i].payload.reversed().reduce(0) { $0 << 7 | Int($1 & 0x7f) }
            guard index < payloads.count, p.has_raw_data == 0 else {
                throw ONNXError(.malformed, path: path, "internal: a cut-out payload reference is invalid", at: label)
            }
            extracted = payloads[index]
            unknownFields.fields.remove(at: i)
        }

        var storage: TensorStorage = .dense(TensorBuffer(copying: []))
        if let extracted {
            guard typedCounts.isEmpty, layout.dataLocation != 1 else {
                throw ONNXError(
                    .invalidTensor, path: path,
                    "holds raw_data together with typed or external data; only one is allowed",
                    at: label)
            }
            guard dtype != .string else {
                throw ONNXError(.invalidTensor, path: path, "is a string tensor but holds raw_data", at: label)
            }
            storage = .dense(extracted)
            layout.dataField = .raw
        } else if layout.dataLocation == 1 {  // EXTERNAL
            guard typedCounts.isEmpty, p.has_raw_data == 0 else {
                throw ONNXError(.invalidTensor, path: path, "is marked external but also holds inline data", at: label)
            }
            guard var reader = externalData else {
                throw ONNXError(
                    .externalData, path: path,
                    "keeps its data in an external file, which cannot be resolved for a model read from standard input",
                    at: label)
            }
            guard let expected = dtype.byteCount(elements: elements!) else {
                throw ONNXError(
                    .invalidTensor, path: path, "has element type \(dtype.name), which cannot be stored externally",
                    at: label)
            }
            storage = .dense(
                try reader.load(layout.externalData, expectedBytes: expected, modelPath: path, tensor: label))
            externalData = reader
            layout.dataField = .external
        } else if p.has_raw_data != 0 {
            guard typedCounts.isEmpty else {
                throw ONNXError(
                    .invalidTensor, path: path, "holds both raw_data and typed data fields; only one is allowed",
                    at: label)
            }
            guard dtype != .string else {
                throw ONNXError(.invalidTensor, path: path, "is a string tensor but holds raw_data", at: label)
            }
            storage = .dense(adoptRawData(t))
            layout.dataField = .raw
        } else if let (field, count) = typedCounts.first {
            guard typedCounts.count == 1 else {
                throw ONNXError(.invalidTensor, path: path, "holds data in more than one typed field", at: label)
            }
            let expectedField = TypedField.of(dtype)
            guard expectedField == nil || expectedField == field else {
                throw ONNXError(
                    .invalidTensor, path: path,
                    "is \(dtype.name) but holds its data in the field meant for another type", at: label)
            }
            storage = try typedStorage(t, field: field, count: count, dtype: dtype, label: label)
            layout.dataField = .typed
        } else if dtype == .string {
            storage = .strings([])
        }

        let tensor = Tensor(
            name: name, dtype: dtype, dims: dims, storage: storage, docString: string(p.doc_string),
            metadata: entries(p.n_metadata_props, p.metadata_props), layout: layout, unknownFields: unknownFields)
        if layout.segment == nil, dtype.bitWidth != nil || dtype == .string {
            do {
                try tensor.validate()
            } catch {
                throw ONNXError(.invalidTensor, path: path, error.message, at: label)
            }
        } else if layout.segment == nil, dtype != .undefined {
            diagnostics.warn(
                "element type code \(dtype.rawValue) is unknown to this version; data kept as is", at: label)
        }
        return tensor
    }

    /// Takes `raw_data`'s buffer from protobuf-c: the C struct forgets it, the TensorBuffer frees it.
    private func adoptRawData(_ t: UnsafeMutablePointer<Onnx__TensorProto>) -> TensorBuffer {
        let raw = t.pointee.raw_data
        t.pointee.raw_data.data = nil
        t.pointee.raw_data.len = 0
        return adopt(raw.data, bytes: raw.len)
    }

    /// Ownership of a buffer protobuf-c allocated (with malloc) passes to a TensorBuffer; the
    /// caller clears the C field that held it so free_unpacked does not free it too.
    private func adopt(_ data: UnsafeMutableRawPointer?, bytes: Int) -> TensorBuffer {
        guard bytes > 0, let data else { return TensorBuffer(copying: []) }
        return TensorBuffer(adopting: data, count: bytes, release: { free($0) })
    }

    private mutating func typedStorage(
        _ t: UnsafeMutablePointer<Onnx__TensorProto>, field: TypedField, count: Int, dtype: DType, label: String
    ) throws(ONNXError) -> TensorStorage {
        let p = t.pointee
        if field == .string {
            return .strings((0..<count).map { bytes(p.string_data[$0]) })
        }
        if dtype == .undefined || dtype.bitWidth == nil {
            throw ONNXError(
                .invalidTensor, path: path, "has typed data but element type \(dtype.name), which cannot hold it",
                at: label)
        }
        // Fields whose in-memory layout is already the packed little-endian form: adopt, no copy.
        switch field {
        case .float:
            t.pointee.float_data = nil
            t.pointee.n_float_data = 0
            return .dense(adopt(p.float_data, bytes: count * 4))
        case .double:
            t.pointee.double_data = nil
            t.pointee.n_double_data = 0
            return .dense(adopt(p.double_data, bytes: count * 8))
        case .int64:
            t.pointee.int64_data = nil
            t.pointee.n_int64_data = 0
            return .dense(adopt(p.int64_data, bytes: count * 8))
        default:
            break
        }
        let packed: [UInt8]
        switch field {
        case .uint64:
            packed = TypedData.bytes(fromUInt64: UnsafeBufferPointer(start: p.uint64_data, count: count), dtype: dtype)
        case .int32:
            let values = UnsafeBufferPointer(start: p.int32_data, count: count)
            packed = TypedData.bytes(fromInt32: values, dtype: dtype) ?? []
            let back = packed.withUnsafeBytes { TypedData.int32Values(fromBytes: $0, dtype: dtype) }
            if !back.elementsEqual(values) {
                diagnostics.warn(
                    "int32_data holds values outside the range of \(dtype.name); only their low \(max(dtype.bitWidth ?? 8, 8)) bits are kept, and a rewrite stores them in canonical form",
                    at: label)
            }
        default:  // handled above
            packed = []
        }
        return .dense(TensorBuffer(copying: packed))
    }

    // MARK: Small helpers

    func opset(_ o: UnsafeMutablePointer<Onnx__OperatorSetIdProto>) -> OpsetImport {
        OpsetImport(
            domain: string(o.pointee.domain), version: o.pointee.has_version != 0 ? o.pointee.version : nil,
            unknownFields: unknown(o.pointee.base))
    }

    func entries(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<Onnx__StringStringEntryProto>?>?)
        -> [MetadataEntry]
    {
        list(n, p) { e in
            MetadataEntry(
                key: string(e.pointee.key), value: string(e.pointee.value), unknownFields: unknown(e.pointee.base))
        }
    }

    /// Serializes a message this version keeps verbatim.
    func opaque(_ m: UnsafeMutableRawPointer, type: String) -> OpaqueMessage {
        let message = m.assumingMemoryBound(to: ProtobufCMessage.self)
        let size = protobuf_c_message_get_packed_size(message)
        var out = [UInt8](repeating: 0, count: size)
        _ = out.withUnsafeMutableBufferPointer { protobuf_c_message_pack(message, $0.baseAddress) }
        return OpaqueMessage(typeName: type, bytes: out)
    }
}

// MARK: - Reading C values

@inline(__always)
func string(_ p: UnsafeMutablePointer<CChar>?) -> String? {
    guard let p else { return nil }
    return String(decoding: UnsafeRawBufferPointer(start: p, count: strlen(p)), as: UTF8.self)
}

func strings(_ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> [String] {
    (0..<n).map { string(p![$0]) ?? "" }
}

func bytes(_ b: ProtobufCBinaryData) -> [UInt8] {
    guard b.len > 0, let data = b.data else { return [] }
    return Array(UnsafeBufferPointer(start: data, count: b.len))
}

func array<T>(_ n: Int, _ p: UnsafeMutablePointer<T>?) -> [T] {
    guard n > 0, let p else { return [] }
    return Array(UnsafeBufferPointer(start: p, count: n))
}

func list<T, R, E: Error>(
    _ n: Int, _ p: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?, _ f: (UnsafeMutablePointer<T>) throws(E) -> R
)
    throws(E) -> [R]
{
    guard n > 0, let p else { return [] }
    var out: [R] = []
    out.reserveCapacity(n)
    for i in 0..<n {
        guard let m = p[i] else { continue }
        out.append(try f(m))
    }
    return out
}

func unknown(_ base: ProtobufCMessage) -> UnknownFields {
    guard base.n_unknown_fields > 0, let u = base.unknown_fields else { return UnknownFields() }
    return UnknownFields(
        (0..<Int(base.n_unknown_fields)).map { i in
            let f = u[i]
            return UnknownFields.Field(
                number: f.tag, wireType: UInt8(truncatingIfNeeded: f.wire_type.rawValue),
                payload: f.len > 0 && f.data != nil ? Array(UnsafeBufferPointer(start: f.data, count: f.len)) : [])
        })
}
