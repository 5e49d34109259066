import Codecs
import ModelIR

/// `auto(max_error=0.01 | sqnr=30, methods=linear+kmeans, min_bits=2, max_bits=8)`: per tensor, the
/// smallest encoding whose error stays within the budget.
struct AutoPass: Pass {
    enum Budget: Sendable {
        case relativeL2(Double)
        case sqnr(Double)
    }
    let description: String
    let stage = PassStage.encode
    let budget: Budget
    let useLinear: Bool
    let useKMeans: Bool
    let bits: ClosedRange<Int>

    static let definition = PassDefinition(
        name: "auto",
        summary: "Per tensor, the fewest bytes (fewest bits, cheaper of linear and k-means) within an error budget.",
        parameters: [
            .init("max_error", "0..1", default: nil, "largest relative L2 error ||w - q|| / ||w|| allowed"),
            .init("sqnr", "0..200", default: nil, "smallest SQNR in dB allowed (instead of max_error)"),
            .init("methods", "linear+kmeans|linear|kmeans", default: "linear+kmeans", "encodings to try"),
            .init("min_bits", "2..8", default: "2", "fewest bits to try"),
            .init("max_bits", "2..8", default: "8", "most bits to try"),
        ],
        make: { a throws(CompressionError) in
            let budget: Budget
            if let e = try a.double("max_error", in: 0...1), !a.has("sqnr") {
                budget = .relativeL2(e)
            } else if let s = try a.double("sqnr", in: 0...200), !a.has("max_error") {
                budget = .sqnr(s)
            } else {
                throw CompressionError(.usage, "give exactly one of max_error= or sqnr=", at: "pass 'auto'")
            }
            let m = try a.choice("methods", ["linear+kmeans", "kmeans+linear", "linear", "kmeans"]) ?? "linear+kmeans"
            let lo = try a.int("min_bits", in: 2...8) ?? 2
            let hi = try a.int("max_bits", in: 2...8) ?? 8
            guard lo <= hi else {
                throw CompressionError(.usage, "min_bits must not exceed max_bits", at: "pass 'auto'")
            }
            return AutoPass(
                description: a.text, budget: budget, useLinear: m.contains("linear"), useKMeans: m.contains("kmeans"),
                bits: lo...hi)
        })

    private func within(_ s: ErrorStats) -> Bool {
        switch budget {
        case .relativeL2(let e): s.relativeL2 <= e
        case .sqnr(let db): s.sqnrDB >= db
        }
    }

    func run(_ t: inout WorkingTensor) throws(CompressionError) {
        var best: WorkingTensor?
        var tried: [String] = []
        for b in bits {
            var candidates: [WorkingTensor] = []
            if useLinear {
                var c = t
                let g = EncodingBook.granularity("channel", block: 1, groupSize: 1, for: &c, pass: description)
                let q = try LinearQuantizer.quantize(
                    c.values, dims: c.site.dims, options: .init(bits: b, symmetric: true, granularity: g))
                try EncodingBook.apply(q, to: &c, pass: description)
                candidates.append(c)
            }
            if useKMeans {
                var c = t
                let (p, _) = try KMeansQuantizer.quantizeReportingFallback(
                    c.values, dims: c.site.dims, options: .init(bits: b))
                try EncodingBook.apply(p, to: &c, pass: description, what: "kmeans")
                candidates.append(c)
            }
            for c in candidates {
                let s = ErrorMetrics.compare(original: t.values, approximation: c.values)
                tried.append("\(c.encoding): rel. L2 \(Report.number(s.relativeL2))")
                if within(s), best.map({ c.encodedBytes < $0.encodedBytes }) ?? true { best = c }
            }
            if best != nil { break }
        }
        guard var chosen = best else {
            t.warn(
                "\(description): no encoding up to \(bits.upperBound) bits meets the budget; kept \(t.site.dtype.name) "
                    + "(best tried: \(tried.suffix(2).joined(separator: "; ")))")
            return
        }
        if let last = chosen.steps.popLast() {
            chosen.steps.append(PassStep(pass: description, detail: "chose " + last.detail))
        }
        t = chosen
    }
}
