import Codecs
import ModelIR

/// LSD radix sort of UInt32 keys.
enum RadixSort {
    /// Sorts `keys` ascending, using `scratch` (the same count) as the second buffer.
    ///
    /// Four passes of 8-bit digits (256 buckets keep the scatter within the TLB's reach); a pass whose
    /// digit is the same for every key is skipped, and short inputs use the standard library's sort. O(n).
    static func sort(_ keys: UnsafeMutableBufferPointer<UInt32>, scratch: UnsafeMutableBufferPointer<UInt32>) {
        let n = keys.count
        guard n >= 1024 else {
            var small = keys
            small.sort()
            return
        }
        var histogram = [Int](repeating: 0, count: 4 * 256)
        histogram.withUnsafeMutableBufferPointer { h in
            for k in keys {
                h[Int(k & 0xFF)] &+= 1
                h[256 &+ Int((k >> 8) & 0xFF)] &+= 1
                h[512 &+ Int((k >> 16) & 0xFF)] &+= 1
                h[768 &+ Int(k >> 24)] &+= 1
            }
            var source = keys
            var destination = scratch
            for pass in 0..<4 {
                let shift = UInt32(pass * 8)
                let offset = pass * 256
                if h[offset + Int((source[0] >> shift) & 0xFF)] == n { continue }
                var total = 0
                for d in 0..<256 {
                    let c = h[offset + d]
                    h[offset + d] = total
                    total += c
                }
                for k in source {
                    let d = offset &+ Int((k >> shift) & 0xFF)
                    destination[h[d]] = k
                    h[d] &+= 1
                }
                swap(&source, &destination)
            }
            if source.baseAddress != keys.baseAddress {
                for i in 0..<n { keys[i] = source[i] }
            }
        }
    }
}
