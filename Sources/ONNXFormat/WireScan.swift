/// A schema-aware pass over the protobuf wire format of an ONNX file, run before protobuf-c sees it.
///
/// protobuf-c unpacks recursively with no depth limit (a 30 KB file nesting graphs ~9000 deep
/// overflows the stack) and reports any failure as a bare NULL. This scan walks every message
/// iteratively, checks every tag, varint and length against the bytes that are really there, and
/// rejects nesting deeper than the limit, so that the error can say what is wrong and where.
/// It does not allocate per field; payloads (weights) are skipped by length. O(number of fields).
struct WireScan {
    /// Message types of the ONNX schema that contain sub-messages, and which field holds which.
    enum Message: Int {
        case model, graph, node, attribute, valueInfo, typeProto, typeTensor, typeSequence, typeMap
        case typeOptional, shape, tensor, sparseTensor, tensorAnnotation, trainingInfo, function
        case nodeDeviceConfiguration, shardingSpec, shardedDim, leaf

        var name: String {
            switch self {
            case .model: "ModelProto"
            case .graph: "GraphProto"
            case .node: "NodeProto"
            case .attribute: "AttributeProto"
            case .valueInfo: "ValueInfoProto"
            case .typeProto: "TypeProto"
            case .typeTensor: "TypeProto.Tensor"
            case .typeSequence: "TypeProto.Sequence"
            case .typeMap: "TypeProto.Map"
            case .typeOptional: "TypeProto.Optional"
            case .shape: "TensorShapeProto"
            case .tensor: "TensorProto"
            case .sparseTensor: "SparseTensorProto"
            case .tensorAnnotation: "TensorAnnotation"
            case .trainingInfo: "TrainingInfoProto"
            case .function: "FunctionProto"
            case .nodeDeviceConfiguration: "NodeDeviceConfigurationProto"
            case .shardingSpec: "ShardingSpecProto"
            case .shardedDim: "ShardedDimProto"
            case .leaf: "message"
            }
        }

        /// The message type of field `number`, or nil when the field is not a message.
        func child(_ number: UInt64) -> Message? {
            switch (self, number) {
            case (.model, 7): .graph
            case (.model, 8), (.model, 14), (.model, 26): .leaf
            case (.model, 20): .trainingInfo
            case (.model, 25): .function
            case (.graph, 1): .node
            case (.graph, 5): .tensor
            case (.graph, 15): .sparseTensor
            case (.graph, 11), (.graph, 12), (.graph, 13): .valueInfo
            case (.graph, 14): .tensorAnnotation
            case (.graph, 16): .leaf
            case (.node, 5): .attribute
            case (.node, 9): .leaf
            case (.node, 10): .nodeDeviceConfiguration
            case (.attribute, 5), (.attribute, 10): .tensor
            case (.attribute, 6), (.attribute, 11): .graph
            case (.attribute, 22), (.attribute, 23): .sparseTensor
            case (.attribute, 14), (.attribute, 15): .typeProto
            case (.valueInfo, 2): .typeProto
            case (.valueInfo, 4): .leaf
            case (.typeProto, 1), (.typeProto, 8): .typeTensor
            case (.typeProto, 4): .typeSequence
            case (.typeProto, 5): .typeMap
            case (.typeProto, 9): .typeOptional
            case (.typeProto, 7): .leaf
            case (.typeTensor, 2): .shape
            case (.typeSequence, 1), (.typeOptional, 1), (.typeMap, 2): .typeProto
            case (.shape, 1): .leaf
            case (.tensor, 3), (.tensor, 13), (.tensor, 16): .leaf
            case (.sparseTensor, 1), (.sparseTensor, 2): .tensor
            case (.tensorAnnotation, 2): .leaf
            case (.trainingInfo, 1), (.trainingInfo, 2): .graph
            case (.trainingInfo, 3), (.trainingInfo, 4): .leaf
            case (.function, 11): .attribute
            case (.function, 7): .node
            case (.function, 9), (.function, 14): .leaf
            case (.function, 12): .valueInfo
            case (.nodeDeviceConfiguration, 2): .shardingSpec
            case (.shardingSpec, 3): .leaf
            case (.shardingSpec, 4): .shardedDim
            case (.shardedDim, 2): .leaf
            default: nil
            }
        }
    }

    /// What the scan found.
    struct Summary {
        /// Whether the top-level message has a `graph` field.
        var hasGraph = false
        /// Byte ranges of large `raw_data` payloads, in file order, that can be handed to the IR
        /// without copying (see `WireSkeleton`).
        var largePayloads: [Range<Int>] = []
        /// Whether some TensorProto already uses `WireSkeleton.placeholderField` (then no payload
        /// may be extracted, to stay unambiguous).
        var placeholderCollision = false
    }

    struct Failure: Error {
        var code: ONNXError.Code
        var message: String
        var offset: Int
    }

    /// Scans `bytes` as a ModelProto. Throws on the first problem, naming the byte offset.
    static func scan(_ bytes: UnsafeRawBufferPointer, maxDepth: Int, extractAtLeast threshold: Int = .max)
        throws(Failure) -> Summary
    {
        var summary = Summary()
        // Explicit stack of (message type, end offset); no recursion, so no stack overflow.
        var stack: [(Message, Int)] = [(.model, bytes.count)]
        var at = 0
        let limit = Int(Int32.max)
        while let (message, end) = stack.last {
            if at == end {
                stack.removeLast()
                continue
            }
            let fieldStart = at
            let key = try readVarint(bytes, &at, end: end, what: "a field tag of \(message.name)")
            let number = key >> 3
            let wireType = key & 7
            guard number != 0, number <= 536_870_911 else {
                throw Failure(
                    code: .malformed, message: "invalid field number \(number) in \(message.name)", offset: fieldStart)
            }
            if wireType != 2, let child = message.child(number) {
                throw Failure(
                    code: .malformed,
                    message:
                        "field \(number) of \(message.name) should hold a \(child.name) but has wire type \(wireType)",
                    offset: fieldStart)
            }
            switch wireType {
            case 0:
                _ = try readVarint(bytes, &at, end: end, what: "field \(number) of \(message.name)")
            case 1, 5:
                let n = wireType == 1 ? 8 : 4
                guard end - at >= n else {
                    throw Failure(
                        code: .malformed,
                        message: "field \(number) of \(message.name) needs \(n) bytes but only \(end - at) remain",
                        offset: fieldStart)
                }
                at += n
            case 2:
                let length = try readVarint(
                    bytes, &at, end: end, what: "the length of field \(number) of \(message.name)")
                guard length <= UInt64(limit) else {
                    throw Failure(
                        code: .tooLarge,
                        message:
                            "field \(number) of \(message.name) declares \(length) bytes, over protobuf's 2 GiB limit; such a model must keep its weights in external data",
                        offset: fieldStart)
                }
                guard Int(length) <= end - at else {
                    throw Failure(
                        code: .malformed,
                        message:
                            "field \(number) of \(message.name) declares \(length) bytes but only \(end - at) remain (truncated or corrupt file)",
                        offset: fieldStart)
                }
                let childEnd = at + Int(length)
                if message == .model, number == 7 { summary.hasGraph = true }
                if message == .tensor, number == 9, Int(length) >= threshold {
                    summary.largePayloads.append(at..<childEnd)
                }
                if let child = message.child(number) {
                    let depth = stack.count  // the child's level
                    if depth > maxDepth {
                        throw Failure(
                            code: .tooDeep,
                            message:
                                "messages nest more than \(maxDepth) levels deep (\(child.name) inside \(message.name)); ONNX files from real exporters nest far less, and protobuf refuses such files too",
                            offset: fieldStart)
                    }
                    stack.append((child, childEnd))
                } else {
                    at = childEnd
                }
            case 3, 4:
                throw Failure(
                    code: .malformed,
                    message:
                        "field \(number) of \(message.name) uses protobuf groups (wire type \(wireType)), which ONNX never writes",
                    offset: fieldStart)
            default:
                throw Failure(
                    code: .malformed, message: "field \(number) of \(message.name) has invalid wire type \(wireType)",
                    offset: fieldStart)
            }
            if message == .tensor, number == WireSkeleton.placeholderField { summary.placeholderCollision = true }
        }
        return summary
    }

    @inline(__always)
    private static func readVarint(_ b: UnsafeRawBufferPointer, _ at: inout Int, end: Int, what: String) throws(Failure)
        -> UInt64
    {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        let start = at
        while true {
            guard at < end else {
                throw Failure(
                    code: .malformed, message: "\(what) is cut off (truncated or corrupt file)", offset: start)
            }
            let byte = b[at]
            at += 1
            if shift == 63 && byte > 1 {
                throw Failure(code: .malformed, message: "\(what) is a varint longer than 64 bits", offset: start)
            }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 {
                throw Failure(code: .malformed, message: "\(what) is a varint longer than 10 bytes", offset: start)
            }
        }
    }
}
