internal import CONNXProto
import FileSystem
import ModelIR

/// Options for `ONNXWriter`.
public struct ONNXWriteOptions: Sendable {
    /// Where tensor bytes go.
    public enum ExternalData: Sendable, Equatable {
        /// Tensors that were external in the source stay external; everything else is inline, unless
        /// the file would pass protobuf's 2 GiB limit, in which case every tensor of at least
        /// `threshold` bytes moves to the side file.
        case automatic
        /// Every tensor of at least `threshold` bytes goes to the side file.
        case always
    }
    public var externalData: ExternalData
    /// Smallest tensor (bytes) moved to the side file when tensors are moved by size.
    public var externalThreshold: Int
    /// Files the write must never replace (the inputs, their external data).
    public var protectedPaths: [String]
    /// Largest main file allowed before tensors move to external data. protobuf's limit; lowered
    /// only by tests, which cannot afford 2 GiB models.
    public var messageLimit = ONNXWriter.maxMessageBytes

    public init(externalData: ExternalData = .automatic, externalThreshold: Int = 1024, protectedPaths: [String] = []) {
        self.externalData = externalData
        self.externalThreshold = externalThreshold
        self.protectedPaths = protectedPaths
    }
}

/// What a write produced.
public struct ONNXWriteResult: Sendable {
    public var bytes: Int
    /// The side file written, if any tensor went external, and its size.
    public var externalDataPath: String?
    public var externalDataBytes: Int
}

/// Writes the IR as an ONNX file through protobuf-c.
///
/// Output goes to a temporary file renamed into place (with its side file, if any): a failed write
/// leaves nothing behind, and an existing file at the destination is only replaced by a complete one.
public enum ONNXWriter {
    /// protobuf-c packs lengths as 32-bit values and refuses to read lengths above this.
    public static let maxMessageBytes = Int(Int32.max)

    public static func write(_ model: Model, to path: String, options: ONNXWriteOptions = .init()) throws(ONNXError)
        -> ONNXWriteResult
    {
        let sideName = FileIO.fileName(of: path) + ".data"
        let sidePath = FileIO.directory(of: path) + "/" + sideName
        for target in [path, sidePath] {
            if Files.isSameFile(target, asAnyOf: options.protectedPaths) {
                throw ONNXError(
                    .io, path: target, "is an input of this run; refusing to overwrite it (choose another output name)")
            }
        }

        let threshold = options.externalThreshold
        var bySize = options.externalData == .always
        while true {
            let arena = CArena()
            var encoder = ONNXEncoder(arena: arena, path: path, externalLocation: sideName) { t in
                if bySize, case .dense(let b) = t.storage, b.count >= threshold { return true }
                return t.layout.dataField == .external
            }
            let message = try encoder.model(model)
            let size = onnx__model_proto__get_packed_size(message)
            if size > options.messageLimit {
                if !bySize {
                    bySize = true  // too big for protobuf: move weights out and try again
                    continue
                }
                throw ONNXError(
                    .tooLarge, path: path,
                    "the model's graph needs \(size) bytes even with every tensor of \(threshold)+ bytes in external data, over the \(options.messageLimit)-byte protobuf limit"
                )
            }
            var sideBytes = 0
            var side: AtomicFile?
            if !encoder.externalTensors.isEmpty {
                var file = try FileIO.create(sidePath)
                // A failed write stays in `file.failure`, and later writes are skipped.
                for (buffer, offset) in encoder.externalTensors {
                    try? file.writeZeros(offset - file.bytesWritten)
                    buffer.withUnsafeBytes { try? file.write($0) }
                }
                if let failure = file.failure { throw ONNXError(failure) }
                sideBytes = file.bytesWritten
                side = consume file
            }
            var main = try FileIO.create(path)
            // `message` points into `arena` (and, through it, into the tensors' buffers).
            withExtendedLifetime(arena) { pack(message, into: &main) }
            if let failure = main.failure { throw ONNXError(failure) }
            guard main.bytesWritten == size else {
                throw ONNXError(
                    .io, path: path, "protobuf-c wrote \(main.bytesWritten) bytes where \(size) were expected")
            }
            // The side file first: a model never names tensors in a side file that is not in place; if the
            // model then cannot be put in place, the side file is put back as it was.
            if let side = side.take() {
                try FileIO.commit(side, then: main)
            } else {
                try FileIO.commit(main)
            }
            return ONNXWriteResult(
                bytes: size, externalDataPath: encoder.externalTensors.isEmpty ? nil : sidePath,
                externalDataBytes: sideBytes)
        }
    }

    /// Serializes `model` to bytes in memory (for standard output and tests). All tensors inline.
    public static func serialize(_ model: Model) throws(ONNXError) -> [UInt8] {
        let arena = CArena()
        var encoder = ONNXEncoder(arena: arena, path: "<memory>", externalLocation: "") { _ in false }
        let message = try encoder.model(model)
        let size = onnx__model_proto__get_packed_size(message)
        guard size <= maxMessageBytes else {
            throw ONNXError(.tooLarge, path: "<memory>", "the model needs \(size) bytes, over protobuf's 2 GiB limit")
        }
        var out = [UInt8](repeating: 0, count: size)
        let n = withExtendedLifetime(arena) {
            out.withUnsafeMutableBufferPointer { onnx__model_proto__pack(message, $0.baseAddress) }
        }
        return Array(out.prefix(n))
    }

    /// Streams the packed message into `file` through protobuf-c's buffer callback: no second copy. A write
    /// failure stays in `file.failure` (the callback cannot throw); later writes are skipped.
    private static func pack(_ message: UnsafeMutablePointer<Onnx__ModelProto>, into file: inout AtomicFile) {
        var buffer = MPContextBuffer()
        buffer.base.append = { base, len, data in
            guard let base, len > 0 else { return }
            let context = UnsafeMutableRawPointer(base).assumingMemoryBound(to: MPContextBuffer.self).pointee.context
            guard let file = context?.assumingMemoryBound(to: AtomicFile.self) else { return }
            try? file.pointee.write(UnsafeRawBufferPointer(start: data, count: len))
        }
        withUnsafeMutablePointer(to: &file) { f in
            buffer.context = UnsafeMutableRawPointer(f)
            withUnsafeMutablePointer(to: &buffer) { b in
                b.withMemoryRebound(to: ProtobufCBuffer.self, capacity: 1) { base in
                    _ = onnx__model_proto__pack_to_buffer(message, base)
                }
            }
        }
    }
}
