#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// How far an approximation of a tensor is from the original.
public struct ErrorStats: Hashable, Sendable, Codable {
    /// Mean squared error (0 for empty tensors).
    public var mse: Double
    /// The largest absolute elementwise error.
    public var maxAbsError: Double
    /// `‖original - approximation‖ / ‖original‖`: 0 when both are zero, +infinity when only the original is.
    public var relativeL2: Double
    /// Signal-to-quantization-noise ratio in dB, `10 log10(Σ original² / Σ (original - approximation)²)`:
    /// +infinity when the approximation is exact (both zero included), -infinity when the original is zero
    /// and the approximation is not.
    public var sqnrDB: Double
    /// Cosine similarity: 1 when both are zero vectors, 0 when exactly one is.
    public var cosine: Double

    public init(mse: Double, maxAbsError: Double, relativeL2: Double, sqnrDB: Double, cosine: Double) {
        self.mse = mse
        self.maxAbsError = maxAbsError
        self.relativeL2 = relativeL2
        self.sqnrDB = sqnrDB
        self.cosine = cosine
    }
}

/// Error metrics between an original tensor and its approximation.
public enum ErrorMetrics {
    /// Compares `approximation` with `original`, accumulating in Double.
    ///
    /// The tensors should have the same count; if not, missing elements of the shorter one count as 0, so
    /// a truncated approximation shows up as error. A NaN in either makes the sums NaN. O(n).
    public static func compare(original: [Float], approximation: [Float]) -> ErrorStats {
        let n = max(original.count, approximation.count)
        let common = min(original.count, approximation.count)
        var signal = 0.0  // Σ a²
        var other = 0.0  // Σ b²
        var dot = 0.0  // Σ a b
        var noise = 0.0  // Σ (a - b)²
        var maxError = 0.0
        original.withUnsafeBufferPointer { a in
            approximation.withUnsafeBufferPointer { b in
                for i in 0..<common {
                    let x = Double(a[i])
                    let y = Double(b[i])
                    let d = x - y
                    signal += x * x
                    other += y * y
                    dot += x * y
                    noise += d * d
                    maxError = max(maxError, abs(d))
                }
                for i in common..<a.count {
                    let x = Double(a[i])
                    signal += x * x
                    noise += x * x
                    maxError = max(maxError, abs(x))
                }
                for i in common..<b.count {
                    let y = Double(b[i])
                    other += y * y
                    noise += y * y
                    maxError = max(maxError, abs(y))
                }
            }
        }
        if noise.isNaN || signal.isNaN || other.isNaN { maxError = .nan }

        let relative: Double
        let sqnr: Double
        if noise == 0 {
            relative = 0
            sqnr = .infinity
        } else if signal == 0 {
            relative = .infinity
            sqnr = -.infinity
        } else {
            relative = (noise / signal).squareRoot()
            sqnr = 10 * (log10(signal) - log10(noise))
        }
        let cosine: Double
        if noise == 0 {
            cosine = 1  // identical, or both zero
        } else if signal == 0 || other == 0 {
            cosine = 0
        } else {
            cosine = min(1, max(-1, dot / (signal * other).squareRoot()))
        }
        return ErrorStats(
            mse: n == 0 ? 0 : noise / Double(n), maxAbsError: maxError, relativeL2: relative, sqnrDB: sqnr,
            cosine: noise.isNaN ? .nan : cosine)
    }
}
