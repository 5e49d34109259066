/// A problem found by `Tensor.validate()`.
public struct TensorValidationError: Error, Hashable, Sendable, CustomStringConvertible {
    public var tensor: String
    public var message: String
    public var description: String { "tensor '\(tensor)' " + message }
}

extension Tensor {
    /// Checks that the storage holds exactly what the dtype and dims declare.
    ///
    /// Throws with a message such as "declares 12x34 float32 (1632 bytes) but holds 1600 bytes".
    public func validate() throws(TensorValidationError) {
        let label = name ?? "?"
        guard let n = elementCount else {
            throw TensorValidationError(
                tensor: label, message: "has dims \(dims) whose product is negative or overflows; the file is corrupt")
        }
        switch storage {
        case .dense(let buffer):
            guard let expected = dtype.byteCount(elements: n) else {
                throw TensorValidationError(
                    tensor: label, message: "has element type \(dtype.name), which cannot be stored as dense bytes")
            }
            guard buffer.count == expected else {
                throw TensorValidationError(
                    tensor: label,
                    message:
                        "declares \(dimsText) \(dtype.name) (\(expected) bytes) but holds \(buffer.count) bytes; the file is corrupt or truncated"
                )
            }
        case .strings(let s):
            guard s.count == n else {
                throw TensorValidationError(
                    tensor: label, message: "declares \(dimsText) (\(n) strings) but holds \(s.count) strings")
            }
        default:
            break
        }
    }
}
