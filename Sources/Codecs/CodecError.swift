/// An error of a codec: coded data that is damaged or inconsistent, or arguments outside what a coder supports.
///
/// `description` is one line for a terminal: where, what, and what to do.
public struct CodecError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The caller asked for something the coder does not support (a width, a count, an alphabet size).
        case usage
        /// Coded data (a Huffman block, byte planes, a context-coded stream) is damaged or inconsistent.
        case corrupt
        /// The input does not fit what it claims (a packed buffer shorter than its count of codes).
        case invalidInput
        /// The data asks for something this version does not implement (a symbol width, a mode).
        case unsupported
    }

    public var code: Code
    public var message: String
    /// Where in the coded data, e.g. `huffman table` or `segment 3, stream 2`.
    public var location: String?

    public init(_ code: Code, _ message: String, at location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String { (location.map { "\($0): " } ?? "") + message }
}
