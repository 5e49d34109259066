import Codecs
import ModelIR

/// Weight sharing by 1-D k-means (Deep Compression): each group's values are replaced by the nearest of
/// at most `2^bits` shared values.
///
/// Lloyd's algorithm is run exactly, but in the sorted domain: each group is sorted once (radix sort on
/// the order-preserving integer image of the float bits), after which a cluster is a contiguous range
/// of the sorted values. An assignment step is `k - 1` binary searches for the midpoints between sorted
/// centroids and an update step is `k` range sums from block prefix sums, so an iteration costs
/// O(k log n) instead of O(n k). The whole quantization is O(n) for the sort, gather and final
/// assignment, plus O(iterations × k log n) per group.
public enum KMeansQuantizer {
    /// How the centroids start.
    public enum Initialization: Hashable, Sendable {
        /// Evenly spaced between the group's minimum and maximum (Deep Compression found it best).
        case linear
        /// At the quantiles `(j + 0.5) / k` of the group's values.
        case density
        /// `k` values drawn from the group with a SplitMix64 generator seeded by `seed` and the group index.
        case random(seed: UInt64)
    }

    /// What to cluster to.
    public struct Options: Hashable, Sendable {
        /// Bits per index, 1...8: up to `2^bits` centroids per group.
        public var bits: Int
        /// Which elements share a codebook:
        /// - `.perTensor`: one codebook for the whole tensor.
        /// - `.perAxis(axis:)`: one per channel along `axis` (negative counts from the end).
        /// - `.perBlock(axis:blockSize: g)`: one per group of `g` consecutive channels along `axis` (the last
        ///   group may be smaller). Note this differs from `LinearQuantizer`'s ONNX blocks.
        public var granularity: QuantizationGranularity
        public var initialization: Initialization
        /// The most Lloyd iterations per group (default 300); iteration stops earlier once the
        /// assignment no longer changes. 0 keeps the initial centroids.
        public var maxIterations: Int

        public init(
            bits: Int, granularity: QuantizationGranularity = .perTensor, initialization: Initialization = .linear,
            maxIterations: Int = 300
        ) {
            self.bits = bits
            self.granularity = granularity
            self.initialization = initialization
            self.maxIterations = maxIterations
        }
    }

    /// Clusters `values`, a row-major tensor of shape `dims`; see `quantizeReportingFallback`.
    public static func quantize(_ values: [Float], dims: [Int], options: Options) throws(CompressionError) -> Palettized
    {
        try quantizeReportingFallback(values, dims: dims, options: options).0
    }

    /// Clusters `values`, a row-major tensor of shape `dims`, and says whether any group fell back to the
    /// linear grid.
    ///
    /// Every group's codebook has `2^bits` entries sorted ascending, and each element gets the index of
    /// its nearest entry (a value exactly halfway between two entries gets the larger one; a value equal to
    /// a repeated entry gets its lowest index).
    /// - A group with at most `2^bits` distinct values gets exactly those values, padded by repeating the
    ///   largest, so it is reproduced exactly (-0 is stored as +0).
    /// - An empty cluster during Lloyd's iteration is refilled deterministically: the non-empty cluster
    ///   with the largest squared error (lowest index on ties) is split at its mean.
    /// - Never worse than linear: per group, the squared error of the k-means codebook is compared with that
    ///   of the asymmetric min/max linear grid of `bits` bits (`LinearQuantizer`'s levels
    ///   `(q - zeroPoint) × scale`, `q` in `0..<2^bits`); if the grid is strictly better, its levels are
    ///   the group's codebook and `usedLinearFallback` is true.
    ///
    /// Throws `.usage` for bits outside 1...8, a negative `maxIterations`, dims that do not match
    /// `values.count`, an axis out of range or a block size below 1, and `.invalidTensor` when a value is
    /// NaN or infinite. Deterministic: the same input gives the same bits.
    public static func quantizeReportingFallback(
        _ values: [Float], dims: [Int], options: Options
    ) throws(CompressionError) -> (Palettized, usedLinearFallback: Bool) {
        guard (1...8).contains(options.bits) else {
            throw CompressionError(.usage, "k-means to \(options.bits) bits is not supported; use 1...8 bits")
        }
        guard options.maxIterations >= 0 else {
            throw CompressionError(.usage, "maxIterations \(options.maxIterations) must not be negative")
        }
        let layout = try GroupLayout(palettized: options.granularity, dims: dims, count: values.count)
        try KernelInput.checkFinite(values)

        let k = 1 << options.bits
        var sortedKeys: [UInt32]
        let offsets: [Int]
        (sortedKeys, offsets) = gatheredKeys(values, layout: layout)  // uniquely owned: sorted in place
        var codebook = [Float](repeating: 0, count: layout.groupCount * k)
        var fallback = false
        let largest = (0..<layout.groupCount).map { offsets[$0 + 1] - offsets[$0] }.max() ?? 0
        var scratch = [UInt32](repeating: 0, count: largest)
        sortedKeys.withUnsafeMutableBufferPointer { all in
            scratch.withUnsafeMutableBufferPointer { tmp in
                for g in 0..<layout.groupCount {
                    let segment = UnsafeMutableBufferPointer(rebasing: all[offsets[g]..<offsets[g + 1]])
                    RadixSort.sort(segment, scratch: UnsafeMutableBufferPointer(rebasing: tmp[0..<segment.count]))
                    for i in segment.indices { segment[i] = FloatKey.float(segment[i]).bitPattern }
                    let (centroids, usedGrid) = segment.withMemoryRebound(to: Float.self) { sorted in
                        clusterGroup(UnsafeBufferPointer(sorted), group: g, options: options)
                    }
                    fallback = fallback || usedGrid
                    codebook.replaceSubrange((g * k)..<((g + 1) * k), with: centroids)
                }
            }
        }
        let indices = nearestIndices(values, layout: layout, codebook: codebook, bits: options.bits)
        let palettized = Palettized(
            bits: options.bits, granularity: layout.granularity, codebook: codebook,
            indices: BitPacking.pack(indices, bits: options.bits))
        return (palettized, fallback)
    }

    /// Reconstructs the values of `p`, a tensor of shape `dims`: `codebook[group × 2^bits + index]`.
    ///
    /// The granularity means what it means for `Options.granularity`. Throws `.invalidTensor` when the
    /// codebook size, index buffer or axis does not fit `dims`. O(n).
    public static func dequantize(_ p: Palettized, dims: [Int]) throws(CompressionError) -> [Float] {
        guard (1...16).contains(p.bits) else {
            throw CompressionError(.invalidTensor, "palette indices of \(p.bits) bits are outside 1...16")
        }
        let count = try KernelInput.elementCount(dims, code: .invalidTensor)
        let layout: GroupLayout
        do {
            layout = try GroupLayout(palettized: p.granularity, dims: dims, count: count)
        } catch {
            throw CompressionError(.invalidTensor, error.message)
        }
        let k = 1 << p.bits
        let (needed, overflow) = layout.groupCount.multipliedReportingOverflow(by: k)
        guard !overflow, p.codebook.count == needed else {
            throw CompressionError(
                .invalidTensor,
                "the palette holds \(p.codebook.count) values but \(layout.groupCount) groups of "
                    + "\(k) entries are needed for shape \(dims) with \(p.granularity)")
        }
        let indices = try codec { () throws(CodecError) in try BitPacking.unpack(p.indices, bits: p.bits, count: count)
        }
        return [Float](unsafeUninitializedCapacity: count) { out, initialized in
            indices.withUnsafeBufferPointer { idx in
                p.codebook.withUnsafeBufferPointer { book in
                    layout.forEachRun { base, stride, run in
                        if stride == 0 {
                            let table = UnsafeBufferPointer(rebasing: book[(base * k)..<((base + 1) * k)])
                            for i in run { out[i] = table[Int(idx[i])] }
                        } else {
                            for i in run { out[i] = book[(base + i - run.lowerBound) * k + Int(idx[i])] }
                        }
                    }
                }
            }
            initialized = count
        }
    }

    // MARK: - Kernels

    /// The order-preserving keys of `values`, gathered group after group; `offsets[g] ..< offsets[g + 1]`
    /// is group `g`. O(n).
    static func gatheredKeys(_ values: [Float], layout: GroupLayout) -> (keys: [UInt32], offsets: [Int]) {
        var offsets = [Int](repeating: 0, count: layout.groupCount + 1)
        layout.forEachRun { base, stride, run in
            if stride == 0 {
                offsets[base + 1] += run.count
            } else {
                for j in 0..<run.count { offsets[base + j + 1] += 1 }
            }
        }
        for g in 0..<layout.groupCount { offsets[g + 1] += offsets[g] }
        var cursor = Array(offsets.dropLast())
        let n = values.count
        let keys = [UInt32](unsafeUninitializedCapacity: n) { out, initialized in
            values.withUnsafeBufferPointer { x in
                layout.forEachRun { base, stride, run in
                    if stride == 0 {
                        var o = cursor[base]
                        for i in run {
                            out[o] = FloatKey.key(x[i])
                            o += 1
                        }
                        cursor[base] = o
                    } else {
                        for i in run {
                            let g = base + i - run.lowerBound
                            out[cursor[g]] = FloatKey.key(x[i])
                            cursor[g] += 1
                        }
                    }
                }
            }
            initialized = n
        }
        return (keys, offsets)
    }

    /// The codebook of one group from its sorted values, and whether it is the linear grid.
    static func clusterGroup(
        _ v: UnsafeBufferPointer<Float>, group: Int, options: Options
    ) -> (codebook: [Float], linearGrid: Bool) {
        let k = 1 << options.bits
        let m = v.count
        guard m > 0 else { return ([Float](repeating: 0, count: k), false) }
        if let exact = distinctValues(v, atMost: k) {
            var book = exact.map { $0 == 0 ? 0 : $0 }
            book.append(contentsOf: repeatElement(book[book.count - 1], count: k - book.count))
            return (book, false)
        }
        let sums = BlockPrefixSums(v)
        var centroids = initialCentroids(v, k: k, group: group, options.initialization)
        var previous: [Int] = []
        for _ in 0..<options.maxIterations {
            let partition = clusterBounds(v, centroids: centroids)
            if partition == previous { break }
            previous = partition
            var segments: [Range<Int>] = []
            segments.reserveCapacity(k)
            for j in 0..<k where partition[j] < partition[j + 1] { segments.append(partition[j]..<partition[j + 1]) }
            while segments.count < k, splitWorst(&segments, v, sums) {}
            centroids = segments.map { sums.mean($0) }
            // Duplicated points can leave fewer than k splittable segments only if the group has fewer
            // than k distinct values, which was handled above; pad defensively anyway.
            while centroids.count < k { centroids.append(centroids.last ?? 0) }
        }
        let book = centroids.map { c -> Float in
            let f = Float(c)
            return f == 0 ? 0 : f
        }
        let grid = AffineParameters(low: v[0], high: v[m - 1], bits: options.bits, symmetric: false)
        let levels = (0..<k).map { q -> Float in Float(Int32(q) - grid.zeroPoint) * grid.scale }
        if squaredError(v, codebook: levels) < squaredError(v, codebook: book) {
            return (levels, true)
        }
        return (book, false)
    }

    /// The distinct values of sorted `v` if there are at most `limit`, else nil. O(n).
    static func distinctValues(_ v: UnsafeBufferPointer<Float>, atMost limit: Int) -> [Float]? {
        var out: [Float] = [v[0]]
        for i in 1..<v.count where v[i] != v[i - 1] {
            if out.count == limit { return nil }
            out.append(v[i])
        }
        return out
    }

    /// Sorted initial centroids. O(k log k).
    static func initialCentroids(
        _ v: UnsafeBufferPointer<Float>, k: Int, group: Int, _ initialization: Initialization
    ) -> [Double] {
        let m = v.count
        switch initialization {
        case .linear:
            let lo = Double(v[0])
            let hi = Double(v[m - 1])
            return (0..<k).map { lo + (hi - lo) * Double($0) / Double(k - 1) }
        case .density:
            return (0..<k).map { j in Double(v[min(m - 1, Int((Double(j) + 0.5) * Double(m) / Double(k)))]) }
        case .random(let seed):
            var rng = SplitMix64(seed: seed ^ (UInt64(group) &* 0xD1B5_4A32_D192_ED03))
            return (0..<k).map { _ in Double(v[Int(rng.next() % UInt64(m))]) }.sorted()
        }
    }

    /// Cluster `j` of sorted `v` is `bounds[j] ..< bounds[j + 1]`: the values at least the midpoint below
    /// centroid `j` and below the midpoint above it. O(k log n).
    static func clusterBounds(_ v: UnsafeBufferPointer<Float>, centroids: [Double]) -> [Int] {
        let k = centroids.count
        var bounds = [Int](repeating: v.count, count: k + 1)
        bounds[0] = 0
        for j in 0..<(k - 1) {
            bounds[j + 1] = lowerBound(v, (centroids[j] + centroids[j + 1]) * 0.5, from: bounds[j])
        }
        return bounds
    }

    /// The first index `i >= from` with `v[i] >= x`, or `v.count`. O(log n).
    @inline(__always)
    static func lowerBound(_ v: UnsafeBufferPointer<Float>, _ x: Double, from: Int) -> Int {
        var lo = from
        var hi = v.count
        while lo < hi {
            let mid = lo + (hi - lo) / 2
            if Double(v[mid]) < x { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Splits the segment with the largest squared error (among those holding two or more distinct values)
    /// at its mean; false if none can be split. O(k + log n).
    static func splitWorst(_ segments: inout [Range<Int>], _ v: UnsafeBufferPointer<Float>, _ sums: BlockPrefixSums)
        -> Bool
    {
        var worst = -1
        var worstError = -1.0
        for (s, r) in segments.enumerated() where v[r.lowerBound] < v[r.upperBound - 1] {
            let e = sums.squaredError(r)
            if e > worstError {
                worst = s
                worstError = e
            }
        }
        guard worst >= 0 else { return false }
        let r = segments[worst]
        var cut = lowerBound(UnsafeBufferPointer(rebasing: v[..<r.upperBound]), sums.mean(r), from: r.lowerBound)
        if cut == r.lowerBound {
            // Rounding put the mean at the minimum: cut after the run of minimum values instead.
            let first = v[r.lowerBound]
            cut = r.lowerBound + 1
            while v[cut] == first { cut += 1 }
        }
        segments.replaceSubrange(worst...worst, with: [r.lowerBound..<cut, cut..<r.upperBound])
        return true
    }

    /// Sum of squared distances from sorted `v` to the nearest entry of sorted `codebook`. O(n + k log n).
    static func squaredError(_ v: UnsafeBufferPointer<Float>, codebook: [Float]) -> Double {
        let bounds = clusterBounds(v, centroids: codebook.map { Double($0) })
        var total = 0.0
        for j in 0..<codebook.count {
            let c = Double(codebook[j])
            var e = 0.0
            for i in bounds[j]..<bounds[j + 1] {
                let d = Double(v[i]) - c
                e += d * d
            }
            total += e
        }
        return total
    }

    /// The index of each element's nearest codebook entry, in memory order (a value exactly halfway goes
    /// to the larger entry, a value equal to a repeated entry to its lowest index).
    ///
    /// Per group, threshold `j` is the least Float at or above the midpoint of entries `j` and `j + 1`
    /// (so a Float comparison decides exactly as the real midpoint would); an element's index is the number
    /// of thresholds at or below it, found by a branchless binary search: O(n × bits).
    static func nearestIndices(_ values: [Float], layout: GroupLayout, codebook: [Float], bits: Int) -> [UInt16] {
        let k = 1 << bits
        var thresholds = [Float](repeating: .infinity, count: layout.groupCount * k)
        for g in 0..<layout.groupCount {
            for j in 0..<(k - 1) {
                let a = codebook[g * k + j]
                let b = codebook[g * k + j + 1]
                guard a < b else {
                    thresholds[g * k + j] = a.nextUp
                    continue
                }
                let middle = (Double(a) + Double(b)) * 0.5
                var t = Float(middle)
                if Double(t) < middle { t = t.nextUp }
                thresholds[g * k + j] = t
            }
        }
        let n = values.count
        return [UInt16](unsafeUninitializedCapacity: n) { out, initialized in
            values.withUnsafeBufferPointer { x in
                thresholds.withUnsafeBufferPointer { t in
                    guard let first = t.baseAddress else { return }
                    layout.forEachRun { base, stride, run in
                        if stride == 0 {
                            let table = first + base * k
                            for i in run { out[i] = search(table, k, x[i]) }
                        } else {
                            for i in run { out[i] = search(first + (base + i - run.lowerBound) * k, k, x[i]) }
                        }
                    }
                }
            }
            initialized = n
        }
    }

    /// The number of the `k` ascending `thresholds` at or below `x` (the last threshold is +inf).
    /// O(log k), branchless: the comparison result is turned into an index bit arithmetically, so there is
    /// no data-dependent branch to mispredict and searches for consecutive elements overlap in the CPU.
    @inline(__always)
    private static func search(_ thresholds: UnsafePointer<Float>, _ k: Int, _ x: Float) -> UInt16 {
        var index = 0
        var shift = k.trailingZeroBitCount
        while shift > 0 {
            shift &-= 1
            let above = unsafeBitCast(thresholds[index | ((1 &<< shift) &- 1)] <= x, to: UInt8.self)
            index |= Int(above) &<< shift
        }
        return UInt16(truncatingIfNeeded: index)
    }
}

// MARK: - Support
