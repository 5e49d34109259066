/// The magnitude bits of a float as an order-preserving key: for finite values, `key(a) < key(b)` iff |a| < |b|.
enum MagnitudeKey {
    static let highShift: UInt32 = 15
    static let highBins = 1 << 16
    static let lowBins = 1 << 15

    @inline(__always)
    static func key(_ x: Float) -> UInt32 { x.bitPattern & 0x7FFF_FFFF }

    /// 1 if 1 ≤ `key` < t, else 0, where `limit` is t - 1 (0 when t = 0): `key - 1 < t - 1` with wrapping, as an
    /// integer so that callers can mask with `cut - 1` instead of branching on unpredictable data.
    @inline(__always)
    static func below(_ key: UInt32, limit: UInt32) -> UInt32 { (key &- 1) < limit ? 1 : 0 }

    /// 1 if `key` is 0 (either zero), else 0.
    @inline(__always)
    static func isZero(_ key: UInt32) -> UInt32 { key == 0 ? 1 : 0 }

    /// The `rank`-th smallest key (1-based) over the buffers `visit` presents, and how many keys are below it.
    ///
    /// `visit` calls its argument once per buffer, in the same order each time; `rank` must be in 1...total.
    /// Complexity: O(total), two passes (16 high bits, then the 15 low bits of the one bucket that holds the rank).
    static func select(
        rank: Int, _ visit: ((UnsafeBufferPointer<Float>) -> Void) -> Void
    ) -> (key: UInt32, below: Int) {
        var histogram = [Int](repeating: 0, count: highBins)
        return histogram.withUnsafeMutableBufferPointer { h in
            visit { buf in
                for x in buf { h[Int(truncatingIfNeeded: key(x) &>> highShift)] &+= 1 }
            }
            var below = 0
            var high = 0
            while high < highBins - 1, below + h[high] < rank {
                below += h[high]
                high += 1
            }
            for i in 0..<lowBins { h[i] = 0 }
            let bucket = UInt32(truncatingIfNeeded: high)
            visit { buf in
                for x in buf {
                    let k = key(x)
                    if k &>> highShift == bucket { h[Int(truncatingIfNeeded: k & 0x7FFF)] &+= 1 }
                }
            }
            var low = 0
            while low < lowBins - 1, below + h[low] < rank {
                below += h[low]
                low += 1
            }
            return (bucket &<< highShift | UInt32(truncatingIfNeeded: low), below)
        }
    }
}
