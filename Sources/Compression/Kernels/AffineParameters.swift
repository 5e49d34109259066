import Codecs
import ModelIR

/// One group's scale and zero point.
struct AffineParameters: Hashable, Sendable {
    var scale: Float
    var zeroPoint: Int32

    init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The code range: `-(2^(bits-1) - 1) ... 2^(bits-1) - 1` symmetric, `0 ... 2^bits - 1` asymmetric.
    static func codeRange(bits: Int, symmetric: Bool) -> ClosedRange<Float> {
        symmetric ? Float(-((1 << (bits - 1)) - 1))...Float((1 << (bits - 1)) - 1) : 0...Float((1 << bits) - 1)
    }

    /// The parameters covering the clipping range `low ... high` (finite, `low <= high`) with codes of `bits`
    /// bits.
    ///
    /// The range is widened to include zero, and the scale rounded up (never 0) so that every value in it
    /// lies within half a step of a code. The zero point is an integer inside the code range, so zero is
    /// exact. A constant range `v ... v` gets `scale = |v|`, so that `v` is exact too; an all-zero one gets
    /// scale 1.
    init(low: Float, high: Float, bits: Int, symmetric: Bool) {
        if symmetric {
            let qmax = Double((1 << (bits - 1)) - 1)
            let m = max(abs(low), abs(high))
            if m == 0 {
                self.init(scale: 1, zeroPoint: 0)
            } else if low == high {
                self.init(scale: m, zeroPoint: 0)
            } else {
                self.init(scale: Self.coveringScale(width: Double(m), steps: qmax), zeroPoint: 0)
            }
            return
        }
        let levels = Double((1 << bits) - 1)
        let lo = min(low, 0)
        let hi = max(high, 0)
        if lo == hi {
            self.init(scale: 1, zeroPoint: 0)
        } else if low == high {
            // v > 0: code 1 with zero point 0; v < 0: code 0 with zero point 1.
            self.init(scale: abs(low), zeroPoint: low > 0 ? 0 : 1)
        } else {
            let scale = Self.coveringScale(width: Double(hi) - Double(lo), steps: levels)
            let zp = (-Double(lo) / Double(scale)).rounded(.toNearestOrEven)
            self.init(scale: scale, zeroPoint: Int32(min(max(zp, 0), levels)))
        }
    }

    /// The least positive finite Float `s` with `s × steps >= width` (or the largest finite Float).
    private static func coveringScale(width: Double, steps: Double) -> Float {
        var s = Float(width / steps)
        if !s.isFinite { return .greatestFiniteMagnitude }
        if s == 0 { s = .leastNonzeroMagnitude }
        while Double(s) * steps < width, s < .greatestFiniteMagnitude { s = s.nextUp }
        return s
    }
}
