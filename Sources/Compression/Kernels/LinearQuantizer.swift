import Codecs
import ModelIR

/// Linear (affine) quantization of float tensors: `value ≈ (code - zeroPoint) * scale`.
///
/// Codes are rounded to nearest (ties to even, as ONNX `QuantizeLinear`) and saturated to the code range.
/// Parameters are chosen per group (see `Options.granularity`) from the group's min/max, or, with
/// `RangeMethod.mse`, from the clipping range that minimises the group's squared error.
public enum LinearQuantizer {
    /// How the clipping range of a group is chosen.
    public enum RangeMethod: String, Sendable {
        /// The full range of the group's values: no element is clipped.
        case minMax = "minmax"
        /// The range `factor × minMax range` minimising the group's squared error, over the grid of
        /// factors `mseShrinkFactors` (1.0 down to 0.5). Elements outside the chosen range saturate.
        case mse
    }

    /// The shrink factors tried by `RangeMethod.mse`, 1.0 first (ties keep the larger range).
    public static let mseShrinkFactors: [Float] = (0...25).map { Float(50 - $0) / 50 }

    /// What to quantize to.
    public struct Options: Hashable, Sendable {
        /// Bits per code, 2...16 (8 and below are the useful range).
        public var bits: Int
        /// Symmetric: zero point 0 and signed codes in `-(2^(bits-1) - 1) ... 2^(bits-1) - 1`;
        /// asymmetric: unsigned codes in `0 ... 2^bits - 1` with an integer zero point in that range.
        public var symmetric: Bool
        /// What one scale (and zero point) covers:
        /// - `.perTensor`: the whole tensor.
        /// - `.perAxis(axis:)`: one per index along `axis` (per output channel); negative counts from the end.
        /// - `.perBlock(axis:blockSize:)`: ONNX blocked quantization: one per block of `blockSize` consecutive
        ///   elements along `axis`, separately for every index of the other axes. The scales have the shape
        ///   of the tensor with `dims[axis]` replaced by `ceil(dims[axis] / blockSize)`, in row-major order
        ///   of that shape.
        public var granularity: QuantizationGranularity
        /// How the clipping range is chosen.
        public var range: RangeMethod

        public init(
            bits: Int, symmetric: Bool = true, granularity: QuantizationGranularity = .perTensor,
            range: RangeMethod = .minMax
        ) {
            self.bits = bits
            self.symmetric = symmetric
            self.granularity = granularity
            self.range = range
        }
    }

    /// Quantizes `values`, a row-major tensor of shape `dims`.
    ///
    /// Every element inside its group's clipping range (always, with `.minMax`) dequantizes to within
    /// half a step (`scale / 2`) of its value, and zero is exactly representable in every group.
    /// A constant group dequantizes exactly. The result's `codes` hold `bits` bits per element; signed
    /// (symmetric) codes are stored as the low `bits` bits of their two's complement, which `dequantize`
    /// sign-extends. `zeroPoints` is empty for symmetric quantization. An axis in `granularity` is
    /// stored normalised to a non-negative value.
    ///
    /// Throws `.usage` for bits outside 2...16, dims that do not match `values.count`, an axis out of
    /// range or a block size below 1, and `.invalidTensor` when a value is NaN or infinite.
    /// O(n) with `.minMax`; O(n × `mseShrinkFactors.count`) with `.mse`.
    public static func quantize(
        _ values: [Float], dims: [Int], options: Options
    ) throws(CompressionError) -> LinearQuantized {
        guard (2...16).contains(options.bits) else {
            throw CompressionError(
                .usage, "linear quantization to \(options.bits) bits is not supported; use 2...16 bits (usually 8)")
        }
        let layout = try GroupLayout(linear: options.granularity, dims: dims, count: values.count)
        try KernelInput.checkFinite(values)

        let bits = options.bits
        let symmetric = options.symmetric
        let (lows, highs) = groupRanges(values, layout: layout)
        var params = [AffineParameters](repeating: AffineParameters(scale: 1, zeroPoint: 0), count: layout.groupCount)
        for g in 0..<layout.groupCount {
            params[g] = AffineParameters(low: lows[g], high: highs[g], bits: bits, symmetric: symmetric)
        }
        if options.range == .mse {
            params = searchClippingRanges(values, layout: layout, lows: lows, highs: highs, initial: params, options)
        }
        let codeRange = AffineParameters.codeRange(bits: bits, symmetric: symmetric)
        let codes = quantizedCodes(values, layout: layout, params: params, codeRange: codeRange)
        return LinearQuantized(
            bits: bits, signed: symmetric, granularity: layout.granularity,
            scales: params.map(\.scale),
            zeroPoints: symmetric ? [] : params.map(\.zeroPoint),
            codes: BitPacking.pack(codes, bits: bits))
    }

    /// Reconstructs the float values of `q`, a tensor of shape `dims`: `(code - zeroPoint) * scale`.
    ///
    /// Throws `.invalidTensor` when the parameters do not fit `dims` (scale or zero point count, code
    /// buffer size, axis). O(n).
    public static func dequantize(_ q: LinearQuantized, dims: [Int]) throws(CompressionError) -> [Float] {
        guard (1...16).contains(q.bits) else {
            throw CompressionError(.invalidTensor, "linear codes of \(q.bits) bits are outside 1...16")
        }
        let count = try KernelInput.elementCount(dims, code: .invalidTensor)
        let layout: GroupLayout
        do {
            layout = try GroupLayout(linear: q.granularity, dims: dims, count: count)
        } catch {
            throw CompressionError(.invalidTensor, error.message)
        }
        guard q.scales.count == layout.groupCount else {
            throw CompressionError(
                .invalidTensor,
                "linear quantization holds \(q.scales.count) scales but shape \(dims) with "
                    + "\(q.granularity) needs \(layout.groupCount)")
        }
        guard q.zeroPoints.isEmpty || q.zeroPoints.count == layout.groupCount else {
            throw CompressionError(
                .invalidTensor,
                "linear quantization holds \(q.zeroPoints.count) zero points but needs 0 or "
                    + "\(layout.groupCount)")
        }
        let raw = try codec { () throws(CodecError) in try BitPacking.unpack(q.codes, bits: q.bits, count: count) }
        let shift = Int32(32 - q.bits)
        let signed = q.signed
        let zeroPoints = q.zeroPoints.isEmpty ? [Int32](repeating: 0, count: layout.groupCount) : q.zeroPoints
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            raw.withUnsafeBufferPointer { codes in
                q.scales.withUnsafeBufferPointer { scales in
                    zeroPoints.withUnsafeBufferPointer { zps in
                        layout.forEachRun { base, stride, run in
                            for i in run {
                                let g = base + stride * (i - run.lowerBound)
                                var c = Int32(codes[i])
                                if signed { c = (c << shift) >> shift }
                                out[i] = Float(c &- zps[g]) * scales[g]
                            }
                        }
                    }
                }
            }
            initialized = count
        }
    }

    // MARK: - Kernels

    /// Per-group minimum and maximum. O(n).
    static func groupRanges(_ values: [Float], layout: GroupLayout) -> (lows: [Float], highs: [Float]) {
        var lows = [Float](repeating: .infinity, count: layout.groupCount)
        var highs = [Float](repeating: -.infinity, count: layout.groupCount)
        values.withUnsafeBufferPointer { x in
            lows.withUnsafeMutableBufferPointer { lo in
                highs.withUnsafeMutableBufferPointer { hi in
                    layout.forEachRun { base, stride, run in
                        if stride == 0 {
                            var a = lo[base]
                            var b = hi[base]
                            for i in run {
                                a = x[i] < a ? x[i] : a
                                b = x[i] > b ? x[i] : b
                            }
                            lo[base] = a
                            hi[base] = b
                        } else {
                            for i in run {
                                let g = base + (i - run.lowerBound)
                                lo[g] = x[i] < lo[g] ? x[i] : lo[g]
                                hi[g] = x[i] > hi[g] ? x[i] : hi[g]
                            }
                        }
                    }
                }
            }
        }
        // Empty groups (a zero dim) get the range [0, 0].
        for g in 0..<layout.groupCount where lows[g] > highs[g] {
            lows[g] = 0
            highs[g] = 0
        }
        return (lows, highs)
    }

    /// For every group, the parameters of the shrink factor with the least squared error.
    /// O(n × `mseShrinkFactors.count`).
    private static func searchClippingRanges(
        _ values: [Float], layout: GroupLayout, lows: [Float], highs: [Float], initial: [AffineParameters],
        _ options: Options
    ) -> [AffineParameters] {
        let codeRange = AffineParameters.codeRange(bits: options.bits, symmetric: options.symmetric)
        var best = initial
        var bestError = squaredErrors(values, layout: layout, params: initial, codeRange: codeRange)
        var candidate = initial
        for factor in mseShrinkFactors.dropFirst() {
            for g in 0..<layout.groupCount {
                // Constant groups are exact at factor 1; shrinking cannot help them.
                candidate[g] =
                    lows[g] == highs[g]
                    ? initial[g]
                    : AffineParameters(
                        low: lows[g] * factor, high: highs[g] * factor, bits: options.bits,
                        symmetric: options.symmetric)
            }
            let errors = squaredErrors(values, layout: layout, params: candidate, codeRange: codeRange)
            for g in 0..<layout.groupCount where errors[g] < bestError[g] {
                bestError[g] = errors[g]
                best[g] = candidate[g]
            }
        }
        return best
    }

    /// Per-group sum of squared quantization errors, for comparing clipping ranges: computed in Float
    /// (rounding decisions may differ from `quantizedCodes` by ~2^(bits-24) of a step, which does not
    /// matter for the comparison) and accumulated in Double across chunks of at most 1024 elements. O(n).
    static func squaredErrors(
        _ values: [Float], layout: GroupLayout, params: [AffineParameters], codeRange: ClosedRange<Float>
    ) -> [Double] {
        var errors = [Double](repeating: 0, count: layout.groupCount)
        let qmin = codeRange.lowerBound
        let qmax = codeRange.upperBound
        let magic: Float = 12_582_912  // 1.5 × 2^23: adding and subtracting it rounds to an integer.
        values.withUnsafeBufferPointer { x in
            params.withUnsafeBufferPointer { p in
                errors.withUnsafeMutableBufferPointer { e in
                    layout.forEachRun { base, stride, run in
                        if stride == 0 {
                            let scale = p[base].scale
                            let inverse = 1 / scale
                            let zp = Float(p[base].zeroPoint)
                            let lo = qmin - zp
                            let hi = qmax - zp
                            var total = 0.0
                            var start = run.lowerBound
                            while start < run.upperBound {
                                let end = min(start + 1024, run.upperBound)
                                var chunk: Float = 0
                                for i in start..<end {
                                    var y = x[i] * inverse
                                    y = y < lo ? lo : y
                                    y = y > hi ? hi : y
                                    let d = ((y + magic) - magic) * scale - x[i]
                                    chunk += d * d
                                }
                                total += Double(chunk)
                                start = end
                            }
                            e[base] += total
                        } else {
                            for i in run {
                                let g = base + (i - run.lowerBound)
                                let zp = Float(p[g].zeroPoint)
                                var y = x[i] / p[g].scale
                                y = y < qmin - zp ? qmin - zp : y
                                y = y > qmax - zp ? qmax - zp : y
                                let d = ((y + magic) - magic) * p[g].scale - x[i]
                                e[g] += Double(d * d)
                            }
                        }
                    }
                }
            }
        }
        return errors
    }

    /// The codes of every element (two's complement low bits for signed codes). O(n).
    private static func quantizedCodes(
        _ values: [Float], layout: GroupLayout, params: [AffineParameters], codeRange: ClosedRange<Float>
    ) -> [UInt16] {
        let n = values.count
        let qmin = Double(codeRange.lowerBound)
        let qmax = Double(codeRange.upperBound)
        let inverses = params.map { 1 / Double($0.scale) }
        return [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
            values.withUnsafeBufferPointer { x in
                params.withUnsafeBufferPointer { p in
                    inverses.withUnsafeBufferPointer { inv in
                        layout.forEachRun { base, stride, run in
                            if stride == 0 {
                                let inverse = inv[base]
                                let zp = Double(p[base].zeroPoint)
                                for i in run {
                                    let c = Int32(roundedCode(x[i], inverseScale: inverse, zeroPoint: zp, qmin, qmax))
                                    out[i] = UInt16(truncatingIfNeeded: c)
                                }
                            } else {
                                for i in run {
                                    let g = base + (i - run.lowerBound)
                                    let c = Int32(
                                        roundedCode(
                                            x[i], inverseScale: inv[g], zeroPoint: Double(p[g].zeroPoint), qmin, qmax))
                                    out[i] = UInt16(truncatingIfNeeded: c)
                                }
                            }
                        }
                    }
                }
            }
            initialized = n
        }
    }

    /// `clamp(round(x / scale) + zeroPoint, qmin, qmax)` as an integral Float, rounding ties to even.
    ///
    /// Computed in Double with `inverseScale = 1 / Double(scale)`, so the rounding decision is exact to
    /// about 1e-16 of a step even for 16-bit codes (Float would be off by up to 2^(bits-24) steps). Rounds
    /// with the `1.5 × 2^52` trick so the loop vectorises on baseline x86-64 (no `roundpd`); the value is
    /// clamped first, so it is far below 2^51 in magnitude.
    @inline(__always)
    static func roundedCode(_ x: Float, inverseScale: Double, zeroPoint: Double, _ qmin: Double, _ qmax: Double)
        -> Float
    {
        let magic = 6_755_399_441_055_744.0  // 1.5 × 2^52
        var y = Double(x) * inverseScale
        y = y < qmin - zeroPoint ? qmin - zeroPoint : y
        y = y > qmax - zeroPoint ? qmax - zeroPoint : y
        return Float((y + magic) - magic + zeroPoint)
    }
}

// MARK: - Shared kernel support
