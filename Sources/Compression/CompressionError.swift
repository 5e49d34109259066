import Codecs

/// An error of a compression pass or of the pipeline that runs them.
///
/// `description` is one line for a terminal: where, what, and what to do.
public struct CompressionError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        /// The pipeline text, a recipe or a pass parameter is wrong (an unknown pass, a bad value).
        case usage
        /// A tensor cannot be processed as asked: NaN or Inf in a weight, a bad axis, a size mismatch.
        case invalidTensor
        /// The model or tensor uses something a pass cannot handle yet.
        case unsupported
        /// Coded data (a Huffman block, a context-coded stream) is damaged or inconsistent.
        case corrupt
    }

    public var code: Code
    public var message: String
    /// The tensor or pass concerned, e.g. `tensor 'conv1.weight'` or `pass 'kmeans'`.
    public var location: String?

    public init(_ code: Code, _ message: String, at location: String? = nil) {
        self.code = code
        self.message = message
        self.location = location
    }

    public var description: String { (location.map { "\($0): " } ?? "") + message }
}

extension CompressionError {
    /// This error with `location` filled in when it had none.
    public func located(_ where: String) -> CompressionError {
        var e = self
        if e.location == nil { e.location = `where` }
        return e
    }

    /// A codec's error as a compression error: damaged coded data stays `.corrupt`, a buffer that does not fit
    /// its tensor is `.invalidTensor`.
    public init(_ e: CodecError) {
        let code: Code =
            switch e.code {
            case .usage: .usage
            case .corrupt: .corrupt
            case .invalidInput: .invalidTensor
            case .unsupported: .unsupported
            }
        self.init(code, e.message, at: e.location)
    }
}

/// Runs a codec call, its error turned into a `CompressionError`.
@inline(__always)
func codec<T>(_ body: () throws(CodecError) -> T) throws(CompressionError) -> T {
    do {
        return try body()
    } catch {
        throw CompressionError(error)
    }
}
