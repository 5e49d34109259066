import Foundation
import ModelIR

/// Data and brute-force references shared by the quantizer tests.
public enum QuantTestData {
    /// Standard normal samples (Box-Muller), seeded.
    public static func gaussian(count: Int, seed: UInt64) -> [Float] {
        var rng = SeededGenerator(seed: seed)
        return (0..<count).map { _ in
            let u = Double.random(in: Double.ulpOfOne..<1, using: &rng)
            let v = Double.random(in: 0..<1, using: &rng)
            return Float((-2 * Foundation.log(u)).squareRoot() * cos(2 * Double.pi * v))
        }
    }

    /// Gaussian data with about `zeroFraction` of the elements set to exactly zero (as after pruning).
    public static func pruned(count: Int, seed: UInt64, zeroFraction: Double = 0.2) -> [Float] {
        var values = gaussian(count: count, seed: seed)
        var rng = SeededGenerator(seed: seed ^ 0xABCD)
        for i in values.indices where Double.random(in: 0..<1, using: &rng) < zeroFraction { values[i] = 0 }
        return values
    }

    /// The multi-index of flat element `i` of a row-major tensor of `dims`.
    public static func unravel(_ i: Int, _ dims: [Int]) -> [Int] {
        var rest = i
        var index = [Int](repeating: 0, count: dims.count)
        for k in dims.indices.reversed() {
            index[k] = rest % dims[k]
            rest /= dims[k]
        }
        return index
    }

    public static func ravel(_ index: [Int], _ dims: [Int]) -> Int {
        var flat = 0
        for k in dims.indices { flat = flat * dims[k] + index[k] }
        return flat
    }

    /// The parameter group of every element, from the definitions, by multi-index. `linear`: `.perBlock` is
    /// ONNX blocked quantization; otherwise a group of channels.
    public static func groups(dims: [Int], granularity: QuantizationGranularity, linear: Bool) -> (
        of: [Int], count: Int
    ) {
        let n = dims.reduce(1, *)
        switch granularity {
        case .perTensor:
            return ([Int](repeating: 0, count: n), 1)
        case .perAxis(let axis):
            let a = axis < 0 ? axis + dims.count : axis
            return ((0..<n).map { unravel($0, dims)[a] }, dims[a])
        case .perBlock(let axis, let blockSize):
            let a = axis < 0 ? axis + dims.count : axis
            let blocks = (dims[a] + blockSize - 1) / blockSize
            if !linear { return ((0..<n).map { unravel($0, dims)[a] / blockSize }, blocks) }
            var scaleDims = dims
            scaleDims[a] = blocks
            let of = (0..<n).map { i -> Int in
                var index = unravel(i, dims)
                index[a] /= blockSize
                return ravel(index, scaleDims)
            }
            return (of, scaleDims.reduce(1, *))
        }
    }

    /// Mean squared error of `b` against `a`, a plain loop in Double (independent of `ErrorMetrics`).
    public static func mse(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "mse of tensors of different sizes")
        guard !a.isEmpty else { return 0 }
        var sum = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            sum += d * d
        }
        return sum / Double(a.count)
    }

    /// The `count` codes of `bits` bits packed low bits first (code i in bits `i*bits ..< (i+1)*bits` of the
    /// little-endian bit stream), read one bit at a time; `signed` sign-extends them. Independent of
    /// `BitPacking`.
    public static func unpackCodes(_ packed: [UInt8], bits: Int, count: Int, signed: Bool) -> [Int32] {
        (0..<count).map { i in
            var code: Int32 = 0
            for k in 0..<bits {
                let bit = i * bits + k
                if packed[bit / 8] >> UInt8(bit % 8) & 1 == 1 { code |= 1 << Int32(k) }
            }
            if signed && code & (1 << Int32(bits - 1)) != 0 { code -= 1 << Int32(bits) }
            return code
        }
    }

    /// Sum of squared errors over the elements of one group.
    public static func groupError(_ a: [Float], _ b: [Float], groups: [Int], group: Int) -> Double {
        var e = 0.0
        for i in a.indices where groups[i] == group {
            let d = Double(a[i]) - Double(b[i])
            e += d * d
        }
        return e
    }

    /// Channel `c` scaled by `10^(c - channels + 1)` along `axis`: wildly different ranges per channel.
    public static func spreadChannels(dims: [Int], axis: Int, seed: UInt64) -> [Float] {
        var values = gaussian(count: dims.reduce(1, *), seed: seed)
        for i in values.indices {
            let c = unravel(i, dims)[axis]
            values[i] *= Float(pow(10.0, Double(c - dims[axis] + 1)))
        }
        return values
    }
}
