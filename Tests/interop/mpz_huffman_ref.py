"""A second implementation of `.mpz` tensor chunks, written from schemas/mpz.md (7) and schemas/mpz-huffman.md.

Decoders only: `parse_chunk(data)` reads a chunk header and its encoding parameters (mpz.md 7.1, 7.2);
`decode_symbol_block(block, bits, count)` returns the codes of a Huffman symbol block (annex section 5);
`decode_plane_block(block, width, byte_count)` the bytes of a plane block (annex section 6);
`chunk_values(chunk)` the tensor's elements as float32 (numpy), dequantized as mpz.md 7.2 says.
Every structural rule the annex gives a decoder (MUST reject) raises `HuffmanFormatError`.
Bit-serial parts are numpy-vectorised where the format allows (window lookups), the rest is plain Python.
"""

from __future__ import annotations

import math
import struct

import numpy as np

SEGMENT = 262144  # 2^18, annex 4
MAX_LEN = 12


class HuffmanFormatError(ValueError):
    """The block breaks a rule of schemas/mpz-huffman.md or schemas/mpz.md."""


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


class _Cursor:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise HuffmanFormatError(f"{what}: {n} bytes at {self.pos} run past the end ({self.end})")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def unpack(self, fmt: str, what: str):
        b = self.take(struct.calcsize(fmt), what)
        return struct.unpack("<" + fmt, b)

    def u8(self, what: str) -> int:
        return self.unpack("B", what)[0]

    def u16(self, what: str) -> int:
        return self.unpack("H", what)[0]

    def u32(self, what: str) -> int:
        return self.unpack("I", what)[0]

    def u64(self, what: str) -> int:
        return self.unpack("Q", what)[0]


# --------------------------------------------------------------------------------------------
# Annex 2: codes
# --------------------------------------------------------------------------------------------


class Code:
    """A canonical code (annex 2.1) with a 12-bit lookup table for LSB-first streams (2.2)."""

    def __init__(self, lengths: list[int], alphabet: int):
        self.lengths = lengths + [0] * (alphabet - len(lengths))
        used = [s for s, n in enumerate(self.lengths) if n > 0]
        self.used = len(used)
        if self.used == 1 and self.lengths[used[0]] != 1:
            raise HuffmanFormatError(f"single-symbol code with length {self.lengths[used[0]]}, not 1")
        if self.used >= 2:
            kraft = sum(1 << (MAX_LEN - n) for n in self.lengths if n > 0)
            if kraft != 4096:
                raise HuffmanFormatError(f"Kraft sum {kraft} / 4096: not a complete prefix code")
        self.single = used[0] if self.used == 1 else None
        self.max_len = max(self.lengths) if self.used >= 2 else (1 if self.used == 1 else 0)
        self.sym = np.zeros(1 << MAX_LEN, dtype=np.int64)
        self.len = np.zeros(1 << MAX_LEN, dtype=np.int64)
        if self.used >= 2:
            count = [0] * (MAX_LEN + 1)
            for n in self.lengths:
                if n:
                    count[n] += 1
            nxt = [0] * (MAX_LEN + 1)
            code = 0
            for n in range(1, MAX_LEN + 1):
                code = (code + count[n - 1]) << 1
                nxt[n] = code
            for s, n in enumerate(self.lengths):
                if n == 0:
                    continue
                value = nxt[n]
                nxt[n] += 1
                rev = int(format(value, f"0{n}b")[::-1], 2)  # MSB-first code in an LSB-first stream
                self.sym[rev::1 << n] = s
                self.len[rev::1 << n] = n


def read_code_table(cur: _Cursor, alphabet: int) -> Code:
    """Annex 2.3: `u16 K`, then the K lengths delta-coded LSB-first, padded to a byte."""
    k = cur.u16("code table K")
    if k > alphabet:
        raise HuffmanFormatError(f"code table K {k} > alphabet {alphabet}")
    data = cur.data
    start = cur.pos
    bit = 0

    def read_bit() -> int:
        nonlocal bit
        i = start + (bit >> 3)
        if i >= cur.end:
            raise HuffmanFormatError("code table runs past the end of the block")
        b = (data[i] >> (bit & 7)) & 1
        bit += 1
        return b

    lengths = []
    prev = 0
    for _ in range(k):
        if read_bit() == 0:
            n = prev
        elif read_bit() == 0:
            n = prev - 1 if read_bit() else prev + 1
        else:
            n = sum(read_bit() << j for j in range(4))
        if not 0 <= n <= MAX_LEN:
            raise HuffmanFormatError(f"code length {n} outside 0...12")
        lengths.append(n)
        prev = n
    size = _ceil_div(bit, 8)
    if size and data[start + size - 1] >> (bit & 7 or 8):
        raise HuffmanFormatError("non-zero padding bits after the code lengths")
    cur.pos = start + size
    if k > 0 and lengths[-1] == 0:
        raise HuffmanFormatError("non-canonical code table: last stored length is 0")
    return Code(lengths, alphabet)


# --------------------------------------------------------------------------------------------
# Annex 3, 4: groups and Huffman sequences
# --------------------------------------------------------------------------------------------


def _decode_stream(stream: bytes, code: Code, n: int) -> np.ndarray:
    """n symbols of one stream (annex 3 rules 1-3)."""
    if n == 0 or code.single is not None:
        if stream:
            raise HuffmanFormatError(f"stream of {len(stream)} bytes where none is allowed")
        return np.full(n, code.single if code.single is not None else 0, dtype=np.int64)
    if code.used == 0:
        raise HuffmanFormatError(f"empty code for {n} symbols")
    if len(stream) > _ceil_div(n * code.max_len, 8):
        raise HuffmanFormatError(f"stream of {len(stream)} bytes exceeds ceil({n} x {code.max_len} / 8)")
    # Bits past the end read as zero (only to detect rule 2): pad, then look up a 12-bit window per bit.
    buf = np.frombuffer(bytes(stream) + bytes(4), dtype=np.uint8)
    bits = np.unpackbits(buf, bitorder="little").astype(np.int64)
    nbits = len(stream) * 8
    win = np.zeros(nbits + 1, dtype=np.int64)
    for j in range(MAX_LEN):
        win |= bits[j:j + nbits + 1] << j
    lens = code.len[win].tolist()
    positions = [0] * n
    pos = 0
    for i in range(n):
        if pos > nbits:
            raise HuffmanFormatError(f"stream of {len(stream)} bytes ends after {i} of {n} symbols")
        positions[i] = pos
        pos += lens[pos]
    if _ceil_div(pos, 8) != len(stream):
        raise HuffmanFormatError(f"{n} symbols use {pos} bits; the stream has {len(stream)} bytes")
    if pos & 7 and stream[-1] >> (pos & 7):
        raise HuffmanFormatError("non-zero padding bits at the end of a stream")
    return code.sym[win[np.array(positions, dtype=np.int64)]]


def _decode_group(cur: _Cursor, code: Code, m: int, sizes: tuple[int, ...]) -> np.ndarray:
    q = _ceil_div(m, 4)
    out = []
    for k in range(4):
        n_k = max(0, min(m, (k + 1) * q) - k * q)
        out.append(_decode_stream(cur.take(sizes[k], f"stream {k}"), code, n_k))
    return np.concatenate(out) if m else np.zeros(0, dtype=np.int64)


def read_sequence(cur: _Cursor, n: int, alphabet: int) -> np.ndarray:
    """Annex 4: table, directory of ceil(n / 2^18) groups, then the streams."""
    code = read_code_table(cur, alphabet)
    groups = _ceil_div(n, SEGMENT)
    directory = [cur.unpack("4I", "stream directory") for _ in range(groups)]
    parts = []
    for g in range(groups):
        m = min(n, (g + 1) * SEGMENT) - g * SEGMENT
        parts.append(_decode_group(cur, code, m, directory[g]))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# Annex 5: symbol blocks
# --------------------------------------------------------------------------------------------


def unpack_codes(packed: bytes, bits: int, count: int) -> np.ndarray:
    """Codes packed `bits` bits each, low bits first (mpz.md 7.2); padding bits must be zero."""
    if len(packed) != _ceil_div(count * bits, 8):
        raise HuffmanFormatError(f"packed size {len(packed)} != ceil({count} x {bits} / 8)")
    b = np.unpackbits(np.frombuffer(packed, dtype=np.uint8), bitorder="little").astype(np.int64)
    if b[count * bits:].any():
        raise HuffmanFormatError("non-zero padding bits after the packed codes")
    b = b[:count * bits].reshape(count, bits)
    return (b << np.arange(bits, dtype=np.int64)).sum(axis=1)


def decode_symbol_block(block: bytes, bits: int, count: int) -> np.ndarray:
    """The `count` codes of a symbol block (annex 5), as int64."""
    if not 1 <= bits <= MAX_LEN:
        raise HuffmanFormatError(f"symbol block with bits {bits} outside 1...12")
    cur = _Cursor(block)
    mode = cur.u8("mode")
    if mode == 0:
        codes = unpack_codes(cur.take(_ceil_div(count * bits, 8), "stored codes"), bits, count)
    elif mode == 1:
        codes = read_sequence(cur, count, 1 << bits)
    elif mode == 2:
        if bits > 4:
            raise HuffmanFormatError(f"tuples mode for bits {bits} > 4")
        t = 8 // bits
        tuples = read_sequence(cur, _ceil_div(count, t), 1 << (t * bits))
        mask = (1 << bits) - 1
        codes = np.stack([(tuples >> (r * bits)) & mask for r in range(t)], axis=1).reshape(-1)
        if codes[count:].any():
            raise HuffmanFormatError("last tuple has non-zero padding codes")
        codes = codes[:count]
    elif mode == 3:
        codes = _decode_runs(cur, bits, count)
    else:
        raise HuffmanFormatError(f"unknown symbol block mode {mode}")
    if cur.pos != len(block):
        raise HuffmanFormatError(f"{len(block) - cur.pos} bytes after the symbol block's data")
    return codes


def _decode_runs(cur: _Cursor, bits: int, count: int) -> np.ndarray:
    z = cur.u16("run symbol")
    if z >= 1 << bits:
        raise HuffmanFormatError(f"run symbol {z} >= 2^{bits}")
    gap_code = read_code_table(cur, 256)
    pairs = bits <= 4
    literal_code = read_code_table(cur, 1 << (2 * bits if pairs else bits))
    segments = _ceil_div(count, SEGMENT)
    directory = [cur.unpack("10I", "runs directory") for _ in range(segments)]
    out = np.full(count, z, dtype=np.int64)
    for g, entry in enumerate(directory):
        start = g * SEGMENT
        e = min(count, start + SEGMENT) - start
        gap_count, literal_count = entry[0], entry[1]
        if gap_count > e:
            raise HuffmanFormatError(f"segment {g}: gapCount {gap_count} > {e} elements")
        if literal_count > gap_count:
            raise HuffmanFormatError(f"segment {g}: literalCount {literal_count} > gapCount {gap_count}")
        gaps = _decode_group(cur, gap_code, gap_count, entry[2:6])
        if pairs:
            syms = _decode_group(cur, literal_code, _ceil_div(literal_count, 2), entry[6:10])
            mask = (1 << bits) - 1
            lits = np.stack([syms & mask, syms >> bits], axis=1).reshape(-1)
            if literal_count % 2 and lits[literal_count]:
                raise HuffmanFormatError(f"segment {g}: odd literal count with a non-zero high half")
            lits = lits[:literal_count]
        else:
            lits = _decode_group(cur, literal_code, literal_count, entry[6:10])
        if int((gaps != 255).sum()) != literal_count:
            raise HuffmanFormatError(f"segment {g}: {int((gaps != 255).sum())} non-escape gaps, "
                                     f"{literal_count} literals")
        if gap_count and gaps[-1] == 255:
            raise HuffmanFormatError(f"segment {g}: gaps end with an escape")
        if (lits == z).any():
            raise HuffmanFormatError(f"segment {g}: a literal equals the run symbol")
        # Literal positions: each gap v advances v (escape: 255, no literal); a literal takes one more.
        advance = np.where(gaps == 255, 255, gaps + 1)
        ends = np.cumsum(advance)
        lit_pos = (ends - 1)[gaps != 255]
        if len(lit_pos) and lit_pos[-1] >= e:
            raise HuffmanFormatError(f"segment {g}: literal position {int(lit_pos[-1])} at or past {e}")
        out[start + lit_pos] = lits
    return out


# --------------------------------------------------------------------------------------------
# Annex 6: plane blocks
# --------------------------------------------------------------------------------------------


def decode_plane_block(block: bytes, width: int, byte_count: int) -> bytes:
    """The `byte_count` bytes of a plane block (annex 6) of element width `width`."""
    cur = _Cursor(block)
    flags = cur.u8("flags")
    w = cur.u8("element width")
    if flags & ~3:
        raise HuffmanFormatError(f"unknown plane flags {flags:#x}")
    if w != width or w not in (1, 2, 4, 8):
        raise HuffmanFormatError(f"element width {w}, expected {width}")
    rotate, zero_mask = flags & 1, flags & 2
    if rotate and w == 1:
        raise HuffmanFormatError("rotate with element width 1")
    n = byte_count // w
    mask = None
    if zero_mask:
        size = cur.u32("mask size")
        mask = decode_symbol_block(cur.take(size, "mask"), 1, n).astype(bool)
    m = int(mask.sum()) if mask is not None else n
    methods = cur.take(w, "plane methods")
    planes = []
    for j in range(w):
        if methods[j] == 0:
            planes.append(np.frombuffer(cur.take(m, f"raw plane {j}"), dtype=np.uint8))
        elif methods[j] == 1:
            planes.append(read_sequence(cur, m, 256).astype(np.uint8))
        else:
            raise HuffmanFormatError(f"unknown plane method {methods[j]}")
    tail = cur.take(byte_count % w, "tail")
    if cur.pos != len(block):
        raise HuffmanFormatError(f"{len(block) - cur.pos} bytes after the plane block's tail")
    elems = np.stack(planes, axis=1) if w > 1 else planes[0].reshape(m, 1)
    if rotate:
        kind = {2: np.uint16, 4: np.uint32, 8: np.uint64}[w]
        v = np.ascontiguousarray(elems).view("<" + np.dtype(kind).str[1:]).reshape(m)
        v = (v >> kind(1)) | (v << kind(8 * w - 1))  # rotate right by one bit
        elems = v.astype("<" + np.dtype(kind).str[1:]).view(np.uint8).reshape(m, w)
    if mask is not None:
        full = np.zeros((n, w), dtype=np.uint8)
        full[mask] = elems
        elems = full
    return elems.tobytes() + tail


# --------------------------------------------------------------------------------------------
# mpz.md 7: chunk header, encodings and values
# --------------------------------------------------------------------------------------------

DTYPE_WIDTH = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
FLOAT_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}  # bfloat16 (16) handled by hand


def _granularity(cur: _Cursor, rank: int) -> dict:
    kind = cur.u8("granularity kind")
    if cur.take(3, "granularity reserved") != bytes(3):
        raise HuffmanFormatError("non-zero granularity reserved bytes")
    axis = cur.u32("granularity axis")
    block = cur.u64("granularity block size")
    if kind not in (0, 1, 2):
        raise HuffmanFormatError(f"unknown granularity kind {kind}")
    if kind in (1, 2) and axis >= rank:
        raise HuffmanFormatError(f"granularity axis {axis} out of range for rank {rank}")
    if kind == 2 and block < 1:
        raise HuffmanFormatError("granularity block size 0")
    return dict(kind=kind, axis=axis, blockSize=block)


def parse_chunk(data: bytes) -> dict:
    """The chunk header (mpz.md 7.1) and encoding parameters (7.2); `data` is the chunk's bytes."""
    cur = _Cursor(data)
    encoding, entropy, bits, flags = cur.unpack("BBBB", "chunk header")
    dtype, rank = cur.unpack("iI", "dtype, rank")
    if rank > 64:
        raise HuffmanFormatError(f"rank {rank} > 64")
    dims = list(cur.unpack(f"{rank}q", "dims")) if rank else []
    if any(d < 0 for d in dims):
        raise HuffmanFormatError(f"negative dim in {dims}")
    c = dict(encoding=encoding, entropy=entropy, bits=bits, flags=flags, dtype=dtype, dims=dims,
             n=math.prod(dims))
    if flags & ~1:
        raise HuffmanFormatError(f"unknown chunk flags {flags:#x}")
    if encoding in (2, 3):
        if not 1 <= bits <= 16:
            raise HuffmanFormatError(f"bits {bits} outside 1..16")
        c["granularity"] = _granularity(cur, rank)
        groups = cur.u64("groups" if encoding == 2 else "entries")
        if encoding == 2:
            c["scale"] = np.frombuffer(cur.take(4 * groups, "scales"), dtype="<f4")
            zp_count = cur.u64("zero point count")
            if zp_count not in (0, groups):
                raise HuffmanFormatError(f"zeroPointCount {zp_count} is neither 0 nor groups {groups}")
            c["zeroPoint"] = np.frombuffer(cur.take(4 * zp_count, "zero points"), dtype="<i4")
            if not np.isfinite(c["scale"]).all():
                raise HuffmanFormatError("a NaN or infinite scale")
        else:
            if groups % (1 << bits):
                raise HuffmanFormatError(f"{groups} codebook entries, not a multiple of 2^{bits}")
            c["codebook"] = np.frombuffer(cur.take(4 * groups, "codebook"), dtype="<f4")
    elif encoding == 4:
        c["storedType"] = cur.u32("stored type")
        if c["storedType"] not in (10, 16):
            raise HuffmanFormatError(f"reduced storedType {c['storedType']}")
    elif encoding not in (0, 1, 5):
        raise HuffmanFormatError(f"unknown encoding {encoding}")
    size = cur.u64("dataSize")
    c["data"] = cur.take(size, "data")
    if cur.pos != len(data):
        raise HuffmanFormatError(f"header + dataSize {cur.pos} != storedSize {len(data)}")
    return c


def group_count(c: dict) -> int:
    """The number of groups the granularity defines (mpz.md 7.2)."""
    g = c["granularity"]
    dims = c["dims"]
    if g["kind"] == 0:
        return 1
    if g["kind"] == 1:
        return dims[g["axis"]]
    blocks = _ceil_div(dims[g["axis"]], g["blockSize"])
    if c["encoding"] == 3:
        return blocks
    return math.prod(dims) // dims[g["axis"]] * blocks if dims[g["axis"]] else 0


def group_index(c: dict) -> np.ndarray:
    """Each element's group (mpz.md 7.2 granularity), row-major over dims."""
    g = c["granularity"]
    dims = c["dims"]
    n = c["n"]
    if g["kind"] == 0:
        return np.zeros(n, dtype=np.int64)
    axis = g["axis"]
    along = np.broadcast_to(
        np.arange(dims[axis], dtype=np.int64).reshape([-1 if i == axis else 1 for i in range(len(dims))]),
        dims).reshape(-1)
    if g["kind"] == 1:
        return along
    b = g["blockSize"]
    if c["encoding"] == 3:  # palette: group j / blockSize along the axis
        return along // b
    # linear (ONNX blocked): row-major index over dims with dims[axis] replaced by the block count
    blocks = _ceil_div(dims[axis], b)
    idx = np.indices(dims).reshape(len(dims), -1)
    idx[axis] //= b
    shape = list(dims)
    shape[axis] = blocks
    return np.ravel_multi_index(tuple(idx), shape) if n else np.zeros(0, dtype=np.int64)


def chunk_codes(c: dict) -> np.ndarray:
    """The n codes (linear) or indices (palette) of a chunk, signed codes sign-extended."""
    if c["entropy"] == 0:
        codes = unpack_codes(c["data"], c["bits"], c["n"])
    elif c["entropy"] == 1:
        if c["bits"] > MAX_LEN:
            raise HuffmanFormatError(f"Huffman symbol block with bits {c['bits']} > 12")
        codes = decode_symbol_block(c["data"], c["bits"], c["n"])
    else:
        raise HuffmanFormatError(f"unknown entropy {c['entropy']} for encoding {c['encoding']}")
    if c["encoding"] == 2 and c["flags"] & 1:
        bits = c["bits"]
        codes = np.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)
    return codes


def chunk_values(c: dict) -> np.ndarray:
    """A linear, palette or reduced chunk's element values as float32, flattened (mpz.md 7.2)."""
    if c["encoding"] == 4:
        stored = np.frombuffer(dense_bytes(c), dtype="<u2")
        if c["storedType"] == 10:
            return stored.view("<f2").astype(np.float32)
        return (stored.astype(np.uint32) << 16).view(np.float32)  # bfloat16: the high half of a float32
    codes = chunk_codes(c)
    groups = group_index(c)
    if c["encoding"] == 2:  # (code - zeroPoint[group]) x scale[group], computed in f32
        scale = c["scale"]
        zp = c["zeroPoint"] if len(c["zeroPoint"]) else np.zeros(len(scale), dtype=np.int32)
        if len(scale) != group_count(c):
            raise HuffmanFormatError(f"{len(scale)} scales for {group_count(c)} groups")
        diff = (codes - zp[groups].astype(np.int64)).astype(np.float32)
        return (diff * scale[groups]).astype(np.float32)
    if c["encoding"] == 3:  # codebook[group x 2^bits + index]
        per = 1 << c["bits"]
        if len(c["codebook"]) != group_count(c) * per:
            raise HuffmanFormatError(f"{len(c['codebook'])} codebook entries for {group_count(c)} groups")
        return c["codebook"][groups * per + codes].astype(np.float32)
    raise HuffmanFormatError(f"encoding {c['encoding']} has no codes")


def dense_bytes(c: dict) -> bytes:
    """The dense bytes of a raw, planes or reduced chunk (reduced: the 16-bit stored values)."""
    width = DTYPE_WIDTH.get(c["dtype"])
    if c["encoding"] == 0:
        return c["data"]
    if c["encoding"] == 1:
        return decode_plane_block(c["data"], width, width * c["n"])
    if c["encoding"] == 4:
        return c["data"] if c["entropy"] == 0 else decode_plane_block(c["data"], 2, 2 * c["n"])
    raise HuffmanFormatError(f"encoding {c['encoding']} is not dense")
