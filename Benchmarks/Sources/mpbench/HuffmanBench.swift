import Codecs
import Compression
import Glibc
import ModelIR

/// `mpbench huffman [--symbols N] [--runs R]`: symbol coder size and single-core throughput on seeded,
/// realistic symbol streams (64 Mi symbols by default), and the plane coder on Gaussian float32.
///
/// One line per case; MB/s count 1e6 symbols (or input bytes, for planes) per second; the median of R runs.
func huffmanBench(_ arguments: [String]) {
    var symbols = 64 << 20
    var runs = 3
    var i = 0
    while i < arguments.count {
        let value = i + 1 < arguments.count ? Int(arguments[i + 1]) : nil
        switch (arguments[i], value) {
        case ("--symbols", let v?): symbols = max(1, v)
        case ("--runs", let v?): runs = max(1, v)
        default:
            print("usage: mpbench huffman [--symbols N] [--runs R]")
            return
        }
        i += 2
    }
    do {
        for c in ["gauss8", "kmeans4", "pruned90-4", "pruned50-8"] { try benchSymbols(c, count: symbols, runs: runs) }
        try benchRawBytes(count: symbols, runs: runs)
        try benchPlanes(count: symbols / 4, runs: runs)
    } catch {
        print("error=\(error)")
    }
}

/// Gaussian weights N(0, 1) (Box-Muller on SplitMix64), the same for every run.
private func gaussianWeights(_ n: Int, seed: UInt64) -> [Float] {
    var state = seed
    func next() -> Double {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return (Double((z ^ (z >> 31)) >> 11) + 0.5) / 9_007_199_254_740_992
    }
    return [Float](unsafeUninitializedCapacity: n) { out, done in
        var j = 0
        while j < n {
            let r = sqrt(-2 * log(next()))
            let t = 2 * Double.pi * next()
            out[j] = Float(r * cos(t))
            if j + 1 < n { out[j + 1] = Float(r * sin(t)) }
            j += 2
        }
        done = n
    }
}

/// Packed codes of a realistic case, from the real quantizers.
private func makeCase(_ name: String, count: Int) throws(CompressionError) -> (packed: TensorBuffer, bits: Int) {
    var w = gaussianWeights(count, seed: 1)
    switch name {
    case "gauss8":
        let q = try LinearQuantizer.quantize(w, dims: [count], options: .init(bits: 8))
        return (q.codes, 8)
    case "kmeans4":
        let p = try KMeansQuantizer.quantize(w, dims: [count], options: .init(bits: 4, maxIterations: 30))
        return (p.indices, 4)
    case "pruned90-4":
        _ = try Pruner.sparsity(&w, sparsity: 0.9)
        let q = try LinearQuantizer.quantize(w, dims: [count], options: .init(bits: 4))
        return (q.codes, 4)
    default:
        _ = try Pruner.sparsity(&w, sparsity: 0.5)
        let q = try LinearQuantizer.quantize(w, dims: [count], options: .init(bits: 8))
        return (q.codes, 8)
    }
}

private func seconds(_ d: Duration) -> Double {
    let c = d.components
    return Double(c.seconds) + Double(c.attoseconds) * 1e-18
}

private func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }

private func fmt(_ x: Double, _ digits: Int = 3) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (x * scale).rounded() / scale
    return "\(r)"
}

private func benchSymbols(_ name: String, count: Int, runs: Int) throws {
    let (packed, bits) = try makeCase(name, count: count)
    let clock = ContinuousClock()
    var encodeTimes: [Double] = []
    var decodeTimes: [Double] = []
    var result: (block: TensorBuffer, stats: SymbolCodingStats)?
    for _ in 0..<runs {
        let t0 = clock.now
        let r = try SymbolCoder.encode(packed: packed, bits: bits, count: count)
        encodeTimes.append(seconds(clock.now - t0))
        result = r
    }
    guard let (block, stats) = result else { return }
    var ok = true
    for _ in 0..<runs {
        let t0 = clock.now
        let back = try block.withUnsafeBytes { b in
            try SymbolCoder.decode(b, bits: bits, count: count, threads: 1)
        }
        decodeTimes.append(seconds(clock.now - t0))
        if back != packed { ok = false }
    }
    let n = Double(count)
    print(
        "case=\(name) symbols=\(count) bits=\(bits) mode=\(stats.mode)"
            + " coded_bits_per_symbol=\(fmt(Double(block.count * 8) / n, 4))"
            + " entropy_bits_per_symbol=\(fmt(stats.entropyBits / n, 4))"
            + " encode_MBps=\(fmt(n / 1e6 / median(encodeTimes), 1))"
            + " decode_MBps=\(fmt(n / 1e6 / median(decodeTimes), 1))" + (ok ? "" : " ROUNDTRIP=FAILED"))
}

/// The bare Huffman block (`Huffman.encode(bytes:)`) on the 8-bit Gaussian codes: the decoder's own speed.
private func benchRawBytes(count: Int, runs: Int) throws {
    let (packed, _) = try makeCase("gauss8", count: count)
    let clock = ContinuousClock()
    var encodeTimes: [Double] = []
    var decodeTimes: [Double] = []
    var block = TensorBuffer(copying: [])
    for _ in 0..<runs {
        let t0 = clock.now
        block = packed.withUnsafeBytes { Huffman.encode(bytes: $0) }
        encodeTimes.append(seconds(clock.now - t0))
    }
    var ok = true
    for _ in 0..<runs {
        let t0 = clock.now
        let back = try block.withUnsafeBytes { b in
            try Huffman.decodeBytes(b, count: count, threads: 1)
        }
        decodeTimes.append(seconds(clock.now - t0))
        if back != packed { ok = false }
    }
    let t0 = clock.now
    _ = try block.withUnsafeBytes { b in try Huffman.decodeBytes(b, count: count, threads: 2) }
    let twoThreads = seconds(clock.now - t0)
    let n = Double(count)
    print(
        "case=gauss8-huffman-block symbols=\(count) bits=8 mode=plain"
            + " coded_bits_per_symbol=\(fmt(Double(block.count * 8) / n, 4))"
            + " encode_MBps=\(fmt(n / 1e6 / median(encodeTimes), 1))"
            + " decode_MBps=\(fmt(n / 1e6 / median(decodeTimes), 1))"
            + " decode_2threads_MBps=\(fmt(n / 1e6 / twoThreads, 1))" + (ok ? "" : " ROUNDTRIP=FAILED"))
}

private func benchPlanes(count: Int, runs: Int) throws {
    let w = gaussianWeights(count, seed: 2).map { $0 * 0.05 }
    let bytes = w.withUnsafeBytes { TensorBuffer(copying: $0) }
    let clock = ContinuousClock()
    var encodeTimes: [Double] = []
    var decodeTimes: [Double] = []
    var result: (block: TensorBuffer, stats: PlaneCodingStats)?
    for _ in 0..<runs {
        let t0 = clock.now
        result = bytes.withUnsafeBytes { PlaneCoder.encode($0, elementWidth: 4) }
        encodeTimes.append(seconds(clock.now - t0))
    }
    guard let (block, stats) = result else { return }
    var ok = true
    for _ in 0..<runs {
        let t0 = clock.now
        let back = try block.withUnsafeBytes { b in
            try PlaneCoder.decode(b, elementWidth: 4, byteCount: bytes.count, threads: 1)
        }
        decodeTimes.append(seconds(clock.now - t0))
        if back != bytes { ok = false }
    }
    let mb = Double(bytes.count) / 1e6
    print(
        "case=planes-float32-gauss bytes=\(bytes.count) transform=\(stats.transform)"
            + " planes=\(stats.planes.joined(separator: ","))"
            + " coded_ratio=\(fmt(Double(block.count) / Double(bytes.count), 4))"
            + " encode_MBps=\(fmt(mb / median(encodeTimes), 1))"
            + " decode_MBps=\(fmt(mb / median(decodeTimes), 1))" + (ok ? "" : " ROUNDTRIP=FAILED"))
}
