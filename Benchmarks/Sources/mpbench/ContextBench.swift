import Codecs
import Glibc

/// `mpbench context FILE...`: context-coder size and throughput per file (3 runs each way, best time).
func contextBench(_ arguments: [String]) {
    if arguments.isEmpty {
        print("usage: mpbench context FILE...")
        return
    }
    for path in arguments {
        guard let bytes = readWholeFile(path) else {
            print("file=\(path) error=cannot-read")
            continue
        }
        var coded: [UInt8] = []
        var compressTime = Double.infinity
        var decompressTime = Double.infinity
        var ok = true
        for _ in 0..<3 {
            let t0 = monotonicSeconds()
            coded = bytes.withUnsafeBytes { ContextCoder.compress($0) }
            let t1 = monotonicSeconds()
            let restored = try? coded.withUnsafeBytes { try ContextCoder.decompress($0, count: bytes.count) }
            let t2 = monotonicSeconds()
            compressTime = min(compressTime, t1 - t0)
            decompressTime = min(decompressTime, t2 - t1)
            if restored != bytes { ok = false }
        }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let megabytes = Double(bytes.count) / 1_000_000
        print(
            "file=\(name) bytes=\(bytes.count) coded=\(coded.count)"
                + " compress_MBps=\(formatted(megabytes / compressTime))"
                + " decompress_MBps=\(formatted(megabytes / decompressTime))"
                + (ok ? "" : " ROUNDTRIP=FAILED"))
    }
}

private func readWholeFile(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else { return nil }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
        if n <= 0 { break }
        bytes += chunk[0..<n]
    }
    return ferror(file) == 0 ? bytes : nil
}

func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func formatted(_ x: Double) -> String {
    guard x.isFinite else { return "inf" }
    let hundredths = Int((x * 100).rounded())
    let fraction = hundredths % 100
    return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
}
