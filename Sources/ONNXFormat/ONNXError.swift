import FileSystem

/// An error reading or writing an ONNX file: what went wrong, in which file, and where in it.
///
/// `description` is one line meant for a terminal: file, problem, and what to do.
public struct ONNXError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The file could not be opened, read or written.
        case io
        /// The bytes are not an ONNX model (empty, random, another format).
        case notONNX
        /// The protobuf wire format is broken (truncated, bad lengths, bad tags).
        case malformed
        /// Messages nest deeper than `ONNXReader.maxNestingDepth`.
        case tooDeep
        /// A size limit of the format was hit (2 GiB protobuf messages).
        case tooLarge
        /// An external-data reference is missing, escapes the model's folder, or is too short.
        case externalData
        /// A tensor's declared type and shape disagree with its data.
        case invalidTensor
        /// The model uses something this writer cannot represent.
        case unsupported
    }

    public var code: Code
    /// The file concerned.
    public var path: String
    public var message: String
    /// Where in the file: a tensor, node or byte offset.
    public var location: String?
    /// The file-system failure behind an `.io` error (its `errno`, path and operation).
    public var cause: FileSystemError?

    public init(
        _ code: Code, path: String, _ message: String, at location: String? = nil, cause: FileSystemError? = nil
    ) {
        self.code = code
        self.path = path
        self.message = message
        self.location = location
        self.cause = cause
    }

    public var description: String {
        path + ": " + (location.map { "\($0): " } ?? "") + message
    }
}
