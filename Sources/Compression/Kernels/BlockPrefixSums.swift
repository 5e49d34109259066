import Codecs
import ModelIR

/// Prefix sums of a sorted group at every `blockSize`-th element, in Double: a range sum costs O(blockSize)
/// memory-wise at `n / blockSize` Doubles instead of `n`.
struct BlockPrefixSums {
    static let blockSize = 64
    let values: UnsafeBufferPointer<Float>
    /// `sums[t]` is the sum of the first `t × blockSize` values; `squares[t]` of their squares.
    let sums: [Double]
    let squares: [Double]

    /// O(n).
    init(_ values: UnsafeBufferPointer<Float>) {
        self.values = values
        let blocks = values.count / Self.blockSize
        var sums = [Double](repeating: 0, count: blocks + 1)
        var squares = [Double](repeating: 0, count: blocks + 1)
        var s = 0.0
        var q = 0.0
        for t in 0..<blocks {
            var bs = 0.0
            var bq = 0.0
            for i in (t * Self.blockSize)..<((t + 1) * Self.blockSize) {
                let x = Double(values[i])
                bs += x
                bq += x * x
            }
            s += bs
            q += bq
            sums[t + 1] = s
            squares[t + 1] = q
        }
        self.sums = sums
        self.squares = squares
    }

    /// Sum and sum of squares of the first `i` values. O(blockSize).
    @inline(__always)
    func prefix(_ i: Int) -> (sum: Double, squares: Double) {
        let t = i / Self.blockSize
        var s = sums[t]
        var q = squares[t]
        for j in (t * Self.blockSize)..<i {
            let x = Double(values[j])
            s += x
            q += x * x
        }
        return (s, q)
    }

    /// Sum and sum of squares over `r`; short ranges are summed directly for accuracy. O(blockSize).
    func totals(_ r: Range<Int>) -> (sum: Double, squares: Double) {
        if r.count <= 4 * Self.blockSize {
            var s = 0.0
            var q = 0.0
            for i in r {
                let x = Double(values[i])
                s += x
                q += x * x
            }
            return (s, q)
        }
        let a = prefix(r.lowerBound)
        let b = prefix(r.upperBound)
        return (b.sum - a.sum, b.squares - a.squares)
    }

    /// The mean of non-empty `r`, clamped into the range of its values.
    func mean(_ r: Range<Int>) -> Double {
        let m = totals(r).sum / Double(r.count)
        return min(max(m, Double(values[r.lowerBound])), Double(values[r.upperBound - 1]))
    }

    /// The sum of squared deviations from the mean over non-empty `r` (approximate for long ranges).
    func squaredError(_ r: Range<Int>) -> Double {
        let t = totals(r)
        return max(0, t.squares - t.sum * t.sum / Double(r.count))
    }
}
