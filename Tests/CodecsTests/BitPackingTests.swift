import Codecs
import Compression
import ModelIR
import TestSupport
import Testing

@Suite struct BitPackingTests {
    @Test(arguments: 1...16, [0, 1, 2, 7, 13, 1001])
    func roundTrip(bits: Int, count: Int) throws {
        var rng = SeededGenerator(seed: UInt64(bits * 10_000 + count))
        let mask = UInt16(truncatingIfNeeded: (1 << bits) - 1)
        var codes = (0..<count).map { _ in UInt16.random(in: 0...UInt16.max, using: &rng) & mask }
        if count > 1 {
            codes[0] = mask  // all ones
            codes[count - 1] = 0
        }
        let packed = BitPacking.pack(codes, bits: bits)
        #expect(packed.count == (count * bits + 7) / 8)
        #expect(try BitPacking.unpack(packed, bits: bits, count: count) == codes)
        // Padding bits of the last byte are zero.
        if (count * bits) % 8 != 0, let last = packed.bytes.last {
            #expect(last >> UInt8((count * bits) % 8) == 0)
        }
    }

    @Test func goldenBytesLowBitsFirst() throws {
        // 1, 2, 3, 4, 5 at 3 bits: stream 001 010 011 100 101 from bit 0 up.
        #expect(BitPacking.pack([1, 2, 3, 4, 5], bits: 3).bytes == [0xD1, 0x58])
        #expect(BitPacking.pack([0x1, 0xF, 0x2], bits: 4).bytes == [0xF1, 0x02])
        #expect(BitPacking.pack([0x1234, 0xABCD], bits: 16).bytes == [0x34, 0x12, 0xCD, 0xAB])
        #expect(BitPacking.pack([1, 0, 1, 1, 0, 0, 0, 0, 1], bits: 1).bytes == [0x0D, 0x01])
        #expect(BitPacking.pack([0x3FF, 0x001], bits: 10).bytes == [0xFF, 0x07, 0x00])
    }

    @Test func highBitsAreIgnored() throws {
        let packed = BitPacking.pack([0xFFF1, 0x0F2], bits: 4)
        #expect(packed.bytes == [0x21])
        #expect(try BitPacking.unpack(packed, bits: 4, count: 2) == [1, 2])
    }

    @Test func extraBytesAreIgnored() throws {
        let buffer = TensorBuffer(copying: [0x21, 0xFF, 0xFF])
        #expect(try BitPacking.unpack(buffer, bits: 4, count: 2) == [1, 2])
    }

    @Test func shortBufferIsInvalidTensor() {
        let packed = BitPacking.pack([1, 2, 3], bits: 5)  // 15 bits, 2 bytes
        let short = TensorBuffer(copying: packed.bytes.dropLast())
        #expect(throws: CodecError.self) {
            _ = try BitPacking.unpack(short, bits: 5, count: 3)
        }
        do {
            _ = try BitPacking.unpack(short, bits: 5, count: 3)
        } catch {
            #expect(error.code == .invalidInput)
            #expect(error.message.contains("1 bytes"))
        }
    }

    @Test(arguments: [0, 17, -1])
    func badWidthIsUsage(bits: Int) {
        do {
            _ = try BitPacking.unpack(TensorBuffer(copying: [0]), bits: bits, count: 1)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .usage)
        }
    }

    @Test func negativeCountIsUsage() {
        do {
            _ = try BitPacking.unpack(TensorBuffer(copying: [0]), bits: 4, count: -1)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .usage)
        }
    }

    @Test func byteCount() {
        #expect(BitPacking.byteCount(count: 3, bits: 5) == 2)
        #expect(BitPacking.byteCount(count: 0, bits: 16) == 0)
        #expect(BitPacking.byteCount(count: Int.max, bits: 2) == nil)
    }
}
