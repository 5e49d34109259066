import Codecs
import Compression
import ModelIR
import TestSupport
import Testing

@Suite struct KMeansQuantizerTests {
    static let dims = [8, 150]
    static let granularities: [QuantizationGranularity] = [.perTensor, .perAxis(axis: 0), .perAxis(axis: -1)]

    /// The codebook of group `g`.
    static func group(_ p: Palettized, _ g: Int) -> [Float] {
        let k = 1 << p.bits
        return Array(p.codebook[(g * k)..<((g + 1) * k)])
    }

    @Test(arguments: 2...8, granularities)
    func neverWorseThanLinearAndSorted(bits: Int, granularity: QuantizationGranularity) throws {
        let dims = Self.dims
        let values = QuantTestData.pruned(count: dims.reduce(1, *), seed: UInt64(100 + bits))
        let (p, _) = try KMeansQuantizer.quantizeReportingFallback(
            values, dims: dims, options: .init(bits: bits, granularity: granularity))
        let back = try KMeansQuantizer.dequantize(p, dims: dims)
        let linear = try LinearQuantizer.quantize(
            values, dims: dims, options: .init(bits: bits, symmetric: false, granularity: granularity))
        let linearBack = try LinearQuantizer.dequantize(linear, dims: dims)
        let kmeansError = QuantTestData.mse(values, back)
        let linearError = QuantTestData.mse(values, linearBack)
        #expect(kmeansError <= linearError * (1 + 1e-9), "k-means \(kmeansError) vs linear \(linearError)")

        let (groupOf, groupCount) = QuantTestData.groups(dims: dims, granularity: granularity, linear: false)
        #expect(p.codebook.count == groupCount << bits)
        #expect(p.bits == bits)
        for g in 0..<groupCount {
            let book = Self.group(p, g)
            #expect(zip(book, book.dropFirst()).allSatisfy { $0 <= $1 }, "group \(g) codebook not sorted")
        }
        // Each element maps to a nearest entry of its own group's codebook (brute force).
        var failures = 0
        for i in values.indices {
            let book = Self.group(p, groupOf[i])
            let best = book.map { abs(Double($0) - Double(values[i])) }.min() ?? 0
            if abs(Double(back[i]) - Double(values[i])) > best { failures += 1 }
        }
        #expect(failures == 0)
        // On Gaussian data k-means should beat the linear grid outright.
        if bits >= 3 && granularity == .perTensor {
            #expect(kmeansError < linearError)
        }
    }

    /// With linear initialization the result is a Lloyd fixed point: every used entry is (nearly) the
    /// mean of the elements assigned to it.
    @Test(arguments: [2, 4, 6])
    func centroidsAreMeansOfTheirClusters(bits: Int) throws {
        let values = QuantTestData.gaussian(count: 5000, seed: 21)
        let (p, fallback) = try KMeansQuantizer.quantizeReportingFallback(
            values, dims: [5000], options: .init(bits: bits))
        #expect(!fallback)
        let indices = try BitPacking.unpack(p.indices, bits: bits, count: values.count)
        var sums = [Double](repeating: 0, count: 1 << bits)
        var counts = [Int](repeating: 0, count: 1 << bits)
        for (i, index) in indices.enumerated() {
            sums[Int(index)] += Double(values[i])
            counts[Int(index)] += 1
        }
        for j in 0..<(1 << bits) where counts[j] > 0 {
            let mean = sums[j] / Double(counts[j])
            #expect(abs(mean - Double(p.codebook[j])) < 1e-3, "entry \(j): \(p.codebook[j]) vs mean \(mean)")
        }
        // No entry is wasted on Gaussian data.
        #expect(counts.allSatisfy { $0 > 0 })
    }

    @Test(arguments: 1...8)
    func fewDistinctValuesAreExact(bits: Int) throws {
        var rng = SeededGenerator(seed: UInt64(bits))
        let k = 1 << bits
        for distinct in Set([1, max(1, k / 2 - 1), k]) {
            let levels = (0..<distinct).map { Float($0) * 0.37 - 3 }
            var values = (0..<3000).map { _ in levels[Int.random(in: 0..<distinct, using: &rng)] }
            values[0] = levels[distinct - 1]
            let p = try KMeansQuantizer.quantize(values, dims: [3, 1000], options: .init(bits: bits))
            #expect(try KMeansQuantizer.dequantize(p, dims: [3, 1000]) == values)
            let present = Array(Set(values)).sorted()
            let padded = present + [Float](repeating: present[present.count - 1], count: k - present.count)
            #expect(p.codebook == padded)
        }
    }

    @Test func negativeZeroIsStoredAsZero() throws {
        let values: [Float] = [-0.0, 0, 1, 2]
        let p = try KMeansQuantizer.quantize(values, dims: [4], options: .init(bits: 2))
        #expect(p.codebook.map(\.bitPattern) == [Float(0), 1, 2, 2].map(\.bitPattern))
    }

    @Test(arguments: [0, 1])
    func perAxisUsesTheRightAxis(axis: Int) throws {
        let dims = axis == 0 ? [5, 300] : [300, 5]
        let values = QuantTestData.spreadChannels(dims: dims, axis: axis, seed: 8)
        let perTensor = try KMeansQuantizer.quantize(values, dims: dims, options: .init(bits: 4))
        let perAxis = try KMeansQuantizer.quantize(
            values, dims: dims, options: .init(bits: 4, granularity: .perAxis(axis: axis)))
        let a = try KMeansQuantizer.dequantize(perTensor, dims: dims)
        let b = try KMeansQuantizer.dequantize(perAxis, dims: dims)
        let groupOf = QuantTestData.groups(dims: dims, granularity: .perAxis(axis: axis), linear: false).of
        let tensorError = QuantTestData.groupError(values, a, groups: groupOf, group: 0)
        let axisError = QuantTestData.groupError(values, b, groups: groupOf, group: 0)
        #expect(axisError * 100 < tensorError)
        // Independent reference, per channel alone: its elements map to its own codebook, and its squared
        // error lies between the exact optimum of 16-cluster k-means (dynamic programming) and textbook Lloyd's
        // from the same evenly spaced start (equal to it unless a cluster emptied and was split, which helps).
        for c in 0..<5 {
            let members = values.indices.filter { groupOf[$0] == c }
            let channel = members.map { values[$0] }
            let book = Self.group(perAxis, c)
            #expect(members.allSatisfy { book.contains(b[$0]) }, "channel \(c) uses another codebook")
            let error = NaiveKMeans.squaredError(channel, members.map { b[$0] })
            let optimal = NaiveKMeans.optimalSquaredError(channel, clusters: 16)
            #expect(error >= optimal * (1 - 1e-9), "channel \(c): \(error) beats the optimum \(optimal)?")
            let lloyd = NaiveKMeans.lloydSquaredError(channel, clusters: 16)
            #expect(error <= lloyd * (1 + 1e-9), "channel \(c): \(error) vs textbook Lloyd's \(lloyd)")
        }
    }

    /// Four well-separated clumps and 2 bits: Lloyd's from the evenly spaced start finds the clumps, which is
    /// the optimum. The optimum oracle is itself checked by trying every assignment of 9 values to 3 clusters.
    @Test func wellSeparatedClumpsReachTheOptimum() throws {
        var rng = SeededGenerator(seed: 5)
        let centres: [Float] = [-3, -1, 2, 5]
        var values = (0..<400).map { i in centres[i % 4] + Float.random(in: -0.1...0.1, using: &rng) }
        values[0] = -3.1
        values[3] = 5.1
        let p = try KMeansQuantizer.quantize(values, dims: [400], options: .init(bits: 2))
        let error = NaiveKMeans.squaredError(values, try KMeansQuantizer.dequantize(p, dims: [400]))
        let optimal = NaiveKMeans.optimalSquaredError(values, clusters: 4)
        #expect(abs(error - optimal) <= 1e-9 * optimal, "\(error) vs optimal \(optimal)")

        let tiny = (0..<9).map { _ in Float.random(in: -1...1, using: &rng) }
        var exhaustive = Double.infinity
        for code in 0..<19_683 {  // 3^9 assignments
            var sums = [Double](repeating: 0, count: 3)
            var squares = [Double](repeating: 0, count: 3)
            var counts = [Double](repeating: 0, count: 3)
            var rest = code
            for v in tiny {
                sums[rest % 3] += Double(v)
                squares[rest % 3] += Double(v) * Double(v)
                counts[rest % 3] += 1
                rest /= 3
            }
            let e = (0..<3).reduce(0.0) { $0 + (counts[$1] > 0 ? squares[$1] - sums[$1] * sums[$1] / counts[$1] : 0) }
            exhaustive = min(exhaustive, e)
        }
        #expect(abs(NaiveKMeans.optimalSquaredError(tiny, clusters: 3) - exhaustive) <= 1e-12)
    }

    @Test func perBlockGroupsConsecutiveChannels() throws {
        let dims = [7, 40, 3]
        let values = QuantTestData.spreadChannels(dims: dims, axis: 1, seed: 4)
        let granularity = QuantizationGranularity.perBlock(axis: 1, blockSize: 3)
        let p = try KMeansQuantizer.quantize(values, dims: dims, options: .init(bits: 3, granularity: granularity))
        let (groupOf, groupCount) = QuantTestData.groups(dims: dims, granularity: granularity, linear: false)
        #expect(groupCount == 14)
        #expect(p.codebook.count == 14 * 8)
        let back = try KMeansQuantizer.dequantize(p, dims: dims)
        // Independent reference: every group of 3 channels is clustered as one: its squared error lies between
        // the exact optimum of 8-cluster k-means of its elements and textbook Lloyd's on them.
        for g in 0..<groupCount {
            let members = values.indices.filter { groupOf[$0] == g }
            let group = members.map { values[$0] }
            let book = Self.group(p, g)
            #expect(members.allSatisfy { book.contains(back[$0]) }, "group \(g) uses another codebook")
            let error = NaiveKMeans.squaredError(group, members.map { back[$0] })
            let optimal = NaiveKMeans.optimalSquaredError(group, clusters: 8)
            #expect(error >= optimal * (1 - 1e-9), "group \(g): \(error) beats the optimum \(optimal)?")
            let lloyd = NaiveKMeans.lloydSquaredError(group, clusters: 8)
            #expect(error <= lloyd * (1 + 1e-9), "group \(g): \(error) vs textbook Lloyd's \(lloyd)")
        }
        #expect(QuantTestData.mse(values, back) < 1e-3)
    }

    @Test func fallbackToLinearGridIsReported() throws {
        // Uniform data, random initial centroids and no iterations: the linear grid is better.
        var rng = SeededGenerator(seed: 1)
        let values = (0..<4000).map { _ in Float.random(in: -1...1, using: &rng) }
        let options = KMeansQuantizer.Options(bits: 4, initialization: .random(seed: 3), maxIterations: 0)
        let (p, fallback) = try KMeansQuantizer.quantizeReportingFallback(values, dims: [4000], options: options)
        #expect(fallback)
        let linear = try LinearQuantizer.quantize(values, dims: [4000], options: .init(bits: 4, symmetric: false))
        let levels = (0..<16).map { Float(Int32($0) - linear.zeroPoints[0]) * linear.scales[0] }
        #expect(p.codebook == levels)
        let back = try KMeansQuantizer.dequantize(p, dims: [4000])
        #expect(
            QuantTestData.mse(values, back)
                <= QuantTestData.mse(values, try LinearQuantizer.dequantize(linear, dims: [4000])))
        #expect(try KMeansQuantizer.quantize(values, dims: [4000], options: options) == p)
    }

    @Test(arguments: [
        KMeansQuantizer.Initialization.linear, .density, .random(seed: 7), .random(seed: 8),
    ])
    func initializationsAreDeterministicAndGood(initialization: KMeansQuantizer.Initialization) throws {
        let values = QuantTestData.pruned(count: 6000, seed: 12)
        let options = KMeansQuantizer.Options(bits: 4, granularity: .perAxis(axis: 1), initialization: initialization)
        let a = try KMeansQuantizer.quantize(values, dims: [1000, 6], options: options)
        let b = try KMeansQuantizer.quantize(values, dims: [1000, 6], options: options)
        #expect(a == b)
        #expect(a.indices.bytes == b.indices.bytes)
        let linear = try LinearQuantizer.quantize(
            values, dims: [1000, 6], options: .init(bits: 4, symmetric: false, granularity: .perAxis(axis: 1)))
        let ka = QuantTestData.mse(values, try KMeansQuantizer.dequantize(a, dims: [1000, 6]))
        let la = QuantTestData.mse(values, try LinearQuantizer.dequantize(linear, dims: [1000, 6]))
        #expect(ka <= la * (1 + 1e-9))
    }

    @Test func outliersDoNotWasteCentroids() throws {
        // Linear initialization leaves most centroids empty between the bulk and a far outlier; they must
        // be re-seeded (by splitting) rather than lost.
        var values = QuantTestData.gaussian(count: 3000, seed: 2)
        values[17] = 40
        let (p, fallback) = try KMeansQuantizer.quantizeReportingFallback(
            values, dims: [3000], options: .init(bits: 4))
        #expect(!fallback)
        let indices = Set(try BitPacking.unpack(p.indices, bits: 4, count: 3000))
        #expect(indices.count == 16)
        #expect(p.codebook.last == 40)
    }

    @Test func emptyAndTinyTensors() throws {
        let empty = try KMeansQuantizer.quantize(
            [], dims: [0, 4], options: .init(bits: 2, granularity: .perAxis(axis: 1)))
        #expect(empty.codebook == [Float](repeating: 0, count: 16))
        #expect(try KMeansQuantizer.dequantize(empty, dims: [0, 4]) == [])
        let one = try KMeansQuantizer.quantize([2.5], dims: [], options: .init(bits: 1))
        #expect(one.codebook == [2.5, 2.5])
        #expect(try KMeansQuantizer.dequantize(one, dims: []) == [2.5])
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func nonFiniteIsInvalidTensor(bad: Float) {
        var values = [Float](repeating: 1, count: 5000)
        values[4321] = bad
        do {
            _ = try KMeansQuantizer.quantize(values, dims: [5000], options: .init(bits: 4))
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidTensor)
            #expect(error.message.contains("at element 4321"))
        }
    }

    @Test func usageErrors() {
        let values = [Float](repeating: 1, count: 6)
        let bad: [(dims: [Int], options: KMeansQuantizer.Options)] = [
            ([6], .init(bits: 0)),
            ([6], .init(bits: 9)),
            ([6], .init(bits: 4, maxIterations: -1)),
            ([7], .init(bits: 4)),
            ([2, 3], .init(bits: 4, granularity: .perAxis(axis: 2))),
            ([2, 3], .init(bits: 4, granularity: .perBlock(axis: 0, blockSize: 0))),
        ]
        for (dims, options) in bad {
            do {
                _ = try KMeansQuantizer.quantize(values, dims: dims, options: options)
                Issue.record("expected an error for \(dims) \(options)")
            } catch {
                #expect(error.code == .usage, "\(dims) \(options): \(error)")
            }
        }
    }

    @Test func dequantizeChecksCodebookSize() throws {
        var p = try KMeansQuantizer.quantize([1, 2, 3, 4], dims: [2, 2], options: .init(bits: 1))
        p.codebook.removeLast()
        do {
            _ = try KMeansQuantizer.dequantize(p, dims: [2, 2])
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .invalidTensor)
        }
    }
}

/// Exact one-dimensional k-means, independent of `KMeansQuantizer`.
///
/// In one dimension an optimal clustering splits the sorted values into contiguous runs, so the least sum
/// of squared distances to the cluster means follows from dynamic programming over split points:
/// `best[k][j] = min over i of best[k-1][i] + cost(i..<j)`, with `cost` from prefix sums of the centred
/// values. O(clusters x n^2).
enum NaiveKMeans {
    /// Textbook Lloyd's algorithm in Double: `clusters` centres evenly spaced from the minimum to the maximum,
    /// then (assign each value to its nearest centre; move each centre to the mean of its values; an empty
    /// cluster keeps its centre) until no assignment changes or after `iterations` rounds. Returns the sum of
    /// squared errors of the final assignment. O(iterations x n x clusters).
    static func lloydSquaredError(_ values: [Float], clusters: Int, iterations: Int = 300) -> Double {
        let x = values.map(Double.init)
        guard let lo = x.min(), let hi = x.max() else { return 0 }
        var centres = (0..<clusters).map { lo + (hi - lo) * Double($0) / Double(max(clusters - 1, 1)) }
        var assignment = [Int](repeating: -1, count: x.count)
        func nearest(_ v: Double) -> Int {
            var best = 0
            for j in 1..<clusters where abs(v - centres[j]) <= abs(v - centres[best]) { best = j }
            return best
        }
        for _ in 0..<iterations {
            let next = x.map(nearest)
            if next == assignment { break }
            assignment = next
            var sums = [Double](repeating: 0, count: clusters)
            var counts = [Int](repeating: 0, count: clusters)
            for (v, j) in zip(x, assignment) {
                sums[j] += v
                counts[j] += 1
            }
            for j in 0..<clusters where counts[j] > 0 { centres[j] = sums[j] / Double(counts[j]) }
        }
        return x.reduce(0.0) { e, v in e + (v - centres[nearest(v)]) * (v - centres[nearest(v)]) }
    }

    /// Sum of squared differences, in Double.
    static func squaredError(_ a: [Float], _ b: [Float]) -> Double {
        var e = 0.0
        for (x, y) in zip(a, b) {
            let d = Double(x) - Double(y)
            e += d * d
        }
        return e
    }

    /// The least sum of squared errors of `values` with at most `clusters` cluster centres.
    static func optimalSquaredError(_ values: [Float], clusters: Int) -> Double {
        let n = values.count
        guard n > 0 else { return 0 }
        let mean = values.reduce(0.0) { $0 + Double($1) } / Double(n)
        let x = values.map { Double($0) - mean }.sorted()
        var s1 = [Double](repeating: 0, count: n + 1)
        var s2 = [Double](repeating: 0, count: n + 1)
        for i in 0..<n {
            s1[i + 1] = s1[i] + x[i]
            s2[i + 1] = s2[i] + x[i] * x[i]
        }
        func cost(_ i: Int, _ j: Int) -> Double {
            guard j > i else { return 0 }
            let sum = s1[j] - s1[i]
            return max(0, s2[j] - s2[i] - sum * sum / Double(j - i))
        }
        var best = (0...n).map { cost(0, $0) }  // one cluster over the first j values
        for _ in 1..<max(clusters, 1) {
            var next = best
            for j in 1...n {
                for i in 1..<j where best[i] + cost(i, j) < next[j] { next[j] = best[i] + cost(i, j) }
            }
            best = next
        }
        return best[n]
    }
}
