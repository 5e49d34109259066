/// A compression recipe: the pipeline, the default exclusions, and per-tensor overrides.
///
/// The command line builds one from `--passes`; a recipe file (JSON, read by the ModelPress library)
/// adds overrides: keep the first conv and the last classifier at 8 bits, skip embeddings, exclude a
/// tensor.
public struct Recipe: Hashable, Sendable {
    public var passes: [PassSpec]
    public var defaults: SelectionDefaults
    /// Applied in order; a later override's parameters win over an earlier one's.
    public var overrides: [TensorOverride]

    public init(passes: [PassSpec], defaults: SelectionDefaults = .init(), overrides: [TensorOverride] = []) {
        self.passes = passes
        self.defaults = defaults
        self.overrides = overrides
    }
}

/// Which tensors passes leave alone unless told otherwise.
public struct SelectionDefaults: Hashable, Sendable {
    /// Tensors with fewer elements are left as they are (their bytes are too few to matter).
    public var minElements = 1024
    public var skipBiases = true
    public var skipNormalization = true
    /// Process tensors that are already quantized (int8/uint8 weights of quantized models).
    public var requantize = false
    /// Leave alone float weights with more than this fraction of exact zeros: trained weights have
    /// almost none, so these are constructed kernels (filter banks, masks) or weights already pruned,
    /// which quantization would damage for little gain. nil: no limit.
    public var maxZeroFraction: Double? = nil
    public init() {}
}

/// Which tensors an override applies to. Every criterion given must hold.
public struct TensorMatch: Hashable, Sendable {
    /// Glob on the tensor name (`*` any run, `?` one character).
    public var name: String?
    /// Glob on a consumer's operator (ONNX op type, or Keras layer class), e.g. `Conv`, `Gemm`, `Embedding`.
    public var op: String?
    /// `first` or `last`: only the first (last) tensor, in model order, that the other criteria match.
    public var position: Position?

    public enum Position: String, Hashable, Sendable {
        case first
        case last
    }

    public init(name: String? = nil, op: String? = nil, position: Position? = nil) {
        self.name = name
        self.op = op
        self.position = position
    }

    func matchesIgnoringPosition(_ site: TensorSite) -> Bool {
        if let name, !Glob.matches(name, site.name) { return false }
        if let op,
            !site.consumers.contains(where: { Glob.matches(op, $0.opType) || Glob.matches(op, $0.qualifiedOpType) })
        {
            return false
        }
        return true
    }
}

/// What to do with the tensors a match selects.
public struct TensorOverride: Hashable, Sendable {
    public var match: TensorMatch
    /// Leave the tensor alone entirely.
    public var exclude = false
    /// Process it even if a default exclusion would skip it.
    public var include = false
    /// Passes not to run on it (by name).
    public var skip: [String] = []
    /// Parameter changes per pass name: `kmeans` -> `bits=8`.
    public var parameters: [String: [PassSpec.Argument]] = [:]

    public init(match: TensorMatch) { self.match = match }
}

/// Shell-style globs: `*` matches any run, `?` one character; everything else literally.
enum Glob {
    static func matches(_ pattern: String, _ text: String) -> Bool {
        let p = Array(pattern.unicodeScalars)
        let t = Array(text.unicodeScalars)
        var pi = 0
        var ti = 0
        var star = -1
        var mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1
                ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi
                mark = ti
                pi += 1
            } else if star >= 0 {
                pi = star + 1
                mark += 1
                ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
