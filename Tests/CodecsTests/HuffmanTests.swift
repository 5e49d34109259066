import Codecs
import Compression
import ModelIR
import TestSupport
import Testing

/// Symbols drawn from a rounded Gaussian of standard deviation `sigma`, wrapped into `alphabet`.
func gaussianSymbols(_ n: Int, sigma: Double, alphabet: Int, seed: UInt64) -> [UInt16] {
    var rng = SeededGenerator(seed: seed)
    return (0..<n).map { _ in
        // Irwin-Hall approximation of a normal variate: the sum of 12 uniforms minus 6.
        var s = -6.0
        for _ in 0..<12 { s += Double.random(in: 0..<1, using: &rng) }
        let v = Int((s * sigma).rounded())
        return UInt16(((v % alphabet) + alphabet) % alphabet)
    }
}

/// The cost in bits of an unlimited Huffman code for `frequencies` (reference, by repeated merging).
func unlimitedHuffmanBits(_ frequencies: [UInt64]) -> UInt64 {
    var weights = frequencies.filter { $0 > 0 }
    if weights.count < 2 { return 0 }
    var total: UInt64 = 0
    while weights.count > 1 {
        weights.sort(by: >)
        let a = weights.removeLast()
        let b = weights.removeLast()
        total += a + b
        weights.append(a + b)
    }
    return total
}

func expectCorrupt(_ body: () throws -> Void, _ comment: Comment? = nil) {
    do {
        try body()
        Issue.record("expected a .corrupt error: \(comment.map { "\($0)" } ?? "")")
    } catch let error as CodecError {
        #expect(error.code == .corrupt, comment)
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

@Suite struct HuffmanTests {
    // MARK: Code construction

    @Test func canonicalCodesFollowDeflate() throws {
        // RFC 1951 §3.2.2's example: lengths (3, 3, 3, 3, 3, 2, 4, 4).
        let code = try HuffmanCode(lengths: [3, 3, 3, 3, 3, 2, 4, 4])
        #expect(code.canonicalCodes == [0b010, 0b011, 0b100, 0b101, 0b110, 0b00, 0b1110, 0b1111])
        let small = try HuffmanCode(lengths: [2, 1, 3, 3])
        #expect(small.canonicalCodes == [0b10, 0b0, 0b110, 0b111])
    }

    @Test(arguments: 1...6)
    func packageMergeIsOptimalAgainstExhaustiveSearch(seed: Int) {
        var rng = SeededGenerator(seed: UInt64(seed))
        let n = 3 + seed % 4
        let frequencies = (0..<n).map { _ in UInt64.random(in: 1...1000, using: &rng) }
        // Exhaustive: every length vector in 1...limit with Kraft sum <= 1, for limits 3 and 4.
        for limit in [3, 4] where n <= 1 << limit {
            var best = UInt64.max
            var lengths = [Int](repeating: 1, count: n)
            func search(_ i: Int) {
                if i == n {
                    let kraft = lengths.reduce(0) { $0 + (1 << (limit - $1)) }
                    if kraft <= 1 << limit {
                        best = min(best, zip(frequencies, lengths).reduce(0) { $0 + $1.0 * UInt64($1.1) })
                    }
                    return
                }
                for l in 1...limit {
                    lengths[i] = l
                    search(i + 1)
                }
            }
            search(0)
            let built = HuffmanCodeTestHooks.lengths(frequencies, limit: limit)
            let cost = zip(frequencies, built).reduce(0) { $0 + $1.0 * UInt64($1.1) }
            #expect(cost == best, "n \(n) limit \(limit) frequencies \(frequencies)")
            #expect(built.allSatisfy { $0 >= 1 && Int($0) <= limit })
        }
    }

    @Test func lengthLimitBindsOnFibonacciFrequencies() throws {
        // Fibonacci weights make an unlimited Huffman code as deep as the alphabet.
        var f: [UInt64] = [1, 1]
        while f.count < 30 { f.append(f[f.count - 1] + f[f.count - 2]) }
        let code = HuffmanCode(frequencies: f)
        #expect(code.longest == 11)
        #expect(code.usedSymbols == 30)
        // Still a complete code, and no worse than 2% above the unlimited optimum.
        _ = try HuffmanCode(lengths: code.lengths)
        let bits = code.codedBits(frequencies: f)
        #expect(bits >= unlimitedHuffmanBits(f))
        #expect(Double(bits) <= 1.02 * Double(unlimitedHuffmanBits(f)))
    }

    @Test(arguments: [2, 17, 256, 4096])
    func matchesUnlimitedHuffmanWhenTheLimitDoesNotBind(alphabet: Int) {
        let symbols = gaussianSymbols(50_000, sigma: Double(alphabet) / 12, alphabet: alphabet, seed: UInt64(alphabet))
        var f = [UInt64](repeating: 0, count: alphabet)
        for s in symbols { f[Int(s)] += 1 }
        let code = HuffmanCode(frequencies: f)
        #expect(code.longest <= 12)
        let bits = code.codedBits(frequencies: f)
        if code.longest < 11 {
            #expect(bits == unlimitedHuffmanBits(f))
        } else {
            // Rare tail symbols are capped at 11 bits: a hair above the unlimited optimum.
            #expect(bits >= unlimitedHuffmanBits(f))
            #expect(Double(bits) <= 1.02 * Double(unlimitedHuffmanBits(f)))
        }
    }

    @Test func moreThan2048SymbolsUse12BitCodes() throws {
        let f = (0..<4096).map { UInt64(1 + $0 % 7) }
        let code = HuffmanCode(frequencies: f)
        #expect(code.longest == 12)
        #expect(code.usedSymbols == 4096)
        _ = try HuffmanCode(lengths: code.lengths)
        let symbols = (0..<20_000).map { UInt16($0 % 4096) }
        let block = Huffman.encode(symbols, alphabetSize: 4096)
        #expect(
            try block.withUnsafeBytes { try Huffman.decode($0, count: symbols.count, alphabetSize: 4096) } == symbols)
    }

    @Test func kraftViolationsAreCorrupt() {
        expectCorrupt { _ = try HuffmanCode(lengths: [1, 2, 2, 2]) }  // over-full
        expectCorrupt { _ = try HuffmanCode(lengths: [1, 2]) }  // incomplete
        expectCorrupt { _ = try HuffmanCode(lengths: [2]) }  // single symbol must have length 1
        expectCorrupt { _ = try HuffmanCode(lengths: [13, 1]) }
    }

    // MARK: Blocks

    @Test func goldenBlock() throws {
        // Symbols 0 0 0 1 2: lengths 1, 2, 2; codes 0, 10, 11. One segment, streams of 2, 2, 1, 0 symbols:
        // "0 0" -> 0 bits set, 1 byte; "0 1" -> bits 0, 1, 0 -> 0x02; "2" -> bits 1, 1 -> 0x03.
        let block = Huffman.encode([0, 0, 0, 1, 2], alphabetSize: 4)
        #expect(
            block.bytes == [
                0x03, 0x00, 0x09,  // K = 3; lengths 1 (+1: 100), 2 (+1: 100), 2 (same: 0), low bits first
                0x01, 0, 0, 0, 0x01, 0, 0, 0, 0x01, 0, 0, 0, 0x00, 0, 0, 0,  // stream sizes
                0x00, 0x02, 0x03,
            ])
        #expect(try block.withUnsafeBytes { try Huffman.decode($0, count: 5, alphabetSize: 4) } == [0, 0, 0, 1, 2])
    }

    @Test(arguments: [0, 1, 2, 3, 4, 5, 7, 100, 4097, (1 << 18) - 1, 1 << 18, (1 << 18) + 1, 3 * (1 << 18) + 5])
    func roundTripBytes(count: Int) throws {
        let symbols = gaussianSymbols(count, sigma: 9, alphabet: 256, seed: UInt64(count))
        let bytes = symbols.map { UInt8($0) }
        let block = bytes.withUnsafeBytes { Huffman.encode(bytes: $0) }
        for threads in [1, 2, 3] {
            let back = try block.withUnsafeBytes { try Huffman.decodeBytes($0, count: count, threads: threads) }
            #expect(back.bytes == bytes)
        }
        let wide = try block.withUnsafeBytes { try Huffman.decode($0, count: count, alphabetSize: 256, threads: 2) }
        #expect(wide == symbols)
    }

    @Test(arguments: [2, 3, 16, 100, 256, 1000, 4096])
    func roundTripAlphabets(alphabet: Int) throws {
        var rng = SeededGenerator(seed: UInt64(alphabet))
        for count in [1, 9, 1000, 70_001] {
            // Skewed: mostly small symbols, a few of every value.
            let symbols = (0..<count).map { i -> UInt16 in
                i % 50 == 0 ? UInt16(i % alphabet) : UInt16(min(alphabet - 1, Int.random(in: 0..<8, using: &rng)))
            }
            let block = Huffman.encode(symbols, alphabetSize: alphabet)
            let back = try block.withUnsafeBytes { try Huffman.decode($0, count: count, alphabetSize: alphabet) }
            #expect(back == symbols)
        }
    }

    @Test func singleSymbolCostsNoStreamBytes() throws {
        let symbols = [UInt16](repeating: 7, count: 1_000_000)
        let block = Huffman.encode(symbols, alphabetSize: 16)
        // K = 8 (seven "same" bits and a "+1", 2 bytes), 4 segments x 16 directory bytes, no stream bytes.
        #expect(block.count == 2 + 2 + 4 * 16)
        #expect(try block.withUnsafeBytes { try Huffman.decode($0, count: symbols.count, alphabetSize: 16) } == symbols)
    }

    @Test func skewedStreamsUseTheSlowPathCorrectly() throws {
        // One stream codes only the 1-bit symbol, the others long codes: lanes end at very different times.
        var symbols = [UInt16](repeating: 0, count: 40_000)
        var rng = SeededGenerator(seed: 5)
        for i in 10_000..<40_000 { symbols[i] = UInt16.random(in: 1..<256, using: &rng) }
        let block = Huffman.encode(symbols, alphabetSize: 256)
        #expect(
            try block.withUnsafeBytes { try Huffman.decode($0, count: symbols.count, alphabetSize: 256) } == symbols)
    }

    // MARK: Malformed input

    @Test func everyTruncationIsCorrupt() throws {
        let symbols = gaussianSymbols(300, sigma: 3, alphabet: 32, seed: 1)
        let block = Huffman.encode(symbols, alphabetSize: 32).bytes
        for length in 0..<block.count {
            expectCorrupt(
                {
                    _ = try Array(block[0..<length]).withUnsafeBytes {
                        try Huffman.decode($0, count: symbols.count, alphabetSize: 32)
                    }
                }, "prefix \(length)")
        }
        expectCorrupt {
            _ = try (block + [0]).withUnsafeBytes { try Huffman.decode($0, count: symbols.count, alphabetSize: 32) }
        }
    }

    @Test func flippedBytesThrowOrKeepTheSize() throws {
        var rng = SeededGenerator(seed: 42)
        let symbols = gaussianSymbols(3000, sigma: 6, alphabet: 256, seed: 2)
        let block = Huffman.encode(symbols, alphabetSize: 256).bytes
        var thrown = 0
        for trial in 0..<3000 {
            var damaged = block
            for _ in 0..<(1 + trial % 3) {
                damaged[Int.random(in: 0..<damaged.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            }
            do {
                let back = try damaged.withUnsafeBytes {
                    try Huffman.decodeBytes($0, count: symbols.count, threads: 1 + trial % 2)
                }
                #expect(back.count == symbols.count)
            } catch let error as CodecError {
                #expect(error.code == .corrupt)
                thrown += 1
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        #expect(thrown > 1000)
    }

    @Test func randomGarbageIsRejected() {
        var rng = SeededGenerator(seed: 7)
        for trial in 0..<2000 {
            let garbage = (0..<(trial % 200)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let count = [0, 1, 10, 1000, 1 << 40][trial % 5]
            do {
                let back = try garbage.withUnsafeBytes { try Huffman.decodeBytes($0, count: count, threads: 2) }
                Issue.record("trial \(trial): \(garbage.count) random bytes decoded to \(back.count) symbols")
            } catch let error as CodecError {
                #expect(error.code == .corrupt)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
    }

    @Test func streamPastItsEndIsCorrupt() throws {
        // Stream sizes one byte short, moved to the next stream: each stream then ends early or late.
        let symbols = gaussianSymbols(4000, sigma: 6, alphabet: 256, seed: 3)
        var block = Huffman.encode(symbols, alphabetSize: 256).bytes
        var frequencies = [UInt64](repeating: 0, count: 256)
        for s in symbols { frequencies[Int(s)] += 1 }
        let directory = HuffmanCode(frequencies: frequencies).serializedSize
        block[directory] -= 1
        block[directory + 4] += 1
        expectCorrupt {
            _ = try block.withUnsafeBytes { try Huffman.decode($0, count: symbols.count, alphabetSize: 256) }
        }
    }
}

/// Package-merge at a chosen limit, for the exhaustive optimality test.
enum HuffmanCodeTestHooks {
    static func lengths(_ frequencies: [UInt64], limit: Int) -> [UInt8] {
        Huffman.codeLengths(frequencies: frequencies, limit: limit)
    }
}
