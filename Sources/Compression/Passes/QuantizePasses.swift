import Codecs
import ModelIR

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `linear(bits=8, scheme=symmetric, granularity=channel, block=32, range=minmax)`.
struct LinearPass: Pass {
    let description: String
    let stage = PassStage.encode
    let options: LinearQuantizer.Options
    let granularity: String
    let block: Int

    static let definition = PassDefinition(
        name: "linear", summary: "Linear (affine) quantization: integer codes with scales and zero points.",
        parameters: [
            .init("bits", "2..8", default: "8", "bits per code"),
            .init("scheme", "symmetric|asymmetric", default: "symmetric", "zero point fixed at 0, or fitted"),
            .init(
                "granularity", "channel|tensor|block", default: "channel",
                "one scale per output channel, per tensor, or per block"),
            .init("block", "1..65536", default: "32", "block length along the input axis (granularity=block)"),
            .init("range", "minmax|mse", default: "minmax", "clipping range: min/max, or the one minimizing MSE"),
        ],
        make: { a throws(CompressionError) in
            let bits = try a.int("bits", in: 2...8) ?? 8
            let scheme = try a.choice("scheme", ["symmetric", "asymmetric"]) ?? "symmetric"
            let g = try a.choice("granularity", ["channel", "tensor", "block"]) ?? "channel"
            let block = try a.int("block", in: 1...65536) ?? 32
            let range = try a.choice("range", ["minmax", "mse"]) ?? "minmax"
            return LinearPass(
                description: a.text,
                options: .init(
                    bits: bits, symmetric: scheme == "symmetric", granularity: .perTensor,
                    range: range == "mse" ? .mse : .minMax),
                granularity: g, block: block)
        })

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        var o = options
        o.granularity = EncodingBook.granularity(granularity, block: block, groupSize: 1, for: &t, pass: description)
        let q = try LinearQuantizer.quantize(t.values, dims: t.site.dims, options: o)
        try EncodingBook.apply(q, to: &t, pass: description)
    }
}

/// `kmeans(bits=4, granularity=tensor, group=1, init=linear, seed=0, iterations=300)`.
struct KMeansPass: Pass {
    let description: String
    let stage = PassStage.encode
    let options: KMeansQuantizer.Options
    let granularity: String
    let group: Int

    static let definition = PassDefinition(
        name: "kmeans", summary: "Weight sharing by 1-D k-means (Deep Compression): 2^bits shared values.",
        parameters: [
            .init("bits", "1..8", default: "4", "bits per index: 2^bits centroids per codebook"),
            .init(
                "granularity", "tensor|channel|group", default: "tensor",
                "one codebook per tensor, per channel, or per group of channels"),
            .init("group", "1..65536", default: "16", "channels per codebook (granularity=group)"),
            .init("init", "linear|density|random", default: "linear", "centroid initialization"),
            .init("seed", "0..2^63", default: "0", "seed for init=random"),
            .init("iterations", "1..10000", default: "300", "Lloyd iterations at most (stops when stable)"),
        ],
        make: { a throws(CompressionError) in
            let bits = try a.int("bits", in: 1...8) ?? 4
            let g = try a.choice("granularity", ["tensor", "channel", "group"]) ?? "tensor"
            let group = try a.int("group", in: 1...65536) ?? 16
            let initName = try a.choice("init", ["linear", "density", "random"]) ?? "linear"
            let seed = try a.int("seed", in: 0...Int.max) ?? 0
            let iterations = try a.int("iterations", in: 1...10000) ?? 300
            let initialization: KMeansQuantizer.Initialization =
                switch initName {
                case "density": .density
                case "random": .random(seed: UInt64(seed))
                default: .linear
                }
            return KMeansPass(
                description: a.text,
                options: .init(
                    bits: bits, granularity: .perTensor, initialization: initialization, maxIterations: iterations),
                granularity: g, group: group)
        })

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        var o = options
        o.granularity = EncodingBook.granularity(granularity, block: 1, groupSize: group, for: &t, pass: description)
        try Validation.finite(t.values, label: t.label)
        let zeros = t.values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        if o.granularity == .perTensor, o.bits >= 2, zeros * 100 >= t.values.count, zeros < t.values.count {
            // Pruned: keep zeros exactly zero (Deep Compression clusters the surviving weights only).
            let p = ZeroPreservingKMeans.quantize(t.values, options: o)
            try EncodingBook.apply(p, to: &t, pass: description, what: "kmeans")
            t.steps[t.steps.count - 1].detail += ", zero kept as its own centroid"
            return
        }
        let (p, fellBack) = try KMeansQuantizer.quantizeReportingFallback(t.values, dims: t.site.dims, options: o)
        if fellBack {
            t.note("\(description): k-means was worse than a linear grid at \(o.bits) bits; used the linear levels")
        }
        try EncodingBook.apply(p, to: &t, pass: description, what: fellBack ? "kmeans(linear grid)" : "kmeans")
    }
}

/// `fp16(overflow=keep)` and `bf16()`.
struct FloatCastPass: Pass {
    let description: String
    let stage = PassStage.encode
    let target: FloatCast.Target
    let clamp: Bool

    static func definition(_ target: FloatCast.Target) -> PassDefinition {
        let name = target.rawValue
        return PassDefinition(
            name: name,
            summary: target == .float16
                ? "Store weights as IEEE half floats (computation stays in the model's type)."
                : "Store weights as bfloat16 (8-bit exponent: no overflow, 8-bit mantissa).",
            parameters: target == .float16
                ? [
                    .init(
                        "overflow", "keep|clamp", default: "keep",
                        "values beyond fp16's range (|x| >= 65520): keep that tensor in its own type, or clamp to ±65504"
                    )
                ] : [],
            make: { a throws(CompressionError) in
                let o = try a.choice("overflow", ["keep", "clamp"]) ?? "keep"
                return FloatCastPass(description: a.text, target: target, clamp: o == "clamp")
            })
    }

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        try Validation.finite(t.values, label: t.label)
        let over = FloatCast.overflowCount(t.values, to: target)
        if over > 0, !clamp {
            t.warn(
                "\(description): \(over) values overflow fp16 (|x| >= 65520); kept this tensor in \(t.site.dtype.name) "
                    + "(use fp16(overflow=clamp) to clamp them to ±65504 instead)")
            return
        }
        let r = FloatCast.convert(t.values, to: target, clamp: clamp)
        if r.overflowed > 0 { t.warn("\(description): clamped \(r.overflowed) values to ±65504") }
        let n = t.values.count
        let data = TensorBuffer(count: n * 2) { out in
            for i in 0..<n { out.storeBytes(of: r.bits[i].littleEndian, toByteOffset: i * 2, as: UInt16.self) }
        }
        t.values = r.roundTripped
        t.storage = .reducedPrecision(
            ReducedPrecision(storedType: target == .float16 ? .float16 : .bfloat16, data: data))
        t.bitsPerElement = 16
        t.encodedBytes = n * 2
        t.encoding = target == .float16 ? "float16" : "bfloat16"
        t.entropyBitsPerElement = nil
        t.steps.append(PassStep(pass: description, detail: "stored as \(t.encoding)"))
    }
}

/// `binary(granularity=channel)` and `ternary(threshold=0.7, granularity=channel)`.
struct SignPass: Pass {
    let description: String
    let stage = PassStage.encode
    let ternary: Bool
    let threshold: Float
    let granularity: String

    static func definition(ternary: Bool) -> PassDefinition {
        var params: [ParameterDefinition] = [
            .init("granularity", "channel|tensor", default: "channel", "one scale per output channel or per tensor")
        ]
        if ternary {
            params.append(
                .init("threshold", "0..1", default: "0.7", "zero out |w| < threshold x mean|w| (TWN uses 0.7)"))
        }
        return PassDefinition(
            name: ternary ? "ternary" : "binary",
            summary: ternary ? "Ternary weights {-a, 0, +a} (TWN)." : "Binary weights sign(w) x mean|w|.",
            parameters: params,
            make: { a throws(CompressionError) in
                let g = try a.choice("granularity", ["channel", "tensor"]) ?? "channel"
                let th = try a.double("threshold", in: 0...1) ?? 0.7
                return SignPass(description: a.text, ternary: ternary, threshold: Float(th), granularity: g)
            })
    }

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        let g = EncodingBook.granularity(granularity, block: 1, groupSize: 1, for: &t, pass: description)
        let p =
            ternary
            ? try SignQuantizer.ternary(t.values, dims: t.site.dims, granularity: g, thresholdFactor: threshold)
            : try SignQuantizer.binary(t.values, dims: t.site.dims, granularity: g)
        try EncodingBook.apply(p, to: &t, pass: description, what: ternary ? "ternary" : "binary")
    }
}
