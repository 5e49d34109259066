/// The bit predictor of the context coder: hashed context counters, a match model, mixers and APMs.
///
/// `schemas/mpz-context.md` specifies it normatively; this type is that text in code. Coding a byte calls
/// `predict()` and `update(_:)` eight times, most significant bit first. The caller writes each finished
/// byte to `history[position]` before the eighth `update`, so the match model can read it.
struct ContextModel: ~Copyable {
    /// Hashed contexts (orders 2, 3, 4, 6, word, sparse, record): each owns `1 << tableBits` counters.
    static let hashedCount = 8
    /// Mixer inputs: order 0, order 1, the hashed contexts, two match inputs and a bias.
    static let inputCount = 2 + hashedCount + 3
    /// Shortest match the match model follows.
    static let minMatch = 6
    /// Counter count limits (higher: slower, steadier adaptation).
    static let directLimit = 1023
    static let hashedLimit = 30

    let tableBits: Int
    let matchBits: Int
    let apmBits: Int
    let history: UnsafePointer<UInt8>

    // Tables.
    private let stretchTable: UnsafeMutablePointer<Int16>
    private let squashTable: UnsafeMutablePointer<Int32>
    private let reciprocal: UnsafeMutablePointer<Int32>
    private let order0: UnsafeMutablePointer<UInt32>  // 256 counters, by c0
    private let order1: UnsafeMutablePointer<UInt32>  // 65536 counters, by c1 << 8 | c0
    private let hashed: UnsafeMutablePointer<UInt32>  // hashedCount << tableBits counters
    private let matchTable: UnsafeMutablePointer<UInt32>  // 1 << matchBits positions
    private let matchCounters: UnsafeMutablePointer<UInt32>  // 64 counters, by length bucket and expected bit
    private let weights: UnsafeMutablePointer<Int32>  // mixer weights, mixerSets * inputCount
    private let finalWeights: UnsafeMutablePointer<Int32>  // final mixer weights, finalSets * finalInputs
    private let apm: UnsafeMutablePointer<UInt16>  // APM bins: (256 + 65536 + (1 << apmBits)) contexts * 33
    // Per-context scratch: hashes at the byte boundary, current blocks, current slots, mixer inputs.
    private let contextHash: UnsafeMutablePointer<UInt32>
    private let blockBase: UnsafeMutablePointer<Int>
    private let slots: UnsafeMutablePointer<Int>
    private let inputs: UnsafeMutablePointer<Int32>

    // Byte state.
    private var c0 = 1  // partial byte with a leading 1
    private var bitCount = 0  // bits of the current byte already coded
    private var nibble = 1  // partial nibble with a leading 1
    private var c4: UInt32 = 0  // last four bytes, newest lowest
    private var c8: UInt32 = 0  // the four before those
    private var position = 0  // bytes coded
    private var wordHash: UInt32 = 0
    private var matchPointer = 0
    private var apmRow = 0  // the order-2 APM's row of 256 contexts, << 8
    private var matchLength = 0

    // Bit state between predict and update.
    private var mixerSelect = (0, 0, 0)
    private var mixerDot = (0, 0, 0)
    private var mixerP = (0, 0, 0)
    private var finalDot = 0
    private var finalP = 0
    private var apmIndex = (0, 0, 0)
    private var matchSlot = -1

    static let trainThreshold = 128
    static let mixerRate = 24
    static let mixerSets = 256 + 64 + 256
    static let finalInputs = 4
    static let finalSets = 2

    /// A fresh model for a stream of `count` bytes whose bytes are (or will be) in `history`.
    init(count: Int, history: UnsafePointer<UInt8>) {
        self.history = history
        let log = ContextMath.ceilLog2(max(count, 1))
        tableBits = min(max(log + 2, 12), 20)
        matchBits = min(max(log + 1, 10), 20)
        apmBits = min(max(log + 1, 10), 16)
        stretchTable = Self.allocate(copying: ContextMath.makeStretchTable())
        squashTable = Self.allocate(copying: ContextMath.makeSquashTable())
        reciprocal = Self.allocate(copying: ContextMath.makeReciprocalTable())
        let half: UInt32 = 1 << 31  // p = 0.5, n = 0
        order0 = .allocate(capacity: 256)
        order0.initialize(repeating: half, count: 256)
        order1 = .allocate(capacity: 65536)
        order1.initialize(repeating: half, count: 65536)
        hashed = .allocate(capacity: Self.hashedCount << tableBits)
        hashed.initialize(repeating: half, count: Self.hashedCount << tableBits)
        matchTable = .allocate(capacity: 1 << matchBits)
        matchTable.initialize(repeating: 0, count: 1 << matchBits)
        matchCounters = .allocate(capacity: 64)
        matchCounters.initialize(repeating: half, count: 64)
        weights = .allocate(capacity: Self.mixerSets * Self.inputCount)
        weights.initialize(repeating: 1 << 13, count: Self.mixerSets * Self.inputCount)
        finalWeights = .allocate(capacity: Self.finalSets * Self.finalInputs)
        for s in 0..<Self.finalSets {
            for i in 0..<Self.finalInputs {
                (finalWeights + s * Self.finalInputs + i).initialize(to: i < 3 ? 21845 : 0)
            }
        }
        let apmContexts = 256 + 65536 + (1 << apmBits)
        apm = .allocate(capacity: apmContexts * 33)
        for j in 0..<33 {
            let v = UInt16(ContextMath.squashExact((j - 16) * 128) * 16)
            for c in 0..<apmContexts { (apm + c * 33 + j).initialize(to: v) }
        }
        contextHash = .allocate(capacity: Self.hashedCount)
        contextHash.initialize(repeating: 0, count: Self.hashedCount)
        blockBase = .allocate(capacity: Self.hashedCount)
        blockBase.initialize(repeating: 0, count: Self.hashedCount)
        slots = .allocate(capacity: Self.hashedCount)
        slots.initialize(repeating: 0, count: Self.hashedCount)
        inputs = .allocate(capacity: Self.inputCount)
        inputs.initialize(repeating: 0, count: Self.inputCount)
        computeContexts()
        computeBlocks()
    }

    private static func allocate<T>(copying array: [T]) -> UnsafeMutablePointer<T> {
        let pointer = UnsafeMutablePointer<T>.allocate(capacity: array.count)
        for (i, v) in array.enumerated() { (pointer + i).initialize(to: v) }
        return pointer
    }

    deinit {
        stretchTable.deallocate()
        squashTable.deallocate()
        reciprocal.deallocate()
        order0.deallocate()
        order1.deallocate()
        hashed.deallocate()
        matchTable.deallocate()
        matchCounters.deallocate()
        weights.deallocate()
        finalWeights.deallocate()
        apm.deallocate()
        contextHash.deallocate()
        blockBase.deallocate()
        slots.deallocate()
        inputs.deallocate()
    }

    @inline(__always) private func stretch(_ p: Int) -> Int { Int(stretchTable[p]) }

    @inline(__always) private func squash(_ d: Int) -> Int {
        Int(squashTable[min(max(d, -2047), 2047) + 2048])
    }

    /// The 12-bit probability of a counter.
    @inline(__always) private func counterP(_ t: UInt32) -> Int { Int(t >> 20) }

    @inline(__always) private func updateCounter(_ t: UnsafeMutablePointer<UInt32>, _ y: Int, limit: Int) {
        let v = t.pointee
        let n = Int(v & 1023)
        var p = Int(v >> 10)
        p &+= (((y << 22) &- p) &* Int(reciprocal[n])) >> 16
        t.pointee = UInt32(truncatingIfNeeded: p << 10 | (n < limit ? n &+ 1 : limit))
    }

    /// Hashes of the hashed contexts at a byte boundary.
    private mutating func computeContexts() {
        let c1 = c4 & 0xFF
        contextHash[0] = ContextMath.combine(1, c4 & 0xFFFF)
        contextHash[1] = ContextMath.combine(2, c4 & 0xFF_FFFF)
        contextHash[2] = ContextMath.combine(3, c4)
        contextHash[3] = ContextMath.combine(ContextMath.combine(4, c4), c8 & 0xFFFF)
        contextHash[4] = ContextMath.combine(ContextMath.combine(5, wordHash), c1)
        contextHash[5] = ContextMath.combine(6, c4 & 0xFFFF00)
        contextHash[6] = ContextMath.combine(7, c4 & 0xFF00_FF00)
        contextHash[7] = ContextMath.combine(11, (c4 & 0xFF00_0000) | (c8 >> 24))
        apmRow = Int(ContextMath.combine(8, c4 & 0xFFFF) >> UInt32(40 - apmBits)) << 8
    }

    /// The 16-counter block of each hashed context for the current nibble.
    private func computeBlocks() {
        let shift = 32 - tableBits
        for i in 0..<Self.hashedCount {
            var h = contextHash[i]
            if bitCount == 4 { h = ContextMath.combine(h, UInt32(c0)) }
            blockBase[i] = (i << tableBits) | (Int(h >> UInt32(shift)) & ~15)
        }
    }

    private static func lengthBucket(_ length: Int) -> Int {
        length < 16 ? length : min(16 + ((length - 16) >> 2), 31)
    }

    /// The probability, in 1...4095 out of 4096, that the next bit is 1.
    mutating func predict() -> Int {
        let c1 = Int(c4 & 0xFF)
        inputs[0] = Int32(stretch(counterP(order0[c0])))
        inputs[1] = Int32(stretch(counterP(order1[c1 << 8 | c0])))
        for i in 0..<Self.hashedCount {
            let slot = blockBase[i] + nibble
            slots[i] = slot
            inputs[2 + i] = Int32(stretch(counterP(hashed[slot])))
        }
        var expectedBit = 0
        if matchLength > 0 {
            expectedBit = Int(history[matchPointer] >> UInt8(7 - bitCount)) & 1
            matchSlot = Self.lengthBucket(matchLength) * 2 + expectedBit
            inputs[2 + Self.hashedCount] = Int32(stretch(counterP(matchCounters[matchSlot])))
            let strength = min(matchLength, 32) * 32
            inputs[3 + Self.hashedCount] = Int32(expectedBit == 1 ? strength : -strength)
        } else {
            matchSlot = -1
            inputs[2 + Self.hashedCount] = 0
            inputs[3 + Self.hashedCount] = 0
        }
        inputs[4 + Self.hashedCount] = 256

        let matchSet = matchLength == 0 ? 0 : 1 + min(matchLength, 15) * 2 + expectedBit
        mixerSelect = (c0, 256 + matchSet, 256 + 64 + c1)
        let w0 = weights + mixerSelect.0 * Self.inputCount
        let w1 = weights + mixerSelect.1 * Self.inputCount
        let w2 = weights + mixerSelect.2 * Self.inputCount
        var dot0 = 0
        var dot1 = 0
        var dot2 = 0
        for i in 0..<Self.inputCount {
            let x = Int(inputs[i])
            dot0 &+= Int(w0[i]) &* x
            dot1 &+= Int(w1[i]) &* x
            dot2 &+= Int(w2[i]) &* x
        }
        mixerDot = (clampStretch(dot0 >> 16), clampStretch(dot1 >> 16), clampStretch(dot2 >> 16))
        mixerP = (squash(mixerDot.0), squash(mixerDot.1), squash(mixerDot.2))

        let fw = finalWeights + (matchLength == 0 ? 0 : 1) * Self.finalInputs
        let sum = Int(fw[0]) * mixerDot.0 + Int(fw[1]) * mixerDot.1 + Int(fw[2]) * mixerDot.2 + Int(fw[3]) * 256
        finalDot = clampStretch(sum >> 16)
        finalP = squash(finalDot)

        let s = stretch(finalP) + 2048
        apmIndex = (
            (c0 * 33 << 7) + s, ((256 + (c1 << 8 | c0)) * 33 << 7) + s, ((256 + 65536 + (apmRow | c0)) * 33 << 7) + s
        )
        let a0 = apmP(apmIndex.0)
        let a1 = apmP(apmIndex.1)
        let a2 = apmP(apmIndex.2)
        let p = (2 * finalP + a0 + 2 * a1 + 3 * a2 + 4) >> 3
        return min(max(p, 1), 4095)
    }

    @inline(__always) private func clampStretch(_ d: Int) -> Int { min(max(d, -2047), 2047) }

    /// Trains the three first-layer weight sets: w += (x * e * rate + 2^13) >> 14 unless |e| < trainThreshold.
    @inline(__always) private func train(_ y: Int) {
        var e0 = (y << 12) - mixerP.0
        var e1 = (y << 12) - mixerP.1
        var e2 = (y << 12) - mixerP.2
        let t = Self.trainThreshold
        e0 = e0 > -t && e0 < t ? 0 : e0 * Self.mixerRate
        e1 = e1 > -t && e1 < t ? 0 : e1 * Self.mixerRate
        e2 = e2 > -t && e2 < t ? 0 : e2 * Self.mixerRate
        if e0 == 0 && e1 == 0 && e2 == 0 { return }
        let w0 = weights + mixerSelect.0 * Self.inputCount
        let w1 = weights + mixerSelect.1 * Self.inputCount
        let w2 = weights + mixerSelect.2 * Self.inputCount
        for i in 0..<Self.inputCount {
            let x = Int(inputs[i])
            w0[i] = Self.clampWeight(Int(w0[i]) &+ ((x &* e0 &+ (1 << 13)) >> 14))
            w1[i] = Self.clampWeight(Int(w1[i]) &+ ((x &* e1 &+ (1 << 13)) >> 14))
            w2[i] = Self.clampWeight(Int(w2[i]) &+ ((x &* e2 &+ (1 << 13)) >> 14))
        }
    }

    @inline(__always) private static func clampWeight(_ v: Int) -> Int32 {
        Int32(truncatingIfNeeded: min(max(v, -(1 << 22)), 1 << 22))
    }

    @inline(__always) private func apmP(_ index: Int) -> Int {
        let bin = index >> 7
        let w = index & 127
        return (Int(apm[bin]) * (128 - w) + Int(apm[bin + 1]) * w) >> 11
    }

    @inline(__always) private func apmUpdate(_ index: Int, _ y: Int) {
        let bin = (index >> 7) + ((index & 127) >> 6)
        let target = (y << 16) + (y << 7) - y - y
        apm[bin] = UInt16(Int(apm[bin]) + ((target - Int(apm[bin])) >> 7))
    }

    /// Learns from the coded bit `y` (0 or 1) and advances to the next bit.
    mutating func update(_ y: Int) {
        updateCounter(order0 + c0, y, limit: Self.directLimit)
        updateCounter(order1 + (Int(c4 & 0xFF) << 8 | c0), y, limit: Self.directLimit)
        for i in 0..<Self.hashedCount { updateCounter(hashed + slots[i], y, limit: Self.hashedLimit) }
        if matchSlot >= 0 { updateCounter(matchCounters + matchSlot, y, limit: 1023) }
        train(y)
        let fw = finalWeights + (matchLength == 0 ? 0 : 1) * Self.finalInputs
        let err = ((y << 12) - finalP) * 2
        let fin = (mixerDot.0, mixerDot.1, mixerDot.2, 256)
        fw[0] = Self.clampWeight(Int(fw[0]) + ((fin.0 * err + (1 << 13)) >> 14))
        fw[1] = Self.clampWeight(Int(fw[1]) + ((fin.1 * err + (1 << 13)) >> 14))
        fw[2] = Self.clampWeight(Int(fw[2]) + ((fin.2 * err + (1 << 13)) >> 14))
        fw[3] = Self.clampWeight(Int(fw[3]) + ((fin.3 * err + (1 << 13)) >> 14))
        apmUpdate(apmIndex.0, y)
        apmUpdate(apmIndex.1, y)
        apmUpdate(apmIndex.2, y)

        c0 = c0 << 1 | y
        nibble = nibble << 1 | y
        bitCount += 1
        if matchLength > 0 {
            let expected = (Int(history[matchPointer]) | 256) >> (8 - bitCount)
            if expected != c0 { matchLength = 0 }
        }
        if bitCount == 8 {
            endByte()
        } else if bitCount == 4 {
            nibble = 1
            computeBlocks()
        }
    }

    private mutating func endByte() {
        let c = UInt32(c0 & 0xFF)
        c8 = c8 << 8 | c4 >> 24
        c4 = c4 << 8 | c
        position += 1
        c0 = 1
        nibble = 1
        bitCount = 0
        let isWordByte = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A)
        wordHash = isWordByte ? ContextMath.combine(wordHash, c | 0x20) : 0

        if matchLength > 0 {
            matchLength = min(matchLength + 1, 65535)
            matchPointer += 1
        }
        if position >= Self.minMatch {
            let h = Int(ContextMath.combine(ContextMath.combine(9, c4), c8 & 0xFFFF) >> UInt32(32 - matchBits))
            if matchLength == 0 {
                let candidate = Int(matchTable[h])
                if candidate > 0 {
                    var length = 0
                    while length < 32 && length < candidate
                        && history[candidate - 1 - length] == history[position - 1 - length]
                    {
                        length += 1
                    }
                    if length >= Self.minMatch {
                        matchLength = length
                        matchPointer = candidate
                    }
                }
            }
            matchTable[h] = UInt32(truncatingIfNeeded: position)
        }
        computeContexts()
        computeBlocks()
    }
}
