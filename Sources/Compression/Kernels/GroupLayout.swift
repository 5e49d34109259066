import ModelIR

/// How a tensor's elements map to parameter groups.
///
/// With the tensor seen as `outer × channels × inner` around an axis, element `(o, c, j)` belongs to group
/// `o × outerStride + (c / channelsPerGroup) × groupStride + j × innerStride`. `innerStride` is 0 (a
/// contiguous run of `inner` elements shares one group) or 1 (consecutive elements of a run are in
/// consecutive groups, as in ONNX blocked quantization).
public struct GroupLayout: Sendable {
    public let outer: Int
    public let channels: Int
    public let inner: Int
    public let channelsPerGroup: Int
    public let outerStride: Int
    public let groupStride: Int
    public let innerStride: Int
    public let groupCount: Int
    /// The granularity with a non-negative axis.
    public let granularity: QuantizationGranularity

    /// The layout of `LinearQuantizer`: `.perBlock` is ONNX blocked quantization.
    public init(linear granularity: QuantizationGranularity, dims: [Int], count: Int) throws(CompressionError) {
        try self.init(granularity, dims: dims, count: count, blocksAlongAxis: true)
    }

    /// The layout of palettized codebooks: `.perBlock(axis, g)` is one group per `g` consecutive channels.
    public init(palettized granularity: QuantizationGranularity, dims: [Int], count: Int) throws(CompressionError) {
        try self.init(granularity, dims: dims, count: count, blocksAlongAxis: false)
    }

    private init(
        _ granularity: QuantizationGranularity, dims: [Int], count: Int, blocksAlongAxis: Bool
    ) throws(CompressionError) {
        try KernelInput.checkShape(dims, count: count)
        switch granularity {
        case .perTensor:
            outer = 1
            channels = 1
            inner = count
            channelsPerGroup = 1
            outerStride = 0
            groupStride = 0
            innerStride = 0
            groupCount = 1
            self.granularity = .perTensor
        case .perAxis(let axis):
            let a = try KernelInput.normalizedAxis(axis, rank: dims.count)
            let view = try Self.view(dims, axis: a)
            outer = view.outer
            channels = view.channels
            inner = view.inner
            channelsPerGroup = 1
            outerStride = 0
            groupStride = 1
            innerStride = 0
            groupCount = channels
            self.granularity = .perAxis(axis: a)
        case .perBlock(let axis, let blockSize):
            let a = try KernelInput.normalizedAxis(axis, rank: dims.count)
            guard blockSize >= 1 else {
                throw CompressionError(.usage, "block size \(blockSize) must be at least 1")
            }
            let view = try Self.view(dims, axis: a)
            outer = view.outer
            channels = view.channels
            inner = view.inner
            channelsPerGroup = blockSize
            let blocks = channels / blockSize + (channels % blockSize == 0 ? 0 : 1)
            if blocksAlongAxis {
                outerStride = blocks * inner
                groupStride = inner
                innerStride = 1
                groupCount = outer * blocks * inner
            } else {
                outerStride = 0
                groupStride = 1
                innerStride = 0
                groupCount = blocks
            }
            self.granularity = .perBlock(axis: a, blockSize: blockSize)
        }
    }

    private static func view(_ dims: [Int], axis: Int) throws(CompressionError) -> ChannelView {
        do {
            return try ChannelView(dims: dims, axis: axis)
        } catch {
            throw CompressionError(.usage, error.message)
        }
    }

    /// Calls `body(group, stride, run)` for maximal runs of consecutive elements whose groups are
    /// `group + stride × (i - run.lowerBound)`, with `stride` 0 (one group) or 1 (consecutive groups),
    /// in memory order. Channels sharing a group are merged into one run; with `inner == 1`, a row of
    /// per-channel groups is one stride-1 run. O(outer × channels) calls at most.
    @inline(__always)
    public func forEachRun(_ body: (Int, Int, Range<Int>) -> Void) {
        guard inner > 0, channels > 0 else { return }
        var start = 0
        if inner == 1 && channelsPerGroup == 1 && groupStride == 1 {
            for o in 0..<outer {
                body(o * outerStride, 1, start..<(start + channels))
                start += channels
            }
        } else if innerStride == 0 || inner == 1 {
            for o in 0..<outer {
                var c = 0
                while c < channels {
                    let end = min(c - c % channelsPerGroup + channelsPerGroup, channels)
                    let length = (end - c) * inner
                    body(o * outerStride + (c / channelsPerGroup) * groupStride, 0, start..<(start + length))
                    start += length
                    c = end
                }
            }
        } else {
            for o in 0..<outer {
                for c in 0..<channels {
                    body(o * outerStride + (c / channelsPerGroup) * groupStride, 1, start..<(start + inner))
                    start += inner
                }
            }
        }
    }
}
