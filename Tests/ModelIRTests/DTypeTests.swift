import ModelIR
import Testing

@Suite struct DTypeTests {
    @Test(arguments: [
        (DType.float32, 3, 12), (.float16, 3, 6), (.bfloat16, 1, 2), (.int8, 5, 5), (.bool, 2, 2),
        (.int64, 2, 16), (.complex64, 1, 8), (.complex128, 1, 16), (.int4, 3, 2), (.uint4, 4, 2),
        (.float4e2m1, 1, 1), (.int2, 5, 2), (.float8e4m3fn, 7, 7),
    ])
    func packedByteCounts(dtype: DType, elements: Int, bytes: Int) {
        #expect(dtype.byteCount(elements: elements) == bytes)
    }

    @Test func stringsAndUnknownCodesHaveNoByteSize() {
        #expect(DType.string.byteCount(elements: 3) == nil)
        #expect(DType(rawValue: 99).byteCount(elements: 1) == nil)
        #expect(DType(rawValue: 99).name == "dtype(99)")
    }

    @Test func byteCountOverflowIsNil() {
        #expect(DType.float64.byteCount(elements: Int.max / 4) == nil)
    }

    @Test func everyKnownTypeHasAName() {
        for t in DType.known { #expect(!t.name.hasPrefix("dtype(")) }
    }
}

@Suite struct ShapeTests {
    @Test func elementCountOfScalarIsOne() { #expect(elementCount(of: []) == 1) }
    @Test func elementCountMultiplies() { #expect(elementCount(of: [2, 3, 4]) == 24) }
    @Test func negativeDimsAreRejected() { #expect(elementCount(of: [2, -1]) == nil) }
    @Test func overflowingDimsAreRejected() {
        #expect(elementCount(of: [Int64.max, 2]) == nil)
        #expect(elementCount(of: [1 << 32, 1 << 32]) == nil)
    }

    @Test func shapeText() {
        let s = Shape([Dimension(.symbolic("batch")), Dimension(.fixed(3)), Dimension(nil)])
        #expect(s.text == "[batch, 3, ?]")
    }
}
