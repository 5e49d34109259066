import MPZFormat
import Testing

@Suite struct MPZTests {
    @Test func version() { #expect(MPZ.majorVersion == 1) }
}
