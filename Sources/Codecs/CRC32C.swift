/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every `.mpz` section.
///
/// Slicing-by-8 in plain Swift: eight bytes per step through eight 256-entry tables.
public enum CRC32C {
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for k in 1..<8 {
            for i in 0..<256 {
                let prev = t[(k - 1) * 256 + i]
                t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
            }
        }
        return t
    }()

    /// The CRC32C of `bytes`. O(n).
    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        guard let base = bytes.baseAddress else { return 0 }
        let n = bytes.count
        tables.withUnsafeBufferPointer { t in
            var i = 0
            while i + 8 <= n {
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian ^ UInt64(crc)
                crc =
                    t[7 * 256 + Int(word & 0xFF)] ^ t[6 * 256 + Int((word &>> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((word &>> 16) & 0xFF)] ^ t[4 * 256 + Int((word &>> 24) & 0xFF)]
                    ^ t[3 * 256 + Int((word &>> 32) & 0xFF)] ^ t[2 * 256 + Int((word &>> 40) & 0xFF)]
                    ^ t[1 * 256 + Int((word &>> 48) & 0xFF)] ^ t[Int(word &>> 56)]
                i &+= 8
            }
            while i < n {
                crc = (crc >> 8) ^ t[Int((crc ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)]
                i &+= 1
            }
        }
        return crc ^ 0xFFFF_FFFF
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}
