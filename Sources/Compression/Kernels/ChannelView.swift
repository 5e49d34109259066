/// A tensor's elements seen as channels along one axis, in row-major (C) order.
///
/// Element `i` lies in channel `(i / inner) % channels`, where `inner` is the product of the dims after
/// `axis` and `outer` the product of the dims before it. Channel `c` is the union of the `outer` runs
/// `(o * channels + c) * inner ..< (o * channels + c + 1) * inner`.
public struct ChannelView: Hashable, Sendable {
    /// Product of the dims before the axis.
    public let outer: Int
    /// The axis's dim: the number of channels.
    public let channels: Int
    /// Product of the dims after the axis.
    public let inner: Int
    /// The axis, non-negative.
    public let axis: Int

    /// A view of a tensor of `dims` along `axis` (negative counts from the end, as in ONNX).
    public init(dims: [Int], axis: Int) throws(CompressionError) {
        let a = axis < 0 ? axis + dims.count : axis
        guard a >= 0, a < dims.count else {
            throw CompressionError(.invalidTensor, "axis \(axis) is out of range for a tensor of rank \(dims.count)")
        }
        var before = 1
        var after = 1
        for (k, d) in dims.enumerated() {
            guard d >= 0 else { throw CompressionError(.invalidTensor, "negative dim \(d)") }
            if k < a {
                let (p, o) = before.multipliedReportingOverflow(by: d)
                guard !o else { throw CompressionError(.invalidTensor, "element count overflows") }
                before = p
            } else if k > a {
                let (p, o) = after.multipliedReportingOverflow(by: d)
                guard !o else { throw CompressionError(.invalidTensor, "element count overflows") }
                after = p
            }
        }
        outer = before
        channels = dims[a]
        inner = after
        self.axis = a
    }

    /// Total number of elements.
    public var count: Int { outer * channels * inner }

    /// The channel of flat element `i`. O(1).
    @inline(__always)
    public func channel(ofElement i: Int) -> Int { (i / inner) % channels }

    /// Calls `body(channel, range)` for every contiguous run of one channel's elements, in memory order.
    /// O(outer x channels) calls.
    @inline(__always)
    public func forEachRun(_ body: (Int, Range<Int>) throws -> Void) rethrows {
        guard inner > 0 else { return }
        var start = 0
        for _ in 0..<outer {
            for c in 0..<channels {
                try body(c, start..<(start + inner))
                start += inner
            }
        }
    }
}
