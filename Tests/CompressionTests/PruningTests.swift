import Compression
import Foundation
import TestSupport
import Testing

// MARK: - Fixtures and brute-force references

/// The bit patterns, so comparisons see -0.0 and +0.0 apart.
private func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

/// `n` roughly normal weights (sum of three uniforms), seeded.
private func randomWeights(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in
        let u =
            Float.random(in: -1...1, using: &rng) + Float.random(in: -1...1, using: &rng)
            + Float.random(in: -1...1, using: &rng)
        return u * scale
    }
}

/// `n` weights drawn from a few magnitudes (multiples of 0.25 up to 1, both signs, both zeros): many ties.
private func tiedWeights(_ n: Int, seed: UInt64) -> [Float] {
    var rng = SeededGenerator(seed: seed)
    let levels: [Float] = [0, -0.0, 0.25, -0.25, 0.5, -0.5, 0.75, -0.75, 1, -1, 0.5, -0.5]
    return (0..<n).map { _ in levels[Int.random(in: 0..<levels.count, using: &rng)] }
}

private func zeroCount(_ values: [Float]) -> Int { values.reduce(0) { $0 + ($1 == 0 ? 1 : 0) } }

private func expectedTarget(_ sparsity: Double, _ n: Int) -> Int { Int((sparsity * Double(n)).rounded()) }

/// Brute force: sort indices by (|w|, index) with a comparison sort and zero the first round(s×n).
private func referenceSparsity(_ values: [Float], sparsity: Double) -> [Float] {
    let order = values.indices.sorted { (values[$0].magnitude, $0) < (values[$1].magnitude, $1) }
    var out = values
    for i in order.prefix(expectedTarget(sparsity, values.count)) where out[i] != 0 { out[i] = 0 }
    return out
}

/// Brute force over a model: order (|w|, tensor, index).
private func referenceGlobal(_ tensors: [[Float]], sparsity: Double) -> [[Float]] {
    var all: [(Float, Int, Int)] = []
    for (t, values) in tensors.enumerated() {
        for (i, x) in values.enumerated() { all.append((x.magnitude, t, i)) }
    }
    all.sort { $0 < $1 }
    var out = tensors
    for (_, t, i) in all.prefix(expectedTarget(sparsity, all.count)) where out[t][i] != 0 { out[t][i] = 0 }
    return out
}

/// The coordinate along `axis` of every flat element, by unravelling the row-major multi-index.
private func channelOfEachElement(dims: [Int], axis: Int) -> [Int] {
    let count = dims.reduce(1, *)
    var index = [Int](repeating: 0, count: dims.count)
    var out: [Int] = []
    out.reserveCapacity(count)
    for _ in 0..<count {
        out.append(index[axis])
        var d = dims.count - 1
        while d >= 0 {
            index[d] += 1
            if index[d] < dims[d] { break }
            index[d] = 0
            d -= 1
        }
    }
    return out
}

private func expectCode(
    _ code: CompressionError.Code, containing text: String, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws(CompressionError) -> Void
) {
    do {
        try body()
        Issue.record("expected a .\(code) error", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.contains(text), "\(error.message)", sourceLocation: sourceLocation)
    }
}

// MARK: - Tests

@Suite("Pruning")
struct PruningTests {
    static let sparsities: [Double] = [0, 0.1, 0.5, 0.6, 0.9, 0.999, 1]

    @Test(
        "sparsity leaves exactly round(s×n) zeros, as a sorted reference does", arguments: sparsities,
        [1, 7, 1001, 4099])
    func sparsityIsExact(sparsity: Double, n: Int) throws {
        let original = randomWeights(n, seed: UInt64(n))
        var values = original
        let result = try Pruner.sparsity(&values, sparsity: sparsity)
        let target = expectedTarget(sparsity, n)
        #expect(zeroCount(values) == target)
        #expect(result.zeroCount == target)
        #expect(result.prunedCount == target - zeroCount(original))
        #expect(result.iterations == 1)
        #expect(bits(values) == bits(referenceSparsity(original, sparsity: sparsity)))
        for (before, after) in zip(original, values) {
            if after == 0 && before != 0 {
                #expect(before.magnitude <= result.threshold)
                #expect(after.bitPattern == 0, "pruned elements become +0.0")
            } else {
                #expect(before.bitPattern == after.bitPattern)
                #expect(before == 0 || before.magnitude >= result.threshold)
            }
        }
    }

    @Test("ties: the lowest indices of equal magnitudes go first", arguments: [0.05, 0.3, 0.5, 0.77, 0.95])
    func tiesByIndex(sparsity: Double) throws {
        let original = tiedWeights(5001, seed: 42)
        var values = original
        let result = try Pruner.sparsity(&values, sparsity: sparsity)
        #expect(bits(values) == bits(referenceSparsity(original, sparsity: sparsity)))
        #expect(result.zeroCount == max(expectedTarget(sparsity, 5001), zeroCount(original)))
    }

    @Test("ties by hand: [1, -1, 1, 0.5, -1] at 40% prunes 0.5 and the first 1")
    func tiesByHand() throws {
        var values: [Float] = [1, -1, 1, 0.5, -1]
        let result = try Pruner.sparsity(&values, sparsity: 0.4)
        #expect(bits(values) == bits([0, -1, 1, 0, -1]))
        #expect(result == PruneResult(threshold: 1, prunedCount: 2, zeroCount: 2, iterations: 1))
    }

    @Test("already-sparse input: zeros count toward the target, and nothing changes if enough are zero")
    func alreadySparse() throws {
        var rng = SeededGenerator(seed: 7)
        let original: [Float] = randomWeights(2001, seed: 8).map { x in
            Double.random(in: 0..<1, using: &rng) < 0.7 ? (x < 0 ? -0.0 : 0) : x
        }
        let z0 = zeroCount(original)
        #expect(z0 > 1300 && z0 < 1500)

        var values = original
        let result = try Pruner.sparsity(&values, sparsity: 0.5)
        #expect(bits(values) == bits(original))
        #expect(result == PruneResult(threshold: 0, prunedCount: 0, zeroCount: z0))

        values = original
        let more = try Pruner.sparsity(&values, sparsity: 0.8)
        #expect(zeroCount(values) == expectedTarget(0.8, 2001))
        #expect(more.prunedCount == expectedTarget(0.8, 2001) - z0)
        #expect(bits(values) == bits(referenceSparsity(original, sparsity: 0.8)))
    }

    @Test("-0.0 counts as zero, is left as it is, and pruned negatives become +0.0")
    func negativeZero() throws {
        var values: [Float] = [-0.0, 0.5, -0.25, -0.0, 2, -3]
        let result = try Pruner.sparsity(&values, sparsity: 0.5)
        #expect(bits(values) == bits([-0.0, 0.5, 0, -0.0, 2, -3]))
        #expect(result == PruneResult(threshold: 0.25, prunedCount: 1, zeroCount: 3))

        var all: [Float] = [-0.0, -0.0, 1]
        #expect(try Pruner.sparsity(&all, sparsity: 0.5).prunedCount == 0)
        #expect(bits(all) == bits([-0.0, -0.0, 1]))

        var m: [Float] = [-0.0, -0.1, 0.1, -0.3]
        let r = try Pruner.magnitude(&m, threshold: 0.2)
        #expect(bits(m) == bits([-0.0, 0, 0, -0.3]))
        #expect(r == PruneResult(threshold: 0.2, prunedCount: 2, zeroCount: 3))
    }

    @Test("magnitude: |w| < threshold becomes 0, |w| == threshold stays")
    func magnitude() throws {
        var values: [Float] = [0.5, -0.5, 0.49999997, -0.1, 3, 0, .leastNonzeroMagnitude, -.leastNormalMagnitude / 2]
        let result = try Pruner.magnitude(&values, threshold: 0.5)
        #expect(bits(values) == bits([0.5, -0.5, 0, 0, 3, 0, 0, 0]))
        #expect(result == PruneResult(threshold: 0.5, prunedCount: 4, zeroCount: 5))

        var none: [Float] = [1, -2]
        #expect(try Pruner.magnitude(&none, threshold: 0) == PruneResult(threshold: 0, prunedCount: 0, zeroCount: 0))
        var all: [Float] = [1, -2, .greatestFiniteMagnitude]
        #expect(try Pruner.magnitude(&all, threshold: .infinity).zeroCount == 3)
        var empty: [Float] = []
        #expect(try Pruner.magnitude(&empty, threshold: 1).zeroCount == 0)
    }

    @Test("global sparsity is exact over the model and one threshold", arguments: sparsities)
    func globalSparsity(sparsity: Double) throws {
        let original: [[Float]] = [
            randomWeights(1000, seed: 1, scale: 0.1), [], tiedWeights(333, seed: 2), [0.25],
            randomWeights(4097, seed: 3, scale: 2), tiedWeights(17, seed: 4), randomWeights(255, seed: 5, scale: 0.01),
        ]
        var tensors = original
        let results = try Pruner.globalSparsity(&tensors, sparsity: sparsity)
        let total = original.reduce(0) { $0 + $1.count }
        let target = expectedTarget(sparsity, total)
        #expect(results.count == original.count)
        #expect(tensors.reduce(0) { $0 + zeroCount($1) } == max(target, original.reduce(0) { $0 + zeroCount($1) }))
        #expect(tensors.map(bits) == referenceGlobal(original, sparsity: sparsity).map(bits))
        #expect(Set(results.map(\.threshold)).count == 1)
        for (t, result) in results.enumerated() {
            #expect(result.zeroCount == zeroCount(tensors[t]))
            #expect(result.prunedCount == zeroCount(tensors[t]) - zeroCount(original[t]))
        }
        var maxPruned: Float = 0
        var minSurvivor = Float.infinity
        for (before, after) in zip(original.joined(), tensors.joined()) where before != 0 {
            if after == 0 {
                maxPruned = max(maxPruned, before.magnitude)
            } else {
                minSurvivor = min(minSurvivor, after.magnitude)
            }
        }
        #expect(maxPruned <= minSurvivor)
        #expect(maxPruned == results[0].threshold)
    }

    @Test("global sparsity: ties go by tensor index, then element index")
    func globalTies() throws {
        var tensors: [[Float]] = [[2, 1, 1], [1, -1], [0.5, 1]]
        let results = try Pruner.globalSparsity(&tensors, sparsity: 0.5)  // round(3.5) = 4
        #expect(tensors.map(bits) == [[2, 0, 0], [0, -1], [0, 1]].map(bits))
        #expect(results.map(\.prunedCount) == [2, 1, 1])
        #expect(results.allSatisfy { $0.threshold == 1 })

        var none: [[Float]] = []
        #expect(try Pruner.globalSparsity(&none, sparsity: 0.5).isEmpty)
        var empties: [[Float]] = [[], []]
        #expect(
            try Pruner.globalSparsity(&empties, sparsity: 1) == [
                PruneResult(threshold: 0, prunedCount: 0, zeroCount: 0)
            ] + [PruneResult(threshold: 0, prunedCount: 0, zeroCount: 0)])
    }

    @Test("sigma by hand: σ of the whole layer, zeros included; ±1 fall, ±2 and ±10 stay")
    func sigmaByHand() throws {
        let original: [Float] = [1, -1, 0, 2, -2, -0.0, 10, -10]
        // All 8 elements: σ² = (1+1+4+4+100+100)/8 = 26.25; after ±1 fall: 208/8 = 26, which prunes nothing more.
        var once = original
        let first = try Pruner.sigma(&once, k: 0.3, iterate: false)
        #expect(bits(once) == bits([0, 0, 0, 2, -2, -0.0, 10, -10]))
        #expect(first == PruneResult(threshold: Float(0.3 * 26.25.squareRoot()), prunedCount: 2, zeroCount: 4))

        var iterated = original
        let result = try Pruner.sigma(&iterated, k: 0.3, iterate: true)
        #expect(bits(iterated) == bits([0, 0, 0, 2, -2, -0.0, 10, -10]))
        #expect(
            result
                == PruneResult(threshold: Float(0.3 * 26.0.squareRoot()), prunedCount: 2, zeroCount: 4, iterations: 2))

        let again = try Pruner.sigma(&iterated, k: 0.3, iterate: true)
        #expect(again == PruneResult(threshold: result.threshold, prunedCount: 0, zeroCount: 4, iterations: 1))
    }

    @Test(
        "sigma with iterate is stable: every survivor ≥ threshold and a second call prunes nothing",
        arguments: [0.25, 0.5, 0.7, 1.0, 2.0])
    func sigmaStable(k: Double) throws {
        var values = randomWeights(20001, seed: 11, scale: 0.05)
        let result = try Pruner.sigma(&values, k: k, iterate: true)
        #expect(result.iterations < Pruner.maxSigmaIterations)
        #expect(values.allSatisfy { $0 == 0 || $0.magnitude >= result.threshold })
        let snapshot = values
        let again = try Pruner.sigma(&values, k: k, iterate: true)
        #expect(again.prunedCount == 0)
        #expect(again.threshold == result.threshold)
        #expect(bits(values) == bits(snapshot))
    }

    @Test("sigma converges: pruning shrinks σ, so the threshold falls round by round")
    func sigmaConverges() throws {
        let magnitudes = (1...3000).map { Float(1 / Double($0).squareRoot().squareRoot()) }
        var values = magnitudes + magnitudes.map { -$0 }
        var first = values
        let one = try Pruner.sigma(&first, k: 0.72, iterate: false)
        let result = try Pruner.sigma(&values, k: 0.72, iterate: true)
        #expect(result.iterations < Pruner.maxSigmaIterations)
        #expect(result.threshold <= one.threshold)
        #expect(try Pruner.sigma(&values, k: 0.72, iterate: false).prunedCount == 0, "stable")
        #expect(result.zeroCount < values.count, "the rule must not prune everything")
    }

    @Test("sigma edge cases: k = 0, a single nonzero weight, empty, constant")
    func sigmaEdges() throws {
        var a: [Float] = [1, -2, 3]
        #expect(try Pruner.sigma(&a, k: 0, iterate: true) == PruneResult(threshold: 0, prunedCount: 0, zeroCount: 0))
        var b: [Float] = [0, 5, -0.0]
        #expect(try Pruner.sigma(&b, k: 1, iterate: false).prunedCount == 0, "5 > σ = 2.36")
        var c: [Float] = []
        #expect(try Pruner.sigma(&c, k: 1, iterate: true).iterations == 1)
        var d: [Float] = [1, 1, 1, 1]
        #expect(try Pruner.sigma(&d, k: 100, iterate: true).prunedCount == 0, "σ = 0 prunes nothing")
    }

    @Test(
        "channels: the lowest-L1 channels along the axis are zeroed, the rest stay bit-identical",
        arguments: [([8, 3, 2, 2], 0), ([2, 2, 3, 8], 3), ([2, 2, 3, 8], -1), ([5, 7], 1), ([9], 0)],
        [0.0, 0.25, 0.5, 0.9, 1.0])
    func channels(shape: (dims: [Int], axis: Int), sparsity: Double) throws {
        let (dims, axis) = shape
        let count = dims.reduce(1, *)
        let a = axis < 0 ? axis + dims.count : axis
        let channelCount = dims[a]
        let owner = channelOfEachElement(dims: dims, axis: a)
        // Multiples of 0.25, so equal L1 norms are exactly equal; channel 2 gets channel 1's values → a tie.
        var original = tiedWeights(count, seed: UInt64(count + a))
        if channelCount > 2 {
            let one = original.indices.filter { owner[$0] == 1 }
            let two = original.indices.filter { owner[$0] == 2 }
            for (i, j) in zip(one, two) { original[j] = -original[i] }
        }
        var norms = [Double](repeating: 0, count: channelCount)
        for (i, x) in original.enumerated() { norms[owner[i]] += Double(x.magnitude) }
        let order = (0..<channelCount).sorted { (norms[$0], $0) < (norms[$1], $1) }
        let target = expectedTarget(sparsity, channelCount)
        let chosen = Set(order.prefix(target))

        var values = original
        let (zeroed, result) = try Pruner.channels(&values, dims: dims, axis: axis, sparsity: sparsity)
        let allZero = (0..<channelCount).filter { c in values.indices.allSatisfy { owner[$0] != c || values[$0] == 0 } }
        #expect(zeroed == allZero)
        #expect(Set(zeroed).isSuperset(of: chosen))
        #expect(zeroed.count == max(target, norms.filter { $0 == 0 }.count))
        for i in original.indices {
            if chosen.contains(owner[i]) {
                #expect(values[i] == 0)
                #expect(original[i] == 0 || values[i].bitPattern == 0)
            } else {
                #expect(values[i].bitPattern == original[i].bitPattern)
            }
        }
        #expect(result.zeroCount == zeroCount(values))
        #expect(result.prunedCount == zeroCount(values) - zeroCount(original))
        #expect(result.threshold == (target > 0 ? Float(norms[order[target - 1]]) : 0))
    }

    @Test("channels: already-zero channels count toward the target")
    func channelsAlreadyZero() throws {
        // 4 channels along axis 0 of [4, 2]: channel 1 and 3 are zero already.
        var values: [Float] = [1, 2, 0, -0.0, 0.5, 0.5, 0, 0]
        let (zeroed, result) = try Pruner.channels(&values, dims: [4, 2], axis: 0, sparsity: 0.25)
        #expect(zeroed == [1, 3])
        #expect(result.prunedCount == 0)
        #expect(bits(values) == bits([1, 2, 0, -0.0, 0.5, 0.5, 0, 0]))

        let (more, r) = try Pruner.channels(&values, dims: [4, 2], axis: 0, sparsity: 0.75)
        #expect(more == [1, 2, 3])
        #expect(r == PruneResult(threshold: 1, prunedCount: 2, zeroCount: 6))
        #expect(bits(values) == bits([1, 2, 0, -0.0, 0, 0, 0, 0]))
    }

    @Test(
        "every kernel rejects NaN and ±Inf with .invalidTensor and leaves the input alone",
        arguments: [Float.nan, .infinity, -.infinity])
    func nonFinite(bad: Float) {
        let original: [Float] = [0.5, -1, 2, bad, 3]
        let name = bad.isNaN ? "NaN" : (bad < 0 ? "-Inf" : "+Inf")
        let text = "\(name) at element 3"
        var v = original
        expectCode(.invalidTensor, containing: text) { () throws(CompressionError) in
            _ = try Pruner.magnitude(&v, threshold: 1)
        }
        expectCode(.invalidTensor, containing: text) { () throws(CompressionError) in
            _ = try Pruner.sparsity(&v, sparsity: 0.5)
        }
        expectCode(.invalidTensor, containing: text) { () throws(CompressionError) in
            _ = try Pruner.sigma(&v, k: 1, iterate: true)
        }
        expectCode(.invalidTensor, containing: text) { () throws(CompressionError) in
            _ = try Pruner.channels(&v, dims: [5], axis: 0, sparsity: 0.5)
        }
        expectCode(.invalidTensor, containing: text) { () throws(CompressionError) in
            _ = try Clipper.clip(&v, threshold: .percentile(50))
        }
        expectCode(.invalidTensor, containing: text) { () throws(CompressionError) in
            _ = try Clipper.clip(&v, threshold: .absolute(1))
        }
        #expect(bits(v) == bits(original))
        var model: [[Float]] = [[1, 2], original]
        expectCode(.invalidTensor, containing: "tensor #1 contains \(text)") { () throws(CompressionError) in
            _ = try Pruner.globalSparsity(&model, sparsity: 0.5)
        }
        #expect(bits(model[0]) == bits([1, 2]))
    }

    @Test("bad parameters throw .usage naming the parameter and its range")
    func badParameters() {
        var v: [Float] = [1, 2, 3, 4, 5, 6]
        for s in [-0.1, 1.0000001, .nan, .infinity] {
            expectCode(.usage, containing: "sparsity") { () throws(CompressionError) in
                _ = try Pruner.sparsity(&v, sparsity: s)
            }
            var model = [v]
            expectCode(.usage, containing: "[0, 1]") { () throws(CompressionError) in
                _ = try Pruner.globalSparsity(&model, sparsity: s)
            }
            expectCode(.usage, containing: "sparsity") { () throws(CompressionError) in
                _ = try Pruner.channels(&v, dims: [6], axis: 0, sparsity: s)
            }
        }
        for t in [Float(-1), -.leastNonzeroMagnitude, .nan] {
            expectCode(.usage, containing: "threshold") { () throws(CompressionError) in
                _ = try Pruner.magnitude(&v, threshold: t)
            }
        }
        for k in [-1, .nan, .infinity] {
            expectCode(.usage, containing: "k ≥ 0") { () throws(CompressionError) in
                _ = try Pruner.sigma(&v, k: k, iterate: false)
            }
        }
        let shapes: [([Int], Int, String)] = [
            ([2, 3], 2, "axis 2"), ([2, 3], -3, "axis -3"), ([], 0, "rank 0"), ([2, 4], 0, "hold 8 elements"),
            ([-2, -3], 0, "negative dim"), ([Int.max, 2], 0, "overflow"),
        ]
        for (dims, axis, text) in shapes {
            expectCode(.usage, containing: text) { () throws(CompressionError) in
                _ = try Pruner.channels(&v, dims: dims, axis: axis, sparsity: 0.5)
            }
        }
        #expect(bits(v) == bits([1, 2, 3, 4, 5, 6]))
    }

    @Test("same input twice gives identical bits and results")
    func deterministic() throws {
        let original = tiedWeights(3001, seed: 5).enumerated().map { $1 + Float($0 % 7) * 1e-3 }
        func run() throws -> [[UInt32]] {
            var a = original
            var b = original
            var c = original
            var d = original
            var model = [original, original]
            let r1 = try Pruner.sparsity(&a, sparsity: 0.6)
            let r2 = try Pruner.sigma(&b, k: 0.8, iterate: true)
            let r3 = try Pruner.channels(&c, dims: [3001], axis: 0, sparsity: 0.3)
            let r4 = try Clipper.clip(&d, threshold: .percentile(90))
            let r5 = try Pruner.globalSparsity(&model, sparsity: 0.4)
            let summary = [r1, r2, r3.result] + r5
            return [bits(a), bits(b), bits(c), bits(d)] + model.map(bits)
                + [summary.map { $0.threshold.bitPattern }, r3.channels.map(UInt32.init), [r4.threshold.bitPattern]]
        }
        #expect(try run() == run())
    }

    @Test(
        "timing: sparsity on 25M elements, global sparsity over 100 × 1M (set MODELPRESS_TIMING=1, use -c release)",
        .enabled(if: ProcessInfo.processInfo.environment["MODELPRESS_TIMING"] != nil))
    func timing() throws {
        let clock = ContinuousClock()
        var big = randomWeights(25_000_000, seed: 99, scale: 0.05)
        var elapsed = try clock.measure { _ = try Pruner.sparsity(&big, sparsity: 0.5) }
        print("Pruner.sparsity 25M at 0.5: \(elapsed)")
        #expect(zeroCount(big) == 12_500_000)
        big = randomWeights(25_000_000, seed: 98, scale: 0.05)
        var rounds = 0
        elapsed = try clock.measure { rounds = try Pruner.sigma(&big, k: 0.5, iterate: true).iterations }
        print("Pruner.sigma 25M k=0.5 iterated: \(elapsed), \(rounds) rounds")
        big = randomWeights(25_000_000, seed: 97, scale: 0.05)
        elapsed = try clock.measure { _ = try Pruner.magnitude(&big, threshold: 0.01) }
        print("Pruner.magnitude 25M: \(elapsed)")
        big = randomWeights(25_000_000, seed: 96, scale: 0.05)
        elapsed = try clock.measure { _ = try Pruner.channels(&big, dims: [1000, 25_000], axis: 0, sparsity: 0.5) }
        print("Pruner.channels 25M, 1000 channels on axis 0: \(elapsed)")
        big = randomWeights(25_000_000, seed: 95, scale: 0.05)
        elapsed = try clock.measure { _ = try Pruner.channels(&big, dims: [25_000, 1000], axis: 1, sparsity: 0.5) }
        print("Pruner.channels 25M, 1000 channels on the last axis: \(elapsed)")
        big = []

        var model = (0..<100).map { randomWeights(1_000_000, seed: UInt64($0), scale: Float($0 + 1) * 0.01) }
        elapsed = try clock.measure { _ = try Pruner.globalSparsity(&model, sparsity: 0.7) }
        print("Pruner.globalSparsity 100 × 1M at 0.7: \(elapsed)")
        #expect(model.reduce(0) { $0 + zeroCount($1) } == 70_000_000)
    }
}
