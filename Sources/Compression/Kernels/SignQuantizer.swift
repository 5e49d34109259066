import Codecs
import ModelIR

/// Binary and ternary weights: each group keeps one magnitude `a` and every element becomes `-a`, (`0`) or
/// `+a`, stored as a palettized tensor.
///
/// Groups follow `KMeansQuantizer.Options.granularity`: `.perTensor`, `.perAxis(axis:)` (one per channel)
/// or `.perBlock(axis:blockSize: g)` (one per `g` consecutive channels). Magnitudes are computed in Double.
public enum SignQuantizer {
    /// Binary weights (XNOR-Net): `sign(w) × mean|w|` per group.
    ///
    /// A 1-bit palettized tensor whose codebook per group is `[-a, a]` with `a = mean|w|`; index 0 for
    /// `w < 0`, index 1 for `w >= 0` (so zeros become `+a`). An all-zero group has the codebook `[0, 0]`.
    /// Throws `.usage` for a bad shape, axis or block size and `.invalidTensor` for NaN or infinity. O(n).
    public static func binary(
        _ values: [Float], dims: [Int], granularity: QuantizationGranularity
    ) throws(CompressionError) -> Palettized {
        let layout = try GroupLayout(palettized: granularity, dims: dims, count: values.count)
        try KernelInput.checkFinite(values)
        let (sums, counts) = magnitudeSums(values, layout: layout, above: nil)
        var codebook: [Float] = []
        codebook.reserveCapacity(2 * layout.groupCount)
        for g in 0..<layout.groupCount {
            let a = counts[g] > 0 ? Float(sums[g] / Double(counts[g])) : 0
            codebook += a == 0 ? [0, 0] : [-a, a]
        }
        let n = values.count
        let indices = [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
            values.withUnsafeBufferPointer { x in
                for i in 0..<n { out[i] = x[i] < 0 ? 0 : 1 }
            }
            initialized = n
        }
        return Palettized(
            bits: 1, granularity: layout.granularity, codebook: codebook, indices: BitPacking.pack(indices, bits: 1))
    }

    /// Ternary weights (TWN): threshold `Δ = thresholdFactor × mean|w|` per group; `w > Δ` becomes `+a`,
    /// `w < -Δ` becomes `-a`, anything else 0, where `a` is the mean of `|w|` over the elements above `Δ`.
    ///
    /// A 2-bit palettized tensor whose codebook per group is `[-a, 0, a, a]`: indices 0, 1, 2 mean `-a`,
    /// `0`, `+a`, and the fourth entry only pads the group to `2^2` entries (it repeats the largest value,
    /// as every palette does) and is never used. A group with no element above `Δ` has `a = 0`, i.e. the
    /// codebook `[0, 0, 0, 0]`. Throws `.usage` for a bad shape, axis or block size, or a threshold factor
    /// that is negative or not finite, and `.invalidTensor` for NaN or infinity. O(n).
    public static func ternary(
        _ values: [Float], dims: [Int], granularity: QuantizationGranularity, thresholdFactor: Float = 0.7
    ) throws(CompressionError) -> Palettized {
        guard thresholdFactor.isFinite, thresholdFactor >= 0 else {
            throw CompressionError(.usage, "ternary threshold factor \(thresholdFactor) must be finite and >= 0")
        }
        let layout = try GroupLayout(palettized: granularity, dims: dims, count: values.count)
        try KernelInput.checkFinite(values)
        let (sums, counts) = magnitudeSums(values, layout: layout, above: nil)
        let thresholds = (0..<layout.groupCount).map { g in
            counts[g] > 0 ? Double(thresholdFactor) * sums[g] / Double(counts[g]) : 0
        }
        let (aboveSums, aboveCounts) = magnitudeSums(values, layout: layout, above: thresholds)
        var codebook: [Float] = []
        codebook.reserveCapacity(4 * layout.groupCount)
        for g in 0..<layout.groupCount {
            let a = aboveCounts[g] > 0 ? Float(aboveSums[g] / Double(aboveCounts[g])) : 0
            codebook += a == 0 ? [0, 0, 0, 0] : [-a, 0, a, a]
        }
        let n = values.count
        let indices = [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
            values.withUnsafeBufferPointer { x in
                thresholds.withUnsafeBufferPointer { t in
                    layout.forEachRun { base, stride, run in
                        for i in run {
                            let delta = t[base + stride * (i - run.lowerBound)]
                            let w = Double(x[i])
                            out[i] = w > delta ? 2 : (w < -delta ? 0 : 1)
                        }
                    }
                }
            }
            initialized = n
        }
        return Palettized(
            bits: 2, granularity: layout.granularity, codebook: codebook, indices: BitPacking.pack(indices, bits: 2))
    }

    /// Per group, the sum of `|w|` and the element count, over all elements or only those with
    /// `|w| > above[group]`. O(n).
    private static func magnitudeSums(
        _ values: [Float], layout: GroupLayout, above: [Double]?
    ) -> (sums: [Double], counts: [Int]) {
        var sums = [Double](repeating: 0, count: layout.groupCount)
        var counts = [Int](repeating: 0, count: layout.groupCount)
        values.withUnsafeBufferPointer { x in
            layout.forEachRun { base, stride, run in
                guard stride == 0 else {
                    for i in run {
                        let g = base + i - run.lowerBound
                        let m = Double(abs(x[i]))
                        if m > (above?[g] ?? -1) {
                            sums[g] += m
                            counts[g] += 1
                        }
                    }
                    return
                }
                var s = 0.0
                var c = 0
                if let above {
                    let delta = above[base]
                    for i in run {
                        let m = Double(abs(x[i]))
                        if m > delta {
                            s += m
                            c += 1
                        }
                    }
                } else {
                    for i in run { s += Double(abs(x[i])) }
                    c = run.count
                }
                sums[base] += s
                counts[base] += c
            }
        }
        return (sums, counts)
    }
}
