import Codecs
import ModelIR

/// The order-preserving map between Floats and UInt32 keys: `a < b` as Floats (with -0 < +0) iff
/// `key(a) < key(b)`.
enum FloatKey {
    @inline(__always)
    static func key(_ x: Float) -> UInt32 {
        let b = x.bitPattern
        return b ^ (UInt32(bitPattern: Int32(bitPattern: b) >> 31) | 0x8000_0000)
    }

    @inline(__always)
    static func float(_ key: UInt32) -> Float {
        Float(bitPattern: key ^ (((key >> 31) &- 1) | 0x8000_0000))
    }
}
