import Codecs
import ModelIR

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
