/// The magnitude above which `Clipper.clip` clamps weights.
public enum ClipThreshold: Hashable, Sendable {
    /// A magnitude T ≥ 0 (+Inf clips nothing).
    case absolute(Float)
    /// A percentile of |w| in (0, 100], e.g. 99.9 (nearest rank; 100 is the largest |w| and clips nothing).
    case percentile(Double)
}

/// What `Clipper.clip` did to one tensor.
public struct ClipResult: Hashable, Sendable {
    /// The magnitude T applied: |w| > T became ±T.
    public var threshold: Float
    /// Elements changed.
    public var clippedCount: Int

    public init(threshold: Float, clippedCount: Int) {
        self.threshold = threshold
        self.clippedCount = clippedCount
    }
}

/// Outlier clipping: clamps weights to a magnitude so that linear quantization's range is not stretched.
public enum Clipper {
    /// Sets every element with |w| > T to ±T, keeping its sign.
    ///
    /// For `.percentile(p)`, T is the nearest-rank percentile of |w| over all elements (zeros included): the
    /// ⌈p/100 × n⌉-th smallest |w|. An empty tensor gives T = 0 and clips nothing. NaN or ±Inf in `values` throws
    /// `.invalidTensor`; a negative or NaN absolute threshold, or a percentile outside (0, 100], throws `.usage`.
    ///
    /// Complexity: O(n) time; two passes for `.absolute`, four for `.percentile` (a two-level radix selection
    /// over the float bits); O(1) extra memory.
    public static func clip(_ values: inout [Float], threshold: ClipThreshold) throws(CompressionError) -> ClipResult {
        let limit: Float
        switch threshold {
        case .absolute(let t):
            guard !t.isNaN, t >= 0 else {
                throw CompressionError(
                    .usage, "clip threshold \(t) is invalid; give a magnitude ≥ 0 (|w| above it becomes ±threshold)")
            }
            try checkFinite(values)
            limit = t
        case .percentile(let p):
            guard p > 0, p <= 100 else {
                throw CompressionError(
                    .usage, "clip percentile \(p) is out of range; give a percentile of |w| in (0, 100], e.g. 99.9")
            }
            try checkFinite(values)
            let n = values.count
            guard n > 0 else { return ClipResult(threshold: 0, clippedCount: 0) }
            let rank = nearestRank(percentile: p, of: n)
            let selection = values.withUnsafeBufferPointer { buf in
                MagnitudeKey.select(rank: rank) { visit in visit(buf) }
            }
            limit = Float(bitPattern: selection.key)
        }
        let t = MagnitudeKey.key(limit)
        let clipped = values.withUnsafeMutableBufferPointer { buf in
            var clipped = 0
            for i in buf.indices {
                // Branch-free: mask is all ones where |w| > T, so the sign bit is kept and the magnitude becomes T.
                let bits = buf[i].bitPattern
                let over: UInt32 = bits & 0x7FFF_FFFF > t ? 1 : 0
                let mask = 0 &- over
                buf[i] = Float(bitPattern: (bits & ~mask) | ((bits & 0x8000_0000 | t) & mask))
                clipped &+= Int(over)
            }
            return clipped
        }
        return ClipResult(threshold: limit, clippedCount: clipped)
    }

    /// ⌈p/100 × n⌉ clamped to 1...n, treating products within 1e-9 (relative) of an integer as that integer, so
    /// 99.9 of 1000 is rank 999 although 99.9 is not exact in binary.
    static func nearestRank(percentile p: Double, of n: Int) -> Int {
        let x = p * Double(n) / 100
        let nearest = x.rounded()
        let rank = abs(x - nearest) <= 1e-9 * max(1, x) ? nearest : x.rounded(.up)
        return min(n, max(1, Int(rank)))
    }
}
