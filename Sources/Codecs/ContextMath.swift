/// Integer logistic functions and hashes of the context coder (`schemas/mpz-context.md`, section 2).
///
/// Everything is integer arithmetic so every machine computes the same model, bit for bit.
enum ContextMath {
    /// `squash` at the 33 knots d = -2048, -1920, ..., 2048 (4096 / (1 + e^(-d/256))).
    static let squashKnots: [Int] = [
        1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047,
        2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094,
    ]

    /// The logistic function: a 12-bit probability from a stretched value `d` (units of 1/256). O(1).
    static func squashExact(_ d: Int) -> Int {
        if d > 2047 { return 4095 }
        if d < -2047 { return 1 }
        let w = d & 127
        let k = (d >> 7) + 16
        return (squashKnots[k] * (128 - w) + squashKnots[k + 1] * w + 64) >> 7
    }

    /// `squash(d - 2048)` for d in 0..<4096.
    static func makeSquashTable() -> [Int32] {
        (0..<4096).map { Int32(squashExact($0 - 2048)) }
    }

    /// The inverse of `squash`: for each 12-bit probability p the smallest d with squash(d) >= p, in -2047...2047.
    static func makeStretchTable() -> [Int16] {
        var table = [Int16](repeating: 2047, count: 4096)
        var next = 0
        for d in -2047...2047 {
            let v = squashExact(d)
            if v >= next {
                for p in next...v { table[p] = Int16(d) }
                next = v + 1
            }
        }
        return table
    }

    /// Learning steps of the adaptive counters: `131072 / (2n + 3)`, the rate 1 / (n + 1.5) in 16-bit fixed point.
    static func makeReciprocalTable() -> [Int32] {
        (0..<1024).map { Int32(131_072 / (2 * $0 + 3)) }
    }

    /// Finalizes a 32-bit context hash (a multiply-xorshift mix). O(1).
    @inline(__always)
    static func mix(_ x: UInt32) -> UInt32 {
        var h = x &* 0x9E37_79B1
        h ^= h >> 15
        h = h &* 0x2C1B_3C6D
        h ^= h >> 13
        return h
    }

    /// Combines a context number, a value and the running hash into a new context hash. O(1).
    @inline(__always)
    static func combine(_ h: UInt32, _ v: UInt32) -> UInt32 {
        mix(h &+ v &* 0x0100_0193)
    }

    /// ceil(log2(n)) for n >= 1.
    static func ceilLog2(_ n: Int) -> Int {
        var bits = 0
        while (1 << bits) < n { bits += 1 }
        return bits
    }
}
