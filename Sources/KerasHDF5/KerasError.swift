import FileSystem

/// An error reading or writing a Keras model file: what went wrong, in which file, and where in it.
///
/// `description` is one line meant for a terminal: file, problem, and what to do.
public struct KerasError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The file could not be opened, read or written.
        case io
        /// The bytes are not an HDF5 file (or not a `.keras` zip).
        case notHDF5
        /// The file is HDF5 but not a Keras model or weights file.
        case notKeras
        /// libhdf5 reported the file as damaged (truncated, corrupted metadata).
        case malformed
        /// A size read from the file is impossible for a file of this size.
        case tooLarge
        /// The model config and the stored weights disagree (missing weights, wrong shapes).
        case inconsistent
        /// The file or the model uses something this version cannot represent.
        case unsupported
    }

    public var code: Code
    /// The file concerned.
    public var path: String
    public var message: String
    /// Where in the file: an HDF5 object path, layer or weight name.
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
