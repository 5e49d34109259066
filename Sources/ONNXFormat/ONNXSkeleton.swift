internal import CONNXProto
import ModelIR

/// A model's structure as an ONNX `ModelProto` with the data of chosen tensors left out: the graph
/// section of a `.mpz` file (schemas/mpz.md, "Graph section").
///
/// Every field of every message is kept, so a model decoded from its skeleton, with the left-out
/// tensors' storage put back, is the model that was serialized. Tensors are numbered by their
/// position in `Model.forEachTensor` order (initializers, node attributes, sparse parts, subgraphs,
/// functions, training graphs); the container refers to them by that ordinal.
public enum ONNXSkeleton {
    /// The field number of the marker a detached tensor carries in its `TensorProto` (the largest
    /// field number protobuf allows, minus one; the other is `WireSkeleton`'s, used only in memory).
    public static let detachedField: UInt32 = 536_870_910

    /// How the source file held a detached tensor's data, so a writer can put it back the same way.
    /// The marker's varint payload: 0 none, 1 raw_data, 2 typed fields, 3 external.
    typealias DetachedField = TensorLayout.DataField

    /// Serializes `model` leaving out the elements of the tensors whose ordinal is in `detached`.
    ///
    /// A detached tensor keeps its name, type, dims, doc string, metadata, segment, data location and
    /// external-data entries; its elements are replaced by the marker field. String tensors cannot be
    /// detached. O(model structure + kept tensor bytes).
    public static func serialize(_ model: Model, detached: Set<Int>) throws(ONNXError) -> [UInt8] {
        var m = model
        var ordinal = 0
        do {
            try m.forEachTensor { _, t in
                defer { ordinal += 1 }
                guard detached.contains(ordinal) else { return }
                guard t.dtype != .string else {
                    throw ONNXError(
                        .unsupported, path: "<skeleton>", "a string tensor cannot be detached",
                        at: "tensor '\(t.name ?? "?")'")
                }
                let code: UInt8 =
                    switch t.layout.dataField {
                    case .none: 0
                    case .raw: 1
                    case .typed: 2
                    case .external: 3
                    }
                t.storage = .dense(TensorBuffer(copying: []))
                t.layout.dataField = .none
                t.unknownFields.fields.append(.init(number: detachedField, wireType: 0, payload: [code]))
            }
        } catch let e as ONNXError {
            throw e
        } catch {
            throw ONNXError(.unsupported, path: "<skeleton>", "\(error)")
        }
        return try ONNXWriter.serialize(m)
    }

    /// Decodes a skeleton made by `serialize`. Detached tensors come back with empty dense storage, their
    /// original `layout.dataField`, and the marker still in their unknown fields: the caller removes it
    /// with `takeMarker` and attaches their elements by ordinal. `name` labels errors.
    public static func decode(_ bytes: [UInt8], name: String) throws(ONNXError) -> Model {
        guard !bytes.isEmpty else {
            throw ONNXError(.notONNX, path: name, "the graph is empty; the file is damaged")
        }
        guard let parsed = bytes.withUnsafeBytes({ UnpackedModel.unpack($0) }) else {
            throw ONNXError(
                .notONNX, path: name, "the graph is not a valid ONNX ModelProto; the file is damaged")
        }
        let unpacked = UnpackedModel(owning: parsed)
        var decoder = ONNXDecoder(path: name, externalData: nil, skeleton: true)
        return try unpacked.withMessage { (m) throws(ONNXError) in try decoder.model(m) }
    }
}

extension ONNXSkeleton {
    /// Removes the detached marker from `t`; true when it had one (its elements are in a chunk).
    public static func takeMarker(_ t: inout Tensor) -> Bool {
        guard let i = t.unknownFields.fields.firstIndex(where: { $0.number == detachedField }) else { return false }
        t.unknownFields.fields.remove(at: i)
        return true
    }
}

extension TensorLayout.DataField {
    /// The detached marker's payload (one varint byte).
    init?(_ payload: [UInt8]) {
        guard payload.count == 1 else { return nil }
        switch payload[0] {
        case 0: self = .none
        case 1: self = .raw
        case 2: self = .typed
        case 3: self = .external
        default: return nil
        }
    }
}
