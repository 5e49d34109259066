internal import CONNXProto
import ModelIR

/// Builds protobuf-c messages from IR values, inside one `CArena`.
///
/// Tensor bytes are not copied: `raw_data` and the typed fields whose in-memory layout matches
/// (float32, int32, int64, float64) point straight at the tensors' buffers.
struct ONNXEncoder {
    let arena: CArena
    let path: String
    /// Decides, per tensor, whether its bytes go to the side file.
    let externalize: (Tensor) -> Bool
    /// Side-file name written into `location`.
    let externalLocation: String
    /// Tensors placed in the side file, in order, with their offsets.
    private(set) var externalTensors: [(buffer: TensorBuffer, offset: Int)] = []
    private var externalSize = 0
    static let externalAlignment = 64

    init(arena: CArena, path: String, externalLocation: String, externalize: @escaping (Tensor) -> Bool) {
        self.arena = arena
        self.path = path
        self.externalLocation = externalLocation
        self.externalize = externalize
    }

    // MARK: Model

    mutating func model(_ m: Model) throws(ONNXError) -> UnsafeMutablePointer<Onnx__ModelProto> {
        let p: UnsafeMutablePointer<Onnx__ModelProto> = arena.message(onnx__model_proto__init)
        if let v = m.irVersion {
            p.pointee.has_ir_version = 1
            p.pointee.ir_version = v
        }
        set(&p.pointee.n_opset_import, &p.pointee.opset_import, m.opsetImports.map { opset($0) })
        p.pointee.producer_name = arena.cString(m.producerName)
        p.pointee.producer_version = arena.cString(m.producerVersion)
        p.pointee.domain = arena.cString(m.domain)
        if let v = m.modelVersion {
            p.pointee.has_model_version = 1
            p.pointee.model_version = v
        }
        p.pointee.doc_string = arena.cString(m.docString)
        p.pointee.graph = try graph(m.graph)
        set(&p.pointee.n_metadata_props, &p.pointee.metadata_props, m.metadata.map { entry($0) })
        var infos: [UnsafeMutablePointer<Onnx__TrainingInfoProto>] = []
        for t in m.trainingInfo { infos.append(try trainingInfo(t)) }
        set(&p.pointee.n_training_info, &p.pointee.training_info, infos)
        var fns: [UnsafeMutablePointer<Onnx__FunctionProto>] = []
        for f in m.functions { fns.append(try function(f)) }
        set(&p.pointee.n_functions, &p.pointee.functions, fns)
        var configs: [UnsafeMutablePointer<Onnx__DeviceConfigurationProto>] = []
        for c in m.deviceConfigurations {
            configs.append(try opaque(c) { onnx__device_configuration_proto__unpack(nil, $0, $1) })
        }
        set(&p.pointee.n_configuration, &p.pointee.configuration, configs)
        setUnknown(&p.pointee.base, m.unknownFields)
        return p
    }

    mutating func trainingInfo(_ t: TrainingInfo) throws(ONNXError) -> UnsafeMutablePointer<Onnx__TrainingInfoProto> {
        let p: UnsafeMutablePointer<Onnx__TrainingInfoProto> = arena.message(onnx__training_info_proto__init)
        if let g = t.initialization { p.pointee.initialization = try graph(g) }
        if let g = t.algorithm { p.pointee.algorithm = try graph(g) }
        set(
            &p.pointee.n_initialization_binding, &p.pointee.initialization_binding,
            t.initializationBinding.map { entry($0) })
        set(&p.pointee.n_update_binding, &p.pointee.update_binding, t.updateBinding.map { entry($0) })
        setUnknown(&p.pointee.base, t.unknownFields)
        return p
    }

    mutating func function(_ f: Function) throws(ONNXError) -> UnsafeMutablePointer<Onnx__FunctionProto> {
        let p: UnsafeMutablePointer<Onnx__FunctionProto> = arena.message(onnx__function_proto__init)
        p.pointee.name = arena.cString(f.name)
        p.pointee.n_input = f.inputs.count
        p.pointee.input = arena.cStrings(f.inputs)
        p.pointee.n_output = f.outputs.count
        p.pointee.output = arena.cStrings(f.outputs)
        p.pointee.n_attribute = f.attributeNames.count
        p.pointee.attribute = arena.cStrings(f.attributeNames)
        var attrs: [UnsafeMutablePointer<Onnx__AttributeProto>] = []
        for a in f.attributes { attrs.append(try attribute(a)) }
        set(&p.pointee.n_attribute_proto, &p.pointee.attribute_proto, attrs)
        var nodes: [UnsafeMutablePointer<Onnx__NodeProto>] = []
        for n in f.nodes { nodes.append(try node(n)) }
        set(&p.pointee.n_node, &p.pointee.node, nodes)
        p.pointee.doc_string = arena.cString(f.docString)
        set(&p.pointee.n_opset_import, &p.pointee.opset_import, f.opsetImports.map { opset($0) })
        p.pointee.domain = arena.cString(f.domain)
        p.pointee.overload = arena.cString(f.overload)
        set(&p.pointee.n_value_info, &p.pointee.value_info, f.valueInfo.map { valueInfo($0) })
        set(&p.pointee.n_metadata_props, &p.pointee.metadata_props, f.metadata.map { entry($0) })
        setUnknown(&p.pointee.base, f.unknownFields)
        return p
    }

    // MARK: Graph, node, attribute

    mutating func graph(_ g: Graph) throws(ONNXError) -> UnsafeMutablePointer<Onnx__GraphProto> {
        let p: UnsafeMutablePointer<Onnx__GraphProto> = arena.message(onnx__graph_proto__init)
        var nodes: [UnsafeMutablePointer<Onnx__NodeProto>] = []
        for n in g.nodes { nodes.append(try node(n)) }
        set(&p.pointee.n_node, &p.pointee.node, nodes)
        p.pointee.name = arena.cString(g.name)
        var inits: [UnsafeMutablePointer<Onnx__TensorProto>] = []
        for t in g.initializers { inits.append(try tensor(t)) }
        set(&p.pointee.n_initializer, &p.pointee.initializer, inits)
        var sparse: [UnsafeMutablePointer<Onnx__SparseTensorProto>] = []
        for s in g.sparseInitializers { sparse.append(try sparseTensor(s)) }
        set(&p.pointee.n_sparse_initializer, &p.pointee.sparse_initializer, sparse)
        p.pointee.doc_string = arena.cString(g.docString)
        set(&p.pointee.n_input, &p.pointee.input, g.inputs.map { valueInfo($0) })
        set(&p.pointee.n_output, &p.pointee.output, g.outputs.map { valueInfo($0) })
        set(&p.pointee.n_value_info, &p.pointee.value_info, g.valueInfo.map { valueInfo($0) })
        set(
            &p.pointee.n_quantization_annotation, &p.pointee.quantization_annotation,
            g.quantizationAnnotations.map { a in
                let q: UnsafeMutablePointer<Onnx__TensorAnnotation> = arena.message(onnx__tensor_annotation__init)
                q.pointee.tensor_name = arena.cString(a.tensorName)
                set(
                    &q.pointee.n_quant_parameter_tensor_names, &q.pointee.quant_parameter_tensor_names,
                    a.quantParameterTensorNames.map { entry($0) })
                setUnknown(&q.pointee.base, a.unknownFields)
                return q
            })
        set(&p.pointee.n_metadata_props, &p.pointee.metadata_props, g.metadata.map { entry($0) })
        setUnknown(&p.pointee.base, g.unknownFields)
        return p
    }

    mutating func node(_ n: Node) throws(ONNXError) -> UnsafeMutablePointer<Onnx__NodeProto> {
        let p: UnsafeMutablePointer<Onnx__NodeProto> = arena.message(onnx__node_proto__init)
        p.pointee.n_input = n.inputs.count
        p.pointee.input = arena.cStrings(n.inputs)
        p.pointee.n_output = n.outputs.count
        p.pointee.output = arena.cStrings(n.outputs)
        p.pointee.name = arena.cString(n.name)
        p.pointee.op_type = arena.cString(n.opType)
        p.pointee.domain = arena.cString(n.domain)
        p.pointee.overload = arena.cString(n.overload)
        var attrs: [UnsafeMutablePointer<Onnx__AttributeProto>] = []
        for a in n.attributes { attrs.append(try attribute(a)) }
        set(&p.pointee.n_attribute, &p.pointee.attribute, attrs)
        p.pointee.doc_string = arena.cString(n.docString)
        set(&p.pointee.n_metadata_props, &p.pointee.metadata_props, n.metadata.map { entry($0) })
        var configs: [UnsafeMutablePointer<Onnx__NodeDeviceConfigurationProto>] = []
        for c in n.deviceConfigurations {
            configs.append(try opaque(c) { onnx__node_device_configuration_proto__unpack(nil, $0, $1) })
        }
        set(&p.pointee.n_device_configurations, &p.pointee.device_configurations, configs)
        setUnknown(&p.pointee.base, n.unknownFields)
        return p
    }

    mutating func attribute(_ a: Attribute) throws(ONNXError) -> UnsafeMutablePointer<Onnx__AttributeProto> {
        let p: UnsafeMutablePointer<Onnx__AttributeProto> = arena.message(onnx__attribute_proto__init)
        p.pointee.name = arena.cString(a.name)
        p.pointee.ref_attr_name = arena.cString(a.refAttrName)
        p.pointee.doc_string = arena.cString(a.docString)
        if let k = a.kind {
            p.pointee.has_type = 1
            p.pointee.type = Onnx__AttributeProto__AttributeType(rawValue: UInt32(bitPattern: k.rawValue))
        }
        if let f = a.float {
            p.pointee.has_f = 1
            p.pointee.f = f
        }
        if let i = a.int {
            p.pointee.has_i = 1
            p.pointee.i = i
        }
        if let s = a.string {
            p.pointee.has_s = 1
            p.pointee.s = arena.binary(s)
        }
        if let t = a.tensor { p.pointee.t = try tensor(t) }
        if let g = a.graph { p.pointee.g = try graph(g) }
        if let s = a.sparseTensor { p.pointee.sparse_tensor = try sparseTensor(s) }
        if let t = a.typeProto { p.pointee.tp = valueType(t) }
        p.pointee.n_floats = a.floats.count
        p.pointee.floats = arena.array(a.floats)
        p.pointee.n_ints = a.ints.count
        p.pointee.ints = arena.array(a.ints)
        p.pointee.n_strings = a.strings.count
        p.pointee.strings = arena.array(a.strings.map { arena.binary($0) })
        var tensors: [UnsafeMutablePointer<Onnx__TensorProto>] = []
        for t in a.tensors { tensors.append(try tensor(t)) }
        set(&p.pointee.n_tensors, &p.pointee.tensors, tensors)
        var graphs: [UnsafeMutablePointer<Onnx__GraphProto>] = []
        for g in a.graphs { graphs.append(try graph(g)) }
        set(&p.pointee.n_graphs, &p.pointee.graphs, graphs)
        var sparse: [UnsafeMutablePointer<Onnx__SparseTensorProto>] = []
        for s in a.sparseTensors { sparse.append(try sparseTensor(s)) }
        set(&p.pointee.n_sparse_tensors, &p.pointee.sparse_tensors, sparse)
        set(&p.pointee.n_type_protos, &p.pointee.type_protos, a.typeProtos.map { valueType($0) })
        setUnknown(&p.pointee.base, a.unknownFields)
        return p
    }

    // MARK: Types

    func valueInfo(_ v: ValueInfo) -> UnsafeMutablePointer<Onnx__ValueInfoProto> {
        let p: UnsafeMutablePointer<Onnx__ValueInfoProto> = arena.message(onnx__value_info_proto__init)
        p.pointee.name = arena.cString(v.name)
        if let t = v.type { p.pointee.type = valueType(t) }
        p.pointee.doc_string = arena.cString(v.docString)
        set(&p.pointee.n_metadata_props, &p.pointee.metadata_props, v.metadata.map { entry($0) })
        setUnknown(&p.pointee.base, v.unknownFields)
        return p
    }

    func valueType(_ t: ValueType) -> UnsafeMutablePointer<Onnx__TypeProto> {
        let p: UnsafeMutablePointer<Onnx__TypeProto> = arena.message(onnx__type_proto__init)
        p.pointee.denotation = arena.cString(t.denotation)
        switch t.kind {
        case .tensor(let tt):
            let q: UnsafeMutablePointer<Onnx__TypeProto__Tensor> = arena.message(onnx__type_proto__tensor__init)
            if let e = tt.elementType {
                q.pointee.has_elem_type = 1
                q.pointee.elem_type = e.rawValue
            }
            if let s = tt.shape { q.pointee.shape = shape(s) }
            setUnknown(&q.pointee.base, tt.unknownFields)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE
            p.pointee.tensor_type = q
        case .sparseTensor(let tt):
            let q: UnsafeMutablePointer<Onnx__TypeProto__SparseTensor> = arena.message(
                onnx__type_proto__sparse_tensor__init)
            if let e = tt.elementType {
                q.pointee.has_elem_type = 1
                q.pointee.elem_type = e.rawValue
            }
            if let s = tt.shape { q.pointee.shape = shape(s) }
            setUnknown(&q.pointee.base, tt.unknownFields)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE
            p.pointee.sparse_tensor_type = q
        case .sequence(let elem, let u):
            let q: UnsafeMutablePointer<Onnx__TypeProto__Sequence> = arena.message(onnx__type_proto__sequence__init)
            if let e = elem { q.pointee.elem_type = valueType(e) }
            setUnknown(&q.pointee.base, u)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE
            p.pointee.sequence_type = q
        case .map(let key, let value, let u):
            let q: UnsafeMutablePointer<Onnx__TypeProto__Map> = arena.message(onnx__type_proto__map__init)
            if let k = key {
                q.pointee.has_key_type = 1
                q.pointee.key_type = k.rawValue
            }
            if let v = value { q.pointee.value_type = valueType(v) }
            setUnknown(&q.pointee.base, u)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_MAP_TYPE
            p.pointee.map_type = q
        case .optional(let elem, let u):
            let q: UnsafeMutablePointer<Onnx__TypeProto__Optional> = arena.message(onnx__type_proto__optional__init)
            if let e = elem { q.pointee.elem_type = valueType(e) }
            setUnknown(&q.pointee.base, u)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE
            p.pointee.optional_type = q
        case .opaque(let domain, let name, let u):
            let q: UnsafeMutablePointer<Onnx__TypeProto__Opaque> = arena.message(onnx__type_proto__opaque__init)
            q.pointee.domain = arena.cString(domain)
            q.pointee.name = arena.cString(name)
            setUnknown(&q.pointee.base, u)
            p.pointee.value_case = ONNX__TYPE_PROTO__VALUE_OPAQUE_TYPE
            p.pointee.opaque_type = q
        case nil:
            break
        }
        setUnknown(&p.pointee.base, t.unknownFields)
        return p
    }

    func shape(_ s: Shape) -> UnsafeMutablePointer<Onnx__TensorShapeProto> {
        let p: UnsafeMutablePointer<Onnx__TensorShapeProto> = arena.message(onnx__tensor_shape_proto__init)
        set(
            &p.pointee.n_dim, &p.pointee.dim,
            s.dims.map { d in
                let q: UnsafeMutablePointer<Onnx__TensorShapeProto__Dimension> = arena.message(
                    onnx__tensor_shape_proto__dimension__init)
                switch d.value {
                case .fixed(let n):
                    q.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE
                    q.pointee.dim_value = n
                case .symbolic(let s):
                    q.pointee.value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                    q.pointee.dim_param = arena.cString(s)
                case nil:
                    break
                }
                q.pointee.denotation = arena.cString(d.denotation)
                setUnknown(&q.pointee.base, d.unknownFields)
                return q
            })
        setUnknown(&p.pointee.base, s.unknownFields)
        return p
    }

    // MARK: Tensors

    mutating func sparseTensor(_ s: SparseTensor) throws(ONNXError) -> UnsafeMutablePointer<Onnx__SparseTensorProto> {
        let p: UnsafeMutablePointer<Onnx__SparseTensorProto> = arena.message(onnx__sparse_tensor_proto__init)
        if let v = s.values { p.pointee.values = try tensor(v) }
        if let i = s.indices { p.pointee.indices = try tensor(i) }
        p.pointee.n_dims = s.dims.count
        p.pointee.dims = arena.array(s.dims)
        setUnknown(&p.pointee.base, s.unknownFields)
        return p
    }

    mutating func tensor(_ t: Tensor) throws(ONNXError) -> UnsafeMutablePointer<Onnx__TensorProto> {
        let p: UnsafeMutablePointer<Onnx__TensorProto> = arena.message(onnx__tensor_proto__init)
        let label = "tensor '\(t.name ?? "?")'"
        p.pointee.n_dims = t.dims.count
        p.pointee.dims = arena.array(t.dims)
        if t.layout.hasDataType || t.dtype != .undefined {
            p.pointee.has_data_type = 1
            p.pointee.data_type = t.dtype.rawValue
        }
        if let s = t.layout.segment {
            let q: UnsafeMutablePointer<Onnx__TensorProto__Segment> = arena.message(onnx__tensor_proto__segment__init)
            if let b = s.begin {
                q.pointee.has_begin = 1
                q.pointee.begin = b
            }
            if let e = s.end {
                q.pointee.has_end = 1
                q.pointee.end = e
            }
            setUnknown(&q.pointee.base, s.unknownFields)
            p.pointee.segment = q
        }
        p.pointee.name = arena.cString(t.name)
        p.pointee.doc_string = arena.cString(t.docString)
        set(&p.pointee.n_metadata_props, &p.pointee.metadata_props, t.metadata.map { entry($0) })
        setUnknown(&p.pointee.base, t.unknownFields)

        var dataLocation = t.layout.dataLocation
        var externalEntries = t.layout.externalData
        switch t.storage {
        case .strings(let s):
            p.pointee.n_string_data = s.count
            p.pointee.string_data = arena.array(s.map { arena.binary($0) })
        case .dense(let buffer):
            if externalize(t) {
                let offset =
                    (externalSize + Self.externalAlignment - 1) / Self.externalAlignment * Self.externalAlignment
                externalTensors.append((buffer, offset))
                externalSize = offset + buffer.count
                var entries = [
                    MetadataEntry(key: "location", value: externalLocation),
                    MetadataEntry(key: "offset", value: String(offset)),
                    MetadataEntry(key: "length", value: String(buffer.count)),
                ]
                entries += externalEntries.filter { !["location", "offset", "length"].contains($0.key ?? "") }
                externalEntries = entries
                dataLocation = 1
            } else {
                if t.layout.dataField == .external {
                    // Inlined: say so the way onnx.load does after loading external data.
                    externalEntries = []
                    dataLocation = 0
                }
                try writeInline(buffer, of: t, into: p, label: label)
            }
        default:
            throw ONNXError(
                .unsupported, path: path,
                "has \(t.storage.kind) storage, which ONNX cannot hold directly; decompress the tensor to dense first",
                at: label)
        }
        set(&p.pointee.n_external_data, &p.pointee.external_data, externalEntries.map { entry($0) })
        if let d = dataLocation {
            p.pointee.has_data_location = 1
            p.pointee.data_location = Onnx__TensorProto__DataLocation(rawValue: UInt32(bitPattern: d))
        }
        return p
    }

    private func writeInline(
        _ buffer: TensorBuffer, of t: Tensor, into p: UnsafeMutablePointer<Onnx__TensorProto>, label: String
    ) throws(ONNXError) {
        let useTyped = t.layout.dataField == .typed
        guard useTyped, let field = TypedField.of(t.dtype) else {
            if t.layout.dataField != .none || buffer.count > 0 {
                p.pointee.has_raw_data = 1
                p.pointee.raw_data = arena.binary(referencing: buffer)
            }
            return
        }
        let n = buffer.count
        switch field {
        case .float:
            p.pointee.n_float_data = n / 4
            p.pointee.float_data = arena.view(buffer, as: Float.self, count: n / 4)
        case .double:
            p.pointee.n_double_data = n / 8
            p.pointee.double_data = arena.view(buffer, as: Double.self, count: n / 8)
        case .int64:
            p.pointee.n_int64_data = n / 8
            p.pointee.int64_data = arena.view(buffer, as: Int64.self, count: n / 8)
        case .int32:
            if t.dtype == .int32 {
                p.pointee.n_int32_data = n / 4
                p.pointee.int32_data = arena.view(buffer, as: Int32.self, count: n / 4)
            } else {
                let values = buffer.withUnsafeBytes { TypedData.int32Values(fromBytes: $0, dtype: t.dtype) }
                p.pointee.n_int32_data = values.count
                p.pointee.int32_data = arena.array(values)
            }
        case .uint64:
            let values = buffer.withUnsafeBytes { TypedData.uint64Values(fromBytes: $0, dtype: t.dtype) }
            p.pointee.n_uint64_data = values.count
            p.pointee.uint64_data = arena.array(values)
        case .string:
            throw ONNXError(.invalidTensor, path: path, "is a string tensor holding dense bytes", at: label)
        }
    }

    // MARK: Small helpers

    func opset(_ o: OpsetImport) -> UnsafeMutablePointer<Onnx__OperatorSetIdProto> {
        let p: UnsafeMutablePointer<Onnx__OperatorSetIdProto> = arena.message(onnx__operator_set_id_proto__init)
        p.pointee.domain = arena.cString(o.domain)
        if let v = o.version {
            p.pointee.has_version = 1
            p.pointee.version = v
        }
        setUnknown(&p.pointee.base, o.unknownFields)
        return p
    }

    func entry(_ e: MetadataEntry) -> UnsafeMutablePointer<Onnx__StringStringEntryProto> {
        let p: UnsafeMutablePointer<Onnx__StringStringEntryProto> = arena.message(
            onnx__string_string_entry_proto__init)
        p.pointee.key = arena.cString(e.key)
        p.pointee.value = arena.cString(e.value)
        setUnknown(&p.pointee.base, e.unknownFields)
        return p
    }

    func opaque<T>(_ m: OpaqueMessage, unpack: (Int, UnsafePointer<UInt8>?) -> UnsafeMutablePointer<T>?)
        throws(ONNXError) -> UnsafeMutablePointer<T>
    {
        guard let u = arena.unpack(m.bytes, with: unpack) else {
            throw ONNXError(.unsupported, path: path, "a kept \(m.typeName) no longer decodes")
        }
        return u
    }

    func set<T>(
        _ n: inout Int, _ field: inout UnsafeMutablePointer<UnsafeMutablePointer<T>?>?,
        _ values: [UnsafeMutablePointer<T>]
    ) {
        n = values.count
        field = arena.pointers(values)
    }

    func setUnknown(_ base: inout ProtobufCMessage, _ u: UnknownFields) {
        guard !u.isEmpty else { return }
        base.n_unknown_fields = UInt32(u.fields.count)
        base.unknown_fields = arena.array(
            u.fields.map { f in
                let b = arena.binary(f.payload)
                return ProtobufCMessageUnknownField(
                    tag: f.number, wire_type: ProtobufCWireType(rawValue: UInt32(f.wireType)), len: b.len, data: b.data)
            })
    }
}
