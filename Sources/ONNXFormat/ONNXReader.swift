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

    /// Smallest `raw_data` payload handed to the IR as a slice of the input instead of a copy.
    static let zeroCopyThreshold = 512

    /// Reads the model at `path`, loading external data from the model's folder.
    ///
    /// The file is memory-mapped; weights stay in the mapping (tensors hold zero-copy slices of it)
    /// and only the structure is parsed by protobuf-c, so reading costs little beyond the pages
    /// actually touched.
    public static func read(path: String) throws(ONNXError) -> ONNXReadResult {
        let input = try FileIO.map(path)
        return try decode(input, path: path, baseDirectory: FileIO.directory(of: path))
    }

    /// Reads a model from `bytes` (e.g. standard input). `path` names it in errors; external data,
    /// if any, is resolved against `baseDirectory` (nil: external data is an error).
    public static func decode(_ bytes: [UInt8], path: String, baseDirectory: String?) throws(ONNXError)
        -> ONNXReadResult
    {
        try decode(TensorBuffer(copying: bytes), path: path, baseDirectory: baseDirectory)
    }

    /// Reads a model from `input`. Large weights in the result are slices of `input`.
    public static func decode(_ input: TensorBuffer, path: String, baseDirectory: String?) throws(ONNXError)
        -> ONNXReadResult
    {
        guard input.count > 0 else {
            throw ONNXError(.notONNX, path: path, "the file is empty; an ONNX model holds at least a graph")
        }
        let scanned = input.withUnsafeBytes { p in
            Result { () throws(WireScan.Failure) in
                try WireScan.scan(p, maxDepth: maxNestingDepth, extractAtLeast: zeroCopyThreshold)
            }
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
        let payloads = summary.placeholderCollision ? [] : summary.largePayloads
        let parsed: UnsafeMutablePointer<Onnx__ModelProto>?
        if payloads.isEmpty {
            parsed = input.withUnsafeBytes { UnpackedModel.unpack($0) }
        } else {
            let skeleton = input.withUnsafeBytes { WireSkeleton.build($0, payloads: payloads) }
            parsed = skeleton.withUnsafeBytes { UnpackedModel.unpack($0) }
        }
        guard let parsed else {
            throw ONNXError(
                .notONNX, path: path,
                "protobuf-c could not decode the file as an ONNX ModelProto (a field has the wrong wire type or an invalid value)"
            )
        }
        let unpacked = UnpackedModel(owning: parsed)
        var decoder = ONNXDecoder(
            path: path, externalData: baseDirectory.map { ExternalDataReader(directory: $0) },
            payloads: payloads.map { TensorBuffer(slice: $0, of: input) })
        let model = try unpacked.withMessage { (m) throws(ONNXError) in try decoder.model(m) }
        return ONNXReadResult(
            model: model, diagnostics: decoder.diagnostics.items,
            externalFiles: decoder.externalData?.uses ?? [])
    }
}

/// Sole owner of one protobuf-c unpacked ModelProto; frees it exactly once.
struct UnpackedModel: ~Copyable {
    private let pointer: UnsafeMutablePointer<Onnx__ModelProto>

    /// protobuf-c's parse of `bytes`, or nil when it refuses them. Pair with `init(owning:)`.
    static func unpack(_ bytes: UnsafeRawBufferPointer) -> UnsafeMutablePointer<Onnx__ModelProto>? {
        onnx__model_proto__unpack(nil, bytes.count, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self))
    }

    init(owning pointer: UnsafeMutablePointer<Onnx__ModelProto>) { self.pointer = pointer }

    /// Calls `body` with the message; it stays allocated until `body` returns.
    borrowing func withMessage<R, E: Error>(_ body: (UnsafeMutablePointer<Onnx__ModelProto>) throws(E) -> R) throws(E)
        -> R
    {
        try body(pointer)
    }

    deinit { onnx__model_proto__free_unpacked(pointer, nil) }
}
