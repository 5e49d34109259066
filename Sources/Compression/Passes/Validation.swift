import Codecs
import ModelIR

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Input checks shared by passes.
enum Validation {
    static func finite(_ v: [Float], label: String) throws(CompressionError) {
        for (i, x) in v.enumerated() where !x.isFinite {
            throw CompressionError(
                .invalidTensor,
                "contains \(x.isNaN ? "NaN" : "an infinite value") at element \(i); fix the model or exclude this "
                    + "tensor (a recipe override with \"exclude\": true)",
                at: label)
        }
    }
}
