import ModelIR

/// What kind of constant a tensor is, as far as the default exclusions care.
public enum WeightRole: String, Hashable, Sendable, Codable {
    /// A weight matrix or kernel: what passes are for.
    case weight
    /// A bias vector.
    case bias
    /// Scale, shift, mean or variance of a normalization layer.
    case normalization
    /// Already quantized (int8/uint8 weights, inputs of DequantizeLinear or quantized operators).
    case quantized
    /// Integer data: shapes, indices, axes, lookup tables.
    case integer
    /// Keras optimizer state, or datasets that are no model weights.
    case notAWeight = "not-a-weight"
}

/// One operator input a tensor feeds.
public struct TensorConsumer: Hashable, Sendable {
    /// `ai.onnx`, `com.microsoft`, `keras`, ...
    public var domain: String
    /// The operator, or for Keras the layer class.
    public var opType: String
    public var nodeName: String?
    /// Which input of the node the tensor is.
    public var inputIndex: Int
    /// Gemm's `transB`.
    public var transB: Bool
    /// Conv's `group` (1 when absent).
    public var group: Int
    /// Keras: the weight's short name (`kernel`, `bias`, `depthwise_kernel`, ...).
    public var weightName: String?

    public init(
        domain: String, opType: String, nodeName: String?, inputIndex: Int, transB: Bool = false, group: Int = 1,
        weightName: String? = nil
    ) {
        self.domain = domain
        self.opType = opType
        self.nodeName = nodeName
        self.inputIndex = inputIndex
        self.transB = transB
        self.group = group
        self.weightName = weightName
    }

    /// `Conv`, or `keras::Dense`.
    public var qualifiedOpType: String { domain == "ai.onnx" ? opType : domain + "::" + opType }
}

/// A tensor of the model as the pass manager sees it: where it is, what consumes it, which axis holds
/// its output channels.
public struct TensorSite: Hashable, Sendable {
    /// Position in the model's deterministic tensor order (`Model.forEachTensor`).
    public var index: Int
    public var name: String
    public var location: TensorLocation
    public var dtype: DType
    public var dims: [Int]
    public var consumers: [TensorConsumer]
    /// The output-channel axis (non-negative), when the consumers agree on one.
    public var channelAxis: Int?
    /// The input (reduction) axis, for per-block quantization.
    public var inputAxis: Int?
    public var role: WeightRole
    /// Why the axis is what it is, for the report: `Conv weight`, `Gemm transB=1`, `no known consumer`.
    public var axisReason: String

    /// Number of elements.
    public var count: Int { dims.reduce(1, *) }
}

/// What one pass did to one tensor.
public struct PassStep: Hashable, Sendable, Codable {
    /// The pass as written in the pipeline, e.g. `kmeans(bits=4)`.
    public var pass: String
    /// What it did: `4-bit k-means, 16 centroids, 7 iterations`.
    public var detail: String
    public init(pass: String, detail: String) {
        self.pass = pass
        self.detail = detail
    }
}

/// A tensor being compressed: its original values, its current values, and its current encoding.
public struct WorkingTensor: Sendable {
    public let site: TensorSite
    /// The values as read (converted to Float), for error metrics.
    public let original: [Float]
    /// The values the current encoding decodes to.
    public var values: [Float]
    /// The current encoding; nil while the values are plain floats of the tensor's type.
    public var storage: TensorStorage?
    /// Bits per element of the current encoding, without entropy coding.
    public var bitsPerElement: Double
    /// Bytes the current encoding takes (codes plus scales, zero points or codebooks), without entropy coding.
    public var encodedBytes: Int
    /// Short description of the current encoding: `float32`, `linear int8 per-axis(0)`, `kmeans 4-bit`.
    public var encoding: String
    /// Order-0 entropy of the encoding's symbols in bits per element, when it has symbols.
    public var entropyBitsPerElement: Double?
    /// Bytes after entropy coding (the coded symbols plus the parameters), once `huffman` ran.
    public var codedBytes: Int?
    public var steps: [PassStep]
    public var diagnostics: [Diagnostic]

    public init(site: TensorSite, values: [Float]) {
        self.site = site
        self.original = values
        self.values = values
        self.storage = nil
        let bits = Double(site.dtype.bitWidth ?? 32)
        self.bitsPerElement = bits
        self.encodedBytes = site.dtype.byteCount(elements: values.count) ?? values.count * 4
        self.encoding = site.dtype.name
        self.entropyBitsPerElement = nil
        self.codedBytes = nil
        self.steps = []
        self.diagnostics = []
    }

    /// A location prefix for errors: `tensor 'conv1.weight'`.
    public var label: String { "tensor '\(site.name)'" }

    /// Records a note for the report.
    public mutating func note(_ message: String) {
        diagnostics.append(Diagnostic(.note, message, at: site.name))
    }

    /// Records a warning for the report.
    public mutating func warn(_ message: String) {
        diagnostics.append(Diagnostic(.warning, message, at: site.name))
    }

    /// The output-channel axis, or an error naming the tensor when there is none.
    public func requireChannelAxis(for pass: String) throws(CompressionError) -> Int {
        guard let a = site.channelAxis else {
            throw CompressionError(
                .usage,
                "\(pass) needs an output-channel axis, but \(site.axisReason); use granularity=tensor for it "
                    + "(a recipe override can do that for this tensor alone)",
                at: label)
        }
        return a
    }
}
