import ModelIR

/// A compression step over the model's tensors.
///
/// Most passes work on one tensor at a time (`run`), and the pass manager runs them over tensors in
/// parallel. A pass that needs every tensor at once (global pruning: one threshold for the model)
/// sets `isGlobal` and implements `runGlobal`.
public protocol Pass: Sendable {
    /// The pass as the pipeline spells it, with its parameters: `kmeans(bits=4)`.
    var description: String { get }
    /// Where in a pipeline the pass belongs.
    var stage: PassStage { get }
    /// True when the pass needs every tensor at once.
    var isGlobal: Bool { get }
    /// Compresses one tensor.
    func run(_ tensor: inout WorkingTensor) throws(CompressionError)
    /// Compresses every tensor together.
    func runGlobal(_ tensors: inout [WorkingTensor]) throws(CompressionError)
}

/// Pipelines run value transforms (pruning, clipping), then at most one encoding (quantization or a
/// narrower float type), then entropy coding; the pass manager refuses other orders.
public enum PassStage: Int, Comparable, Sendable {
    /// Changes values, keeps them plain floats: prune, clip.
    case transform
    /// Chooses how values are stored: linear, kmeans, fp16, bf16, binary, ternary, auto.
    case encode
    /// Codes the stored symbols: huffman.
    case entropy
    public static func < (a: PassStage, b: PassStage) -> Bool { a.rawValue < b.rawValue }
}

extension Pass {
    public var isGlobal: Bool { false }
    public func runGlobal(_ tensors: inout [WorkingTensor]) throws(CompressionError) {
        for i in tensors.indices { try run(&tensors[i]) }
    }
}

/// One parameter a pass accepts.
public struct ParameterDefinition: Sendable {
    public var name: String
    /// Shown in usage errors and `--help`: `2..8`, `tensor|channel|block`.
    public var values: String
    /// The default, as text; nil when the parameter is optional with no default.
    public var defaultValue: String?
    public var summary: String
    public init(_ name: String, _ values: String, default defaultValue: String?, _ summary: String) {
        self.name = name
        self.values = values
        self.defaultValue = defaultValue
        self.summary = summary
    }
}

/// A pass the pipeline can name, with its parameters and a factory.
public struct PassDefinition: Sendable {
    public var name: String
    public var summary: String
    public var parameters: [ParameterDefinition]
    public var make: @Sendable (PassArguments) throws(CompressionError) -> any Pass

    public init(
        name: String, summary: String, parameters: [ParameterDefinition],
        make: @escaping @Sendable (PassArguments) throws(CompressionError) -> any Pass
    ) {
        self.name = name
        self.summary = summary
        self.parameters = parameters
        self.make = make
    }
}

/// The arguments given to one pass, checked against its definition.
public struct PassArguments: Sendable {
    public let pass: String
    /// Name -> value text, after defaults were applied.
    public private(set) var values: [String: String]
    /// The names given explicitly, in order.
    public let given: [String]

    /// Checks `arguments` against `definition`: every name must be a known parameter.
    public init(definition: PassDefinition, arguments: [(String, String)]) throws(CompressionError) {
        pass = definition.name
        var v: [String: String] = [:]
        for p in definition.parameters { if let d = p.defaultValue { v[p.name] = d } }
        var given: [String] = []
        for (k, value) in arguments {
            guard definition.parameters.contains(where: { $0.name == k }) else {
                let valid = definition.parameters.map { "\($0.name)=\($0.values)" }.joined(separator: ", ")
                throw CompressionError(
                    .usage,
                    "unknown parameter '\(k)'; \(definition.name) accepts "
                        + (valid.isEmpty ? "no parameters" : valid),
                    at: "pass '\(definition.name)'")
            }
            v[k] = value
            given.append(k)
        }
        values = v
        self.given = given
    }

    public func has(_ name: String) -> Bool { values[name] != nil }

    public func string(_ name: String) -> String? { values[name] }

    public func choice(_ name: String, _ options: [String]) throws(CompressionError) -> String? {
        guard let s = values[name] else { return nil }
        guard options.contains(s) else {
            throw CompressionError(
                .usage, "\(name)=\(s) is not valid; use one of \(options.joined(separator: ", "))", at: "pass '\(pass)'"
            )
        }
        return s
    }

    public func int(_ name: String, in range: ClosedRange<Int>) throws(CompressionError) -> Int? {
        guard let s = values[name] else { return nil }
        guard let n = Int(s), range.contains(n) else {
            throw CompressionError(
                .usage, "\(name)=\(s) is not valid; use an integer in \(range.lowerBound)...\(range.upperBound)",
                at: "pass '\(pass)'")
        }
        return n
    }

    public func double(_ name: String, in range: ClosedRange<Double>) throws(CompressionError) -> Double? {
        guard let s = values[name] else { return nil }
        var text = Substring(s)
        var scale = 1.0
        if text.hasSuffix("%") {
            text = text.dropLast()
            scale = 0.01
        }
        guard let d = Double(text).map({ $0 * scale }), d.isFinite, range.contains(d) else {
            throw CompressionError(
                .usage, "\(name)=\(s) is not valid; use a number in \(range.lowerBound)...\(range.upperBound)",
                at: "pass '\(pass)'")
        }
        return d
    }

    public func bool(_ name: String) throws(CompressionError) -> Bool? {
        guard let s = values[name] else { return nil }
        switch s.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default:
            throw CompressionError(.usage, "\(name)=\(s) is not valid; use true or false", at: "pass '\(pass)'")
        }
    }

    /// The pipeline spelling: `name(k=v,...)` with the explicitly given parameters.
    public var text: String {
        given.isEmpty ? pass : pass + "(" + given.map { "\($0)=\(values[$0] ?? "")" }.joined(separator: ",") + ")"
    }
}
