/// An error of the ModelPress library: one line for the user, a code for scripts, and the error it wraps.
///
/// The wrapped error (`cause`) is kept whole, not only its text: an `ONNXError`, `KerasError`, `MPZError` or
/// `CompressionError` keeps its own code and the place in the file where it happened, for callers that want
/// more than the line (as swift-nio's `FileSystemError` keeps its cause).
public struct ModelPressError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The command line or options were wrong.
        case usage
        /// An input could not be read or is not a valid model.
        case input
        /// The output could not be written.
        case output
        /// The model uses something not supported yet.
        case unsupported
    }
    public var code: Code
    /// One line: where, what, and what to do.
    public var message: String
    /// The error this one wraps, when it came from a lower layer.
    public var cause: (any Error & Sendable)?

    public init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { message }
}
