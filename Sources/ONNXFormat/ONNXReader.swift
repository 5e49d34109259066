internal import CONNXProto
import ModelIR

/// What reading an ONNX file produced.
public struct ONNXReadResult: Sendable {
    public var model: Model
    /// Things the user should know that did not stop the read.
    public var diagnostics: [Diagnostic]
    /// External-data files the model referenced, with the bytes read from each.
    public var externalFiles: [ExternalFileUse]
}

/// One external-data file a model uses.
public struct ExternalFileUse: Hashable, Sendable {
    /// The location as written in the model (relative to its folder).
    public var location: String
    public var tensorCount: Int
    public var bytes: Int
}

/// Reads ONNX files into the IR, losing nothing: every field of every message, unknown fields
/// included, comes back out of `ONNXWriter` as it went in.
public enum ONNXReader {
    /// Deepest message nesting accepted (the model is level 0). protobuf's own default recursion
    /// limit, which `onnx.load` applies, is the same; real exporters stay far below it.
    public static let maxNestingDepth = 100

    /// Reads the model at `path`, loading external data from the model's folder.
    public static func read(path: String) throws(ONNXError) -> ONNXReadResult {
        var bytes = try FileIO.readAll(path)
        return try decode(&bytes, path: path, baseDirectory: FileIO.directory(of: path))
    }

    /// Reads a model from `bytes` (e.g. standard input). `path` names it in errors; external data,
    /// if any, is resolved against `baseDirectory` (nil: external data is an error).
    ///
    /// `bytes` is emptied, so the input's memory is released as soon as protobuf-c has parsed it.
    public static func decode(_ bytes: inout [UInt8], path: String, baseDirectory: String?) throws(ONNXError)
        -> ONNXReadResult
    {
        guard !bytes.isEmpty else {
            throw ONNXError(.notONNX, path: path, "the file is empty; an ONNX model holds at least a graph")
        }
        let scanned = bytes.withUnsafeBytes { p in
            Result { () throws(WireScan.Failure) in try WireScan.scan(p, maxDepth: maxNestingDepth) }
        }
        let summary: WireScan.Summary
        switch scanned {
        case .success(let s): summary = s
        case .failure(let error):
            let code: ONNXError.Code = error.code == .malformed ? .notONNX : error.code
            let what = error.code == .malformed ? "not a valid ONNX file: " : ""
            throw ONNXError(code, path: path, what + error.message, at: "byte \(error.offset)")
        }
        guard summary.hasGraph else {
            throw ONNXError(
                .notONNX, path: path,
                "not an ONNX model: it has no graph (ModelProto field 7); check that this is an .onnx file")
        }
        let unpacked = try UnpackedModel(bytes: bytes, path: path)
        bytes = []  // protobuf-c copied what it needs
        var decoder = ONNXDecoder(path: path, externalData: baseDirectory.map { ExternalDataReader(directory: $0) })
        let model = try decoder.model(unpacked.pointer)
        return ONNXReadResult(
            model: model, diagnostics: decoder.diagnostics.items,
            externalFiles: decoder.externalData?.uses ?? [])
    }
}

/// Sole owner of one protobuf-c unpacked ModelProto; frees it exactly once.
struct UnpackedModel: ~Copyable {
    let pointer: UnsafeMutablePointer<Onnx__ModelProto>

    init(bytes: [UInt8], path: String) throws(ONNXError) {
        let p = bytes.withUnsafeBufferPointer { onnx__model_proto__unpack(nil, $0.count, $0.baseAddress) }
        guard let p else {
            throw ONNXError(
                .notONNX, path: path,
                "protobuf-c could not decode the file as an ONNX ModelProto (a field has the wrong wire type or an invalid value)"
            )
        }
        pointer = p
    }

    deinit { onnx__model_proto__free_unpacked(pointer, nil) }
}
