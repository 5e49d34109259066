import ModelIR

/// Shared bookkeeping for the encoding passes.
enum EncodingBook {
    /// Order-0 entropy, in bits per symbol, of `codes`. O(n).
    static func entropy(_ codes: [UInt16]) -> Double {
        guard !codes.isEmpty else { return 0 }
        var hist = [Int](repeating: 0, count: 65536)
        for c in codes { hist[Int(c)] += 1 }
        let n = Double(codes.count)
        var h = 0.0
        for k in hist where k > 0 {
            let p = Double(k) / n
            h -= p * log2(p)
        }
        return h
    }

    /// log2 through the kernels' Foundation-free log10. O(1).
    static func log2(_ x: Double) -> Double { ErrorMetrics.log10(x) / 0.301_029_995_663_981_2 }

    static func granularityText(_ g: QuantizationGranularity) -> String {
        switch g {
        case .perTensor: "per tensor"
        case .perAxis(let a): "per channel (axis \(a))"
        case .perBlock(let a, let b): "per block of \(b) (axis \(a))"
        }
    }

    static func groups(_ g: QuantizationGranularity, dims: [Int]) -> Int {
        switch g {
        case .perTensor: return 1
        case .perAxis(let a): return a < dims.count ? dims[a] : 1
        case .perBlock(let a, let b):
            guard a < dims.count, b > 0 else { return 1 }
            let n = dims.reduce(1, *)
            let d = dims[a]
            return d == 0 ? 0 : n / d * ((d + b - 1) / b)
        }
    }

    /// Applies a linear quantization result to the tensor.
    static func apply(_ q: LinearQuantized, to t: inout WorkingTensor, pass: String) throws(CompressionError) {
        let values = try LinearQuantizer.dequantize(q, dims: t.site.dims)
        let n = values.count
        t.values = values
        t.storage = .linearQuantized(q)
        t.bitsPerElement = Double(q.bits)
        t.encodedBytes = (n * q.bits + 7) / 8 + q.scales.count * 4 + q.zeroPoints.count * ((q.bits + 7) / 8)
        t.encoding = "linear \(q.signed ? "int" : "uint")\(q.bits) " + granularityText(q.granularity)
        if let codes = try? BitPacking.unpack(q.codes, bits: q.bits, count: n) {
            t.entropyBitsPerElement = entropy(codes)
        }
        t.steps.append(PassStep(pass: pass, detail: t.encoding + ", \(q.scales.count) scales"))
    }

    /// Applies a palettization result to the tensor.
    static func apply(_ p: Palettized, to t: inout WorkingTensor, pass: String, what: String) throws(CompressionError) {
        let values = try KMeansQuantizer.dequantize(p, dims: t.site.dims)
        let n = values.count
        t.values = values
        t.storage = .palettized(p)
        t.bitsPerElement = Double(p.bits)
        t.encodedBytes = (n * p.bits + 7) / 8 + p.codebook.count * 4
        t.encoding = "\(what) \(p.bits)-bit " + granularityText(p.granularity)
        if let codes = try? BitPacking.unpack(p.indices, bits: p.bits, count: n) {
            t.entropyBitsPerElement = entropy(codes)
        }
        t.steps.append(PassStep(pass: pass, detail: t.encoding + ", \(p.codebook.count) codebook entries"))
    }

    /// The granularity a pass asked for, resolved against the tensor's axes (falls back to per tensor
    /// with a note when the tensor has no channel axis).
    static func granularity(
        _ asked: String, block: Int, groupSize: Int, for t: inout WorkingTensor, pass: String
    ) -> QuantizationGranularity {
        switch asked {
        case "channel":
            guard let a = t.site.channelAxis else {
                t.note("\(pass): per tensor, since \(t.site.axisReason)")
                return .perTensor
            }
            return .perAxis(axis: a)
        case "block":
            guard let a = t.site.inputAxis else {
                t.note("\(pass): per tensor, since it has no known input axis for blocks (\(t.site.axisReason))")
                return .perTensor
            }
            guard t.site.dims[a] > block else {
                guard let c = t.site.channelAxis else {
                    t.note("\(pass): per tensor, since its input axis has only \(t.site.dims[a]) elements")
                    return .perTensor
                }
                t.note(
                    "\(pass): per channel, since its input axis has only \(t.site.dims[a]) elements "
                        + "(blocks of \(block) would cost more than they save)")
                return .perAxis(axis: c)
            }
            return .perBlock(axis: a, blockSize: block)
        case "group":
            guard let a = t.site.channelAxis else {
                t.note("\(pass): per tensor, since \(t.site.axisReason)")
                return .perTensor
            }
            return .perBlock(axis: a, blockSize: max(groupSize, 1))
        default:
            return .perTensor
        }
    }
}

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

/// Input checks shared by passes.
enum Validation {
    static func finite(_ v: [Float], label: String) throws(CompressionError) {
        for (i, x) in v.enumerated() where !x.isFinite {
            throw CompressionError(
                .invalidTensor,
                "contains \(x.isNaN ? "NaN" : "an infinite value") at element \(i); fix the model or exclude this "
                    + "tensor (a recipe override with \"exclude\": true)",
                at: label)
        }
    }
}

/// K-means for pruned tensors: zero is a fixed centroid, and the surviving weights share the other
/// 2^bits - 1 values, so pruned weights stay exactly zero.
enum ZeroPreservingKMeans {
    /// O(n log n) for the kernel's sort, plus O(n log k) to assign.
    static func quantize(_ values: [Float], options: KMeansQuantizer.Options) -> Palettized {
        let k = 1 << options.bits
        let nonzero = values.filter { $0 != 0 }
        var o = options
        o.granularity = .perTensor
        // Cluster the survivors with the full codebook, then merge the cheapest adjacent pair (the Ward cost
        // n1 n2 / (n1 + n2) (c1 - c2)^2) to free a slot for zero.
        var centroids: [Float]
        if let p = try? KMeansQuantizer.quantize(nonzero, dims: [nonzero.count], options: o),
            let idx = try? BitPacking.unpack(p.indices, bits: p.bits, count: nonzero.count)
        {
            var sums = [Double](repeating: 0, count: p.codebook.count)
            var counts = [Double](repeating: 0, count: p.codebook.count)
            for (i, c) in idx.enumerated() where Int(c) < sums.count {
                sums[Int(c)] += Double(nonzero[i])
                counts[Int(c)] += 1
            }
            var cs: [(Double, Double)] = []
            for j in 0..<p.codebook.count where counts[j] > 0 { cs.append((sums[j] / counts[j], counts[j])) }
            cs.sort { $0.0 < $1.0 }
            while cs.count > k - 1 {
                var best = 0
                var bestCost = Double.infinity
                for j in 0..<(cs.count - 1) {
                    let (a, na) = cs[j]
                    let (b, nb) = cs[j + 1]
                    let cost = na * nb / (na + nb) * (a - b) * (a - b)
                    if cost < bestCost {
                        bestCost = cost
                        best = j
                    }
                }
                let (a, na) = cs[best]
                let (b, nb) = cs[best + 1]
                cs[best] = ((a * na + b * nb) / (na + nb), na + nb)
                cs.remove(at: best + 1)
            }
            centroids = cs.map { Float($0.0) }
        } else {
            centroids = []
        }
        centroids.append(0)
        centroids = Array(Set(centroids)).sorted()
        while centroids.count < k { centroids.append(centroids.last ?? 0) }
        // Nearest centroid by binary search over the midpoints; zeros map to the zero entry.
        let zeroIndex = centroids.firstIndex(of: 0) ?? 0
        var mids: [Float] = []
        for j in 0..<(k - 1) { mids.append((centroids[j] + centroids[j + 1]) / 2) }
        var codes = [UInt16](repeating: 0, count: values.count)
        for (i, v) in values.enumerated() {
            if v == 0 {
                codes[i] = UInt16(zeroIndex)
                continue
            }
            var lo = 0
            var hi = k - 1
            while lo < hi {
                let m = (lo + hi) / 2
                if v > mids[m] { lo = m + 1 } else { hi = m }
            }
            // Never map a surviving weight to zero when a nonzero centroid is as close.
            if lo == zeroIndex, centroids[lo] == 0 {
                let left = lo > 0 ? lo - 1 : lo
                let right = lo < k - 1 ? lo + 1 : lo
                let candidates = [left, right].filter { centroids[$0] != 0 }
                if let c = candidates.min(by: { abs(centroids[$0] - v) < abs(centroids[$1] - v) }),
                    abs(centroids[c] - v) <= abs(v)
                {
                    lo = c
                }
            }
            codes[i] = UInt16(lo)
        }
        return Palettized(
            bits: options.bits, granularity: .perTensor, codebook: centroids,
            indices: BitPacking.pack(codes, bits: options.bits))
    }
}
