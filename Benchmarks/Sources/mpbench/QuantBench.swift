import Compression
import Glibc
import ModelIR

/// `mpbench quantizers [--elements N]`: linear and k-means quantizer times on N seeded Gaussian floats
/// (default 25,000,000), one run each: 8-bit per-channel linear (and its dequantization, and with the MSE range
/// search), 4-bit asymmetric blocks of 32, k-means per tensor at 2, 4 and 8 bits, and 4-bit k-means per channel.
/// (These were timing loops inside the quantizer tests, which asserted nothing; timings belong here.)
func quantizerBench(_ arguments: [String]) {
    var n = 25_000_000
    if let i = arguments.firstIndex(of: "--elements"), i + 1 < arguments.count, let v = Int(arguments[i + 1]),
        v >= 32_000
    {
        n = v / 32_000 * 32_000
    }
    let base = gaussian(count: 1 << 16, seed: 9)
    let channels = 1000
    let big = (0..<n).map { base[$0 & 0xFFFF] * Float(1 + $0 % 7) }
    let dims = [channels, n / channels]
    func time(_ label: String, _ body: () throws -> Void) {
        let t0 = monotonicSeconds()
        do {
            try body()
        } catch {
            print("case=\(label) error=\(error)")
            return
        }
        let s = monotonicSeconds() - t0
        print("case=\(label) elements=\(n) seconds=\(formatted(s)) MBps=\(formatted(Double(n * 4) / 1e6 / s))")
    }
    var q: LinearQuantized?
    time("linear8-per-channel") {
        q = try LinearQuantizer.quantize(big, dims: dims, options: .init(bits: 8, granularity: .perAxis(axis: 0)))
    }
    if let q { time("linear8-dequantize") { _ = try LinearQuantizer.dequantize(q, dims: dims) } }
    time("linear8-per-channel-mse") {
        _ = try LinearQuantizer.quantize(
            big, dims: dims, options: .init(bits: 8, granularity: .perAxis(axis: 0), range: .mse))
    }
    time("linear4-blocks32") {
        _ = try LinearQuantizer.quantize(
            big, dims: [n / 32, 32],
            options: .init(bits: 4, symmetric: false, granularity: .perBlock(axis: 1, blockSize: 32)))
    }
    var rng = SplitMix(seed: 10)
    let jittered = (0..<n).map { base[$0 & 0xFFFF] * (0.5 + Float(rng.next() >> 40) / Float(1 << 24)) }
    for bits in [2, 4, 8] {
        time("kmeans\(bits)-per-tensor") {
            _ = try KMeansQuantizer.quantize(jittered, dims: [n], options: .init(bits: bits))
        }
    }
    time("kmeans4-per-channel") {
        _ = try KMeansQuantizer.quantize(
            jittered, dims: dims, options: .init(bits: 4, granularity: .perAxis(axis: 0)))
    }
}

/// Seeded standard-normal samples (Box-Muller over SplitMix64).
private func gaussian(count: Int, seed: UInt64) -> [Float] {
    var rng = SplitMix(seed: seed)
    return (0..<count).map { _ in
        let u = max(Double(rng.next() >> 11) / Double(1 << 53), Double.ulpOfOne)
        let v = Double(rng.next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u)).squareRoot() * cos(2 * Double.pi * v))
    }
}

private struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
