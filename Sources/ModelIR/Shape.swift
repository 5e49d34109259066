/// One dimension of a declared (value-info) shape: a number, a symbolic name, or unknown.
public struct Dimension: Hashable, Sendable {
    public enum Value: Hashable, Sendable {
        case fixed(Int64)
        case symbolic(String)
    }
    /// nil when the file leaves the dimension unknown.
    public var value: Value?
    /// Optional semantic label (ONNX "denotation", e.g. `DATA_BATCH`).
    public var denotation: String?
    public var unknownFields: UnknownFields

    public init(_ value: Value?, denotation: String? = nil, unknownFields: UnknownFields = .init()) {
        self.value = value
        self.denotation = denotation
        self.unknownFields = unknownFields
    }

    /// `3`, `batch` or `?`.
    public var text: String {
        switch value {
        case .fixed(let n): String(n)
        case .symbolic(let s): s.isEmpty ? "?" : s
        case nil: "?"
        }
    }
}

/// A declared shape with possibly symbolic dimensions; see `Tensor.dims` for concrete tensor shapes.
public struct Shape: Hashable, Sendable {
    public var dims: [Dimension]
    public var unknownFields: UnknownFields

    public init(_ dims: [Dimension], unknownFields: UnknownFields = .init()) {
        self.dims = dims
        self.unknownFields = unknownFields
    }

    /// `[batch, 3, 224, 224]`.
    public var text: String { "[" + dims.map(\.text).joined(separator: ", ") + "]" }
}

/// Element count of a concrete shape, or nil when a dimension is negative or the product overflows `Int`.
///
/// An empty shape is a scalar (one element).
public func elementCount(of dims: [Int64]) -> Int? {
    var count = 1
    for d in dims {
        guard d >= 0, let di = Int(exactly: d) else { return nil }
        let (p, overflow) = count.multipliedReportingOverflow(by: di)
        guard !overflow else { return nil }
        count = p
    }
    return count
}
