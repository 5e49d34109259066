import Codecs
import ModelIR

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// K-means for pruned tensors: zero is a fixed centroid, and the surviving weights share the other
/// 2^bits - 1 values, so pruned weights stay exactly zero.
enum ZeroPreservingKMeans {
    /// O(n log n) for the kernel's sort, plus O(n log k) to assign.
    static func quantize(_ values: [Float], options: KMeansQuantizer.Options) -> Palettized {
        let k = 1 << options.bits
        let nonzero = values.filter { $0 != 0 }
        var o = options
        o.granularity = .perTensor
        // Cluster the survivors with the full codebook, then merge the cheapest adjacent pair (the Ward cost
        // n1 n2 / (n1 + n2) (c1 - c2)^2) to free a slot for zero.
        var centroids: [Float]
        if let p = try? KMeansQuantizer.quantize(nonzero, dims: [nonzero.count], options: o),
            let idx = try? BitPacking.unpack(p.indices, bits: p.bits, count: nonzero.count)
        {
            var sums = [Double](repeating: 0, count: p.codebook.count)
            var counts = [Double](repeating: 0, count: p.codebook.count)
            for (i, c) in idx.enumerated() where Int(c) < sums.count {
                sums[Int(c)] += Double(nonzero[i])
                counts[Int(c)] += 1
            }
            var cs: [(Double, Double)] = []
            for j in 0..<p.codebook.count where counts[j] > 0 { cs.append((sums[j] / counts[j], counts[j])) }
            cs.sort { $0.0 < $1.0 }
            while cs.count > k - 1 {
                var best = 0
                var bestCost = Double.infinity
                for j in 0..<(cs.count - 1) {
                    let (a, na) = cs[j]
                    let (b, nb) = cs[j + 1]
                    let cost = na * nb / (na + nb) * (a - b) * (a - b)
                    if cost < bestCost {
                        bestCost = cost
                        best = j
                    }
                }
                let (a, na) = cs[best]
                let (b, nb) = cs[best + 1]
                cs[best] = ((a * na + b * nb) / (na + nb), na + nb)
                cs.remove(at: best + 1)
            }
            centroids = cs.map { Float($0.0) }
        } else {
            centroids = []
        }
        centroids.append(0)
        centroids = Array(Set(centroids)).sorted()
        while centroids.count < k { centroids.append(centroids.last ?? 0) }
        // Nearest centroid by binary search over the midpoints; zeros map to the zero entry.
        let zeroIndex = centroids.firstIndex(of: 0) ?? 0
        var mids: [Float] = []
        for j in 0..<(k - 1) { mids.append((centroids[j] + centroids[j + 1]) / 2) }
        var codes = [UInt16](repeating: 0, count: values.count)
        for (i, v) in values.enumerated() {
            if v == 0 {
                codes[i] = UInt16(zeroIndex)
                continue
            }
            var lo = 0
            var hi = k - 1
            while lo < hi {
                let m = (lo + hi) / 2
                if v > mids[m] { lo = m + 1 } else { hi = m }
            }
            // Never map a surviving weight to zero when a nonzero centroid is as close.
            if lo == zeroIndex, centroids[lo] == 0 {
                let left = lo > 0 ? lo - 1 : lo
                let right = lo < k - 1 ? lo + 1 : lo
                let candidates = [left, right].filter { centroids[$0] != 0 }
                if let c = candidates.min(by: { abs(centroids[$0] - v) < abs(centroids[$1] - v) }),
                    abs(centroids[c] - v) <= abs(v)
                {
                    lo = c
                }
            }
            codes[i] = UInt16(lo)
        }
        return Palettized(
            bits: options.bits, granularity: .perTensor, codebook: centroids,
            indices: BitPacking.pack(codes, bits: options.bits))
    }
}
