/// What a pruning kernel did to one tensor.
public struct PruneResult: Hashable, Sendable {
    /// The magnitude threshold finally applied: elements with |w| below it, or selected by rank among those equal
    /// to it, became 0. For `Pruner.channels` it is the L1 norm of the largest-norm channel selected.
    public var threshold: Float
    /// Elements set to zero by this call (not counting ones already zero, -0.0 included).
    public var prunedCount: Int
    /// Zeros after the call (-0.0 counts as zero).
    public var zeroCount: Int
    /// Rounds of threshold computation: 1 unless iterated (`Pruner.sigma` with `iterate`).
    public var iterations: Int

    public init(threshold: Float, prunedCount: Int, zeroCount: Int, iterations: Int = 1) {
        self.threshold = threshold
        self.prunedCount = prunedCount
        self.zeroCount = zeroCount
        self.iterations = iterations
    }
}

/// Pruning kernels: set weights to zero by magnitude, by rank, by Han et al.'s σ rule, or by whole channels.
///
/// Every kernel rejects NaN and ±Inf with `.invalidTensor` and bad parameters with `.usage` before it changes
/// anything. -0.0 counts as zero; pruned elements become +0.0; elements that are already zero are left
/// bit-identical. Kernels are deterministic and single-threaded (the pass manager parallelises over tensors).
public enum Pruner {
    /// The most rounds `sigma(_:k:iterate:)` runs; `iterations == maxSigmaIterations` means it stopped there
    /// without confirming that nothing more falls below the threshold.
    public static let maxSigmaIterations = 100

    /// Sets every element with |w| < `threshold` to +0.0.
    ///
    /// Complexity: O(n), two passes.
    public static func magnitude(_ values: inout [Float], threshold: Float) throws(CompressionError) -> PruneResult {
        guard !threshold.isNaN, threshold >= 0 else {
            throw CompressionError(
                .usage,
                "pruning threshold \(threshold) is invalid; give a magnitude ≥ 0 (elements with |w| below it become 0)")
        }
        try checkFinite(values)
        let t = MagnitudeKey.key(threshold)
        let (pruned, zeros) = values.withUnsafeMutableBufferPointer { buf in pruneBelow(buf, key: t) }
        return PruneResult(threshold: threshold, prunedCount: pruned, zeroCount: zeros)
    }

    /// Zeroes the smallest |w| until exactly round(`sparsity` × n) elements are zero, ties by lower index first.
    ///
    /// Already-zero elements count toward the target; if more are zero than asked, nothing changes. The order is
    /// (|w|, element index), so the result is deterministic. `threshold` in the result is the largest |w| pruned:
    /// every element below it became zero, and the lowest-index elements equal to it as the rank required.
    ///
    /// Complexity: O(n) time, four passes (a two-level radix selection over the 31 magnitude bits of each float,
    /// then one pass that zeroes); O(1) extra memory (a 64 Ki-entry histogram).
    public static func sparsity(_ values: inout [Float], sparsity: Double) throws(CompressionError) -> PruneResult {
        try checkSparsity(sparsity)
        try checkFinite(values)
        let n = values.count
        let target = targetCount(sparsity, of: n)
        guard target > 0 else {
            return PruneResult(threshold: 0, prunedCount: 0, zeroCount: values.withUnsafeBufferPointer(countZeros))
        }
        let selection = values.withUnsafeBufferPointer { buf in
            MagnitudeKey.select(rank: target) { visit in visit(buf) }
        }
        guard selection.key != 0 else {
            // Only already-zero elements are selected: nothing changes (and the storage is not touched).
            return PruneResult(threshold: 0, prunedCount: 0, zeroCount: values.withUnsafeBufferPointer(countZeros))
        }
        var ties = target - selection.below
        let (pruned, zeros) = values.withUnsafeMutableBufferPointer { buf in
            pruneByRank(buf, key: selection.key, ties: &ties)
        }
        return PruneResult(threshold: Float(bitPattern: selection.key), prunedCount: pruned, zeroCount: zeros)
    }

    /// Applies one magnitude threshold to a whole model: exactly round(`sparsity` × total) zeros across all tensors.
    ///
    /// The order is (|w|, tensor index, element index); already-zero elements count toward the target. Every
    /// result carries the same `threshold`: every surviving |w| is ≥ every pruned |w|. A NaN or Inf names the
    /// tensor by index in the message (`tensor #3 contains NaN at element 17 of 4096; …`).
    ///
    /// Complexity: O(total) time, four passes over every tensor; O(1) extra memory (a 64 Ki-entry histogram), no
    /// per-element scratch.
    public static func globalSparsity(
        _ tensors: inout [[Float]], sparsity: Double
    ) throws(CompressionError) -> [PruneResult] {
        try checkSparsity(sparsity)
        var total = 0
        for (t, values) in tensors.enumerated() {
            try checkFinite(values, tensor: t)
            total += values.count
        }
        let target = targetCount(sparsity, of: total)
        let selection: (key: UInt32, below: Int)
        if target > 0 {
            selection = MagnitudeKey.select(rank: target) { visit in
                for values in tensors { values.withUnsafeBufferPointer(visit) }
            }
        } else {
            selection = (0, 0)
        }
        var results: [PruneResult] = []
        results.reserveCapacity(tensors.count)
        if selection.key == 0 {
            for values in tensors {
                results.append(
                    PruneResult(threshold: 0, prunedCount: 0, zeroCount: values.withUnsafeBufferPointer(countZeros)))
            }
            return results
        }
        var ties = target - selection.below
        let threshold = Float(bitPattern: selection.key)
        for t in tensors.indices {
            let (pruned, zeros) = tensors[t].withUnsafeMutableBufferPointer { buf in
                pruneByRank(buf, key: selection.key, ties: &ties)
            }
            results.append(PruneResult(threshold: threshold, prunedCount: pruned, zeroCount: zeros))
        }
        return results
    }

    /// Han et al.'s rule: zeroes |w| < k·σ, where σ is the standard deviation of the layer's weights.
    ///
    /// σ is the population standard deviation (divided by the count, around the mean) of all elements, pruned
    /// zeros included (they are still the layer's weights), accumulated in `Double`; the threshold applied is
    /// `Float(k·σ)`. With `iterate`, σ is recomputed after each round and the rule applied again until a round
    /// prunes nothing. Pruning shrinks σ, so the threshold falls and the rounds converge (recomputing σ over the
    /// survivors alone would raise it every round and prune everything); a second call prunes nothing more.
    /// `iterations` counts the rounds, the last (pruning nothing) included, and stops at `maxSigmaIterations`.
    /// Fewer than two elements give σ = 0 and prune nothing.
    ///
    /// Complexity: O(n × iterations) time, three passes per round; O(1) extra memory.
    public static func sigma(_ values: inout [Float], k: Double, iterate: Bool) throws(CompressionError) -> PruneResult
    {
        guard k.isFinite, k >= 0 else {
            throw CompressionError(
                .usage, "sigma factor k = \(k) is invalid; give a finite k ≥ 0 (weights with |w| < k·σ become 0)")
        }
        try checkFinite(values)
        return values.withUnsafeMutableBufferPointer { buf in
            let initial = countAndSum(UnsafeBufferPointer(buf))
            var deviation = layerDeviation(UnsafeBufferPointer(buf), sum: initial.sum)
            var pruned = 0
            var zeros = 0
            var threshold: Float = 0
            var rounds = 0
            while true {
                rounds += 1
                threshold = Float(k * deviation)
                let round = pruneBelow(buf, key: MagnitudeKey.key(threshold))
                pruned += round.pruned
                zeros = round.zeros
                if !iterate || round.pruned == 0 || rounds >= maxSigmaIterations { break }
                // The same sums, in the same order, as a fresh call on the survivors: a second call prunes nothing.
                let survivors = countAndSum(UnsafeBufferPointer(buf))
                deviation = layerDeviation(UnsafeBufferPointer(buf), sum: survivors.sum)
            }
            return PruneResult(threshold: threshold, prunedCount: pruned, zeroCount: zeros, iterations: rounds)
        }
    }

    /// Zeroes whole channels along `axis` (the output-channel axis), lowest L1 norm first, ties by channel index.
    ///
    /// Channels are chosen until round(`sparsity` × channels) of them are zero; already-zero channels (L1 = 0)
    /// count toward it, and if more are zero than asked nothing changes. `axis` may be negative (counted from the
    /// end, as in ONNX); `dims` must hold exactly `values.count` elements. Returns every channel that is entirely
    /// zero after the call, ascending, and the result, whose `threshold` is the L1 norm (as `Float`) of the
    /// largest-norm channel selected, or 0 when none was. Other channels stay bit-identical.
    ///
    /// Complexity: O(n + c log c) time for c channels, three passes; O(c) extra memory.
    public static func channels(
        _ values: inout [Float], dims: [Int], axis: Int, sparsity: Double
    ) throws(CompressionError) -> (channels: [Int], result: PruneResult) {
        try checkSparsity(sparsity)
        let view = try channelView(dims: dims, axis: axis, count: values.count)
        try checkFinite(values)
        let c = view.channels
        var norms = [Double](repeating: 0, count: c)
        values.withUnsafeBufferPointer { buf in
            norms.withUnsafeMutableBufferPointer { norm in
                // The runs of `view.forEachRun`, walked directly: with channels on the last axis every run is one
                // element, and a call per element costs more than the sum.
                var start = 0
                for _ in 0..<view.outer {
                    for channel in 0..<c {
                        var s = 0.0
                        for i in start..<(start + view.inner) { s += Double(buf[i].magnitude) }
                        norm[channel] += s
                        start += view.inner
                    }
                }
            }
        }
        let order = (0..<c).sorted { a, b in norms[a] < norms[b] || (norms[a] == norms[b] && a < b) }
        let target = targetCount(sparsity, of: c)
        let alreadyZero = norms.reduce(0) { $0 + ($1 == 0 ? 1 : 0) }
        let zeroChannels = Array(order.prefix(max(target, alreadyZero))).sorted()
        let threshold = target > 0 ? Float(norms[order[target - 1]]) : 0
        guard target > alreadyZero else {
            let zeros = values.withUnsafeBufferPointer(countZeros)
            return (zeroChannels, PruneResult(threshold: threshold, prunedCount: 0, zeroCount: zeros))
        }
        var keep = [UInt32](repeating: ~0, count: c)  // a bit mask per channel: 0 for the selected ones
        for channel in order.prefix(target) { keep[channel] = 0 }
        var pruned = 0
        var zeros = 0
        values.withUnsafeMutableBufferPointer { buf in
            var start = 0
            for _ in 0..<view.outer {
                for channel in 0..<c {
                    let mask = keep[channel]
                    for i in start..<(start + view.inner) {
                        // Branch-free; zeros (-0.0 too) keep their bits.
                        let bits = buf[i].bitPattern
                        let nonzero: UInt32 = bits & 0x7FFF_FFFF != 0 ? 1 : 0
                        let kept = bits & (mask | (nonzero &- 1))
                        buf[i] = Float(bitPattern: kept)
                        pruned &+= Int(nonzero & ~mask)
                        zeros &+= kept & 0x7FFF_FFFF == 0 ? 1 : 0
                    }
                    start += view.inner
                }
            }
        }
        return (zeroChannels, PruneResult(threshold: threshold, prunedCount: pruned, zeroCount: zeros))
    }
}

// MARK: - Parameter and input checks

extension Pruner {
    static func checkSparsity(_ sparsity: Double) throws(CompressionError) {
        guard sparsity >= 0, sparsity <= 1 else {
            throw CompressionError(
                .usage,
                "sparsity \(sparsity) is out of range; give a fraction in [0, 1], e.g. 0.5 for half the weights zero")
        }
    }

    /// round(`fraction` × `n`), halves away from zero, clamped to 0...n.
    static func targetCount(_ fraction: Double, of n: Int) -> Int {
        min(n, max(0, Int((fraction * Double(n)).rounded())))
    }

    /// Checks `dims` and `axis` against the tensor, throwing `.usage`, and returns the channel view.
    static func channelView(dims: [Int], axis: Int, count: Int) throws(CompressionError) -> ChannelView {
        var product = 1
        for (k, d) in dims.enumerated() {
            guard d >= 0 else {
                throw CompressionError(
                    .usage, "dims \(dims) has a negative dim \(d) at index \(k); give the tensor's shape")
            }
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw CompressionError(.usage, "dims \(dims) overflow the element count; give the tensor's shape")
            }
            product = p
        }
        guard axis >= -dims.count, axis < dims.count else {
            let range = dims.isEmpty ? "none: a scalar has no channels" : "\(-dims.count)...\(dims.count - 1)"
            throw CompressionError(
                .usage, "axis \(axis) is out of range for a tensor of rank \(dims.count); valid axes: \(range)")
        }
        guard product == count else {
            throw CompressionError(
                .usage, "dims \(dims) hold \(product) elements but the tensor has \(count); give the tensor's shape")
        }
        do {
            return try ChannelView(dims: dims, axis: axis)
        } catch {
            throw CompressionError(.usage, error.message)
        }
    }
}

/// Throws `.invalidTensor` naming the first NaN or ±Inf in `values` (and `tensor`'s index when given).
///
/// Complexity: O(n); one vectorisable pass, a second only to locate a bad element.
func checkFinite(_ values: [Float], tensor: Int? = nil) throws(CompressionError) {
    let bad: (index: Int, value: Float)? = values.withUnsafeBufferPointer { buf in
        // An exponent of all ones (NaN or Inf) plus one exponent step carries into bit 31.
        var acc: UInt32 = 0
        for x in buf { acc |= (x.bitPattern & 0x7F80_0000) &+ 0x0080_0000 }
        guard acc & 0x8000_0000 != 0 else { return nil }
        for i in buf.indices where !buf[i].isFinite { return (i, buf[i]) }
        return nil
    }
    guard let bad else { return }
    let what = bad.value.isNaN ? "NaN" : (bad.value < 0 ? "-Inf" : "+Inf")
    let subject = tensor.map { "tensor #\($0) contains" } ?? "contains"
    throw CompressionError(
        .invalidTensor,
        "\(subject) \(what) at element \(bad.index) of \(values.count); compression needs finite weights: "
            + "repair or re-export the model, or leave this tensor out of the pass")
}

// MARK: - Kernels over buffers

/// Counts elements equal to zero (either sign). O(n).
func countZeros(_ buf: UnsafeBufferPointer<Float>) -> Int {
    var zeros = 0
    for x in buf where MagnitudeKey.key(x) == 0 { zeros += 1 }
    return zeros
}

/// Sets every nonzero element whose key is below `key` to +0.0; returns (pruned, zeros after). O(n), branch-free.
func pruneBelow(_ buf: UnsafeMutableBufferPointer<Float>, key t: UInt32) -> (pruned: Int, zeros: Int) {
    var pruned = 0
    var zeros = 0
    let limit = t == 0 ? 0 : t &- 1  // 1 ≤ k < t  ⇔  k - 1 < t - 1 (wrapping)
    for i in buf.indices {
        let bits = buf[i].bitPattern
        let k = bits & 0x7FFF_FFFF
        let cut = MagnitudeKey.below(k, limit: limit)
        buf[i] = Float(bitPattern: bits & (cut &- 1))
        pruned &+= Int(cut)
        zeros &+= Int(cut | MagnitudeKey.isZero(k))
    }
    return (pruned, zeros)
}

/// Zeroes keys below `key` and the first `ties` elements whose key equals it, decrementing `ties`.
///
/// `key` is nonzero (a zero key selects only zeros: callers change nothing then). Returns (pruned, zeros after)
/// for this buffer. O(n), branch-free but for the ties.
func pruneByRank(
    _ buf: UnsafeMutableBufferPointer<Float>, key t: UInt32, ties: inout Int
) -> (pruned: Int, zeros: Int) {
    var pruned = 0
    var zeros = 0
    var remaining = ties
    let limit = t == 0 ? 0 : t &- 1  // 1 ≤ k < t  ⇔  k - 1 < t - 1 (wrapping)
    for i in buf.indices {
        let bits = buf[i].bitPattern
        let k = bits & 0x7FFF_FFFF
        if k == t, remaining > 0, k != 0 {
            remaining -= 1
            buf[i] = 0
            pruned += 1
            zeros += 1
            continue
        }
        let cut = MagnitudeKey.below(k, limit: limit)
        buf[i] = Float(bitPattern: bits & (cut &- 1))
        pruned &+= Int(cut)
        zeros &+= Int(cut | MagnitudeKey.isZero(k))
    }
    ties = remaining
    return (pruned, zeros)
}

/// Zeros and the `Double` sum of all elements, summed in four lanes by index (i mod 4) so the additions overlap.
///
/// O(n).
func countAndSum(_ buf: UnsafeBufferPointer<Float>) -> (zeros: Int, sum: Double) {
    var zeros = 0
    @inline(__always) func term(_ i: Int) -> Double {
        let x = buf[i]
        zeros &+= MagnitudeKey.key(x) == 0 ? 1 : 0
        return Double(x)
    }
    let sum = laneSum(buf.count, term)
    return (zeros, sum)
}

/// Σ term(i) for i in 0..<n, accumulated in four lanes by i mod 4 and combined as (l0 + l1) + (l2 + l3).
@inline(__always)
func laneSum(_ n: Int, _ term: (Int) -> Double) -> Double {
    var l0 = 0.0
    var l1 = 0.0
    var l2 = 0.0
    var l3 = 0.0
    var i = 0
    while i &+ 4 <= n {
        l0 += term(i)
        l1 += term(i &+ 1)
        l2 += term(i &+ 2)
        l3 += term(i &+ 3)
        i &+= 4
    }
    if i < n { l0 += term(i) }
    if i &+ 1 < n { l1 += term(i &+ 1) }
    if i &+ 2 < n { l2 += term(i &+ 2) }
    return (l0 + l1) + (l2 + l3)
}

/// The population standard deviation of every element (zeros included) whose sum is `sum`, in `Double`.
///
/// The squared deviations from the mean are summed in `laneSum` order, so a fresh call on the same values gives
/// the same bits. O(n).
func layerDeviation(_ buf: UnsafeBufferPointer<Float>, sum: Double) -> Double {
    let count = buf.count
    guard count > 1 else { return 0 }
    let mean = sum / Double(count)
    let squares = laneSum(buf.count) { i in
        let d = Double(buf[i]) - mean
        return d * d
    }
    return (squares / Double(count)).squareRoot()
}
