import Codecs
import ModelIR

/// Input checks shared by the quantizers.
enum KernelInput {
    /// The element count of `dims`; throws `code` for a negative dim or an overflowing product.
    static func elementCount(_ dims: [Int], code: CompressionError.Code) throws(CompressionError) -> Int {
        var n = 1
        for d in dims {
            guard d >= 0 else { throw CompressionError(code, "shape \(dims) has a negative dim") }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { throw CompressionError(code, "the element count of shape \(dims) overflows") }
            n = p
        }
        return n
    }

    /// Throws `.usage` unless `dims` describes exactly `count` elements.
    static func checkShape(_ dims: [Int], count: Int) throws(CompressionError) {
        let n = try elementCount(dims, code: .usage)
        guard n == count else {
            throw CompressionError(.usage, "shape \(dims) has \(n) elements but \(count) values were given")
        }
    }

    /// Throws `.invalidTensor` naming the first NaN or infinite element. O(n).
    static func checkFinite(_ values: [Float]) throws(CompressionError) {
        let firstBad: Int? = values.withUnsafeBufferPointer { x in
            var start = 0
            while start < x.count {
                let end = min(start + 4096, x.count)
                var any = false
                for i in start..<end { any = any || !x[i].isFinite }
                if any {
                    for i in start..<end where !x[i].isFinite { return i }
                }
                start = end
            }
            return nil
        }
        guard let i = firstBad else { return }
        let what = values[i].isNaN ? "NaN" : (values[i] > 0 ? "+infinity" : "-infinity")
        throw CompressionError(
            .invalidTensor,
            "contains \(what) at element \(i); quantization needs finite weights: fix the model (e.g. retrain or "
                + "re-export it) or leave this tensor out of the pass")
    }

    /// `axis` made non-negative (negative counts from the end); throws `.usage` when out of range.
    static func normalizedAxis(_ axis: Int, rank: Int) throws(CompressionError) -> Int {
        let a = axis < 0 ? axis + rank : axis
        guard a >= 0, a < rank else {
            throw CompressionError(
                .usage, "axis \(axis) is out of range for a tensor of rank \(rank); use 0..<\(rank) or -\(rank)..<0")
        }
        return a
    }
}
