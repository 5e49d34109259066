"""A second implementation of the `.mpz` context-coded stream, written from schemas/mpz-context.md.

Only the decoder: `decode(data, count)` returns the `count` bytes a context-coded stream holds, or raises
`ContextStreamError` where the annex says a decoder MUST report the stream as corrupt. Pure Python and
integer-only, as the annex is; every name follows the annex's pseudo-code (section numbers in comments).
It runs at roughly 5-10 KB/s, which is enough for the graph sections of small models.
"""

from __future__ import annotations

from operator import mul

MAX_COUNT = 1 << 32  # section 1: `count` in 0 ... 2^32
TAIL_SLACK = 4  # section 4: a complete stream makes the decoder read 3 or 4 zero bytes past its end


class ContextStreamError(ValueError):
    """The stream is corrupt where the annex requires a decoder to say so."""


# --------------------------------------------------------------------------------------------
# 2. Shared functions
# --------------------------------------------------------------------------------------------

SQUASH_KNOTS = (1, 2, 3, 6, 10, 16, 27, 45, 73, 120, 194, 310, 488, 747, 1101, 1546, 2047,
                2549, 2994, 3348, 3607, 3785, 3901, 3975, 4022, 4050, 4068, 4079, 4085, 4089, 4092, 4093, 4094)
MASK32 = 0xFFFFFFFF


def squash_exact(d: int) -> int:
    if d > 2047:
        return 4095
    if d < -2047:
        return 1
    w = d & 127
    k = (d >> 7) + 16
    return (SQUASH_KNOTS[k] * (128 - w) + SQUASH_KNOTS[k + 1] * w + 64) >> 7


def _stretch_table() -> list[int]:
    table = [2047] * 4096
    nxt = 0
    for d in range(-2047, 2048):
        v = squash_exact(d)
        if v >= nxt:
            for p in range(nxt, v + 1):
                table[p] = d
            nxt = v + 1
    return table


STRETCH = _stretch_table()
# squash(d) = squashExact(clamp(d, -2047, 2047)), indexed by d + 2047 for d in -2047 ... 2047
SQUASH = [squash_exact(d) for d in range(-2047, 2048)]
RECIPROCAL = [131072 // (2 * n + 3) for n in range(1024)]


def mix(x: int) -> int:
    h = (x * 0x9E3779B1) & MASK32
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & MASK32
    h ^= h >> 13
    return h


def combine(h: int, v: int) -> int:
    return mix((h + ((v * 0x01000193) & MASK32)) & MASK32)


def ceil_log2(n: int) -> int:
    b = 0
    while (1 << b) < n:
        b += 1
    return b


def _is_word_byte(c: int) -> bool:
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x5A or 0x61 <= c <= 0x7A


# --------------------------------------------------------------------------------------------
# 3. The model and 4. the arithmetic decoder, in one loop (locals for speed)
# --------------------------------------------------------------------------------------------


def decode(data: bytes, count: int) -> bytes:
    """The `count` bytes the context-coded stream `data` holds (schemas/mpz-context.md)."""
    if not 0 <= count <= MAX_COUNT:
        raise ContextStreamError(f"count {count} outside 0 ... 2^32")
    if count == 0:
        if data:
            raise ContextStreamError(f"{len(data)} bytes for an empty payload")
        return b""

    # 3.1 Sizes
    lg = ceil_log2(max(count, 1))
    table_bits = min(max(lg + 2, 12), 20)
    match_bits = min(max(lg + 1, 10), 20)
    apm_bits = min(max(lg + 1, 10), 16)
    half = 1 << 31
    order0 = [half] * 256
    order1 = [half] * 65536
    hashed = [half] * (8 << table_bits)
    match_table = [0] * (1 << match_bits)
    match_counters = [half] * 64
    weights = [[8192] * 13 for _ in range(576)]  # 576 sets of 13 weights
    final0 = [21845, 21845, 21845, 0]  # final weight sets: no match, match
    final1 = [21845, 21845, 21845, 0]
    apm_row0 = [squash_exact((j - 16) * 128) * 16 for j in range(33)]
    apm = apm_row0 * (256 + 65536 + (1 << apm_bits))

    stretch = STRETCH
    squash = SQUASH
    recip = RECIPROCAL
    history = bytearray(count)

    # 3.2 State
    c0 = 1
    bit_count = 0
    nibble = 1
    c4 = 0
    c8 = 0
    position = 0
    word_hash = 0
    match_length = 0
    match_pointer = 0
    table_shift = 32 - table_bits
    region = [i << table_bits for i in range(8)]

    def contexts(c4: int, c8: int, word_hash: int) -> tuple[list[int], int]:
        """3.3: the eight hashes and the APM row at a byte boundary."""
        c1 = c4 & 0xFF
        h = [
            combine(1, c4 & 0xFFFF),
            combine(2, c4 & 0xFFFFFF),
            combine(3, c4),
            combine(combine(4, c4), c8 & 0xFFFF),
            combine(combine(5, word_hash), c1),
            combine(6, c4 & 0xFFFF00),
            combine(7, c4 & 0xFF00FF00),
            combine(11, (c4 & 0xFF000000) | (c8 >> 24)),
        ]
        row = (combine(8, c4 & 0xFFFF) >> (40 - apm_bits)) << 8
        return h, row

    h, apm_row = contexts(c4, c8, word_hash)
    block = [region[i] | ((h[i] >> table_shift) & ~15) for i in range(8)]

    # 4. The arithmetic decoder
    n_data = len(data)
    low = 0
    high = MASK32
    x = 0
    nxt = 0  # next stream byte to read; bytes past the end read as 0
    for _ in range(4):
        x = (x << 8) | (data[nxt] if nxt < n_data else 0)
        nxt += 1

    lim = 1 << 22  # weights stay in -2^22 ... 2^22
    while position < count:
        # 3.4 Predicting a bit
        c1 = c4 & 0xFF
        i1 = (c1 << 8) | c0
        b0, b1, b2, b3, b4, b5, b6, b7 = block
        s0 = b0 + nibble
        s1 = b1 + nibble
        s2 = b2 + nibble
        s3 = b3 + nibble
        s4 = b4 + nibble
        s5 = b5 + nibble
        s6 = b6 + nibble
        s7 = b7 + nibble
        xs = [stretch[order0[c0] >> 20], stretch[order1[i1] >> 20],
              stretch[hashed[s0] >> 20], stretch[hashed[s1] >> 20], stretch[hashed[s2] >> 20],
              stretch[hashed[s3] >> 20], stretch[hashed[s4] >> 20], stretch[hashed[s5] >> 20],
              stretch[hashed[s6] >> 20], stretch[hashed[s7] >> 20]]
        if match_length:
            e = (history[match_pointer] >> (7 - bit_count)) & 1
            bucket = match_length if match_length < 16 else min(16 + ((match_length - 16) >> 2), 31)
            match_slot = bucket * 2 + e
            strength = (match_length if match_length < 32 else 32) * 32
            xs += (stretch[match_counters[match_slot] >> 20], strength if e else -strength, 256)
            set1 = 257 + (match_length if match_length < 15 else 15) * 2 + e
            fw = final1
        else:
            match_slot = -1
            xs += (0, 0, 256)
            set1 = 256
            fw = final0

        o0 = c0
        o1 = set1
        o2 = 320 + c1
        d0 = sum(map(mul, weights[o0], xs)) >> 16
        d0 = -2047 if d0 < -2047 else 2047 if d0 > 2047 else d0
        d1 = sum(map(mul, weights[o1], xs)) >> 16
        d1 = -2047 if d1 < -2047 else 2047 if d1 > 2047 else d1
        d2 = sum(map(mul, weights[o2], xs)) >> 16
        d2 = -2047 if d2 < -2047 else 2047 if d2 > 2047 else d2
        f0, f1, f2, f3 = fw
        fdot = (f0 * d0 + f1 * d1 + f2 * d2 + f3 * 256) >> 16
        fdot = -2047 if fdot < -2047 else 2047 if fdot > 2047 else fdot
        pf = squash[fdot + 2047]

        s = stretch[pf] + 2048
        ix0 = c0 * 4224 + s  # ctx * 33 * 128 + s
        ix1 = (256 + i1) * 4224 + s
        ix2 = (65792 + (apm_row | c0)) * 4224 + s
        b0 = ix0 >> 7
        w = ix0 & 127
        a0 = (apm[b0] * (128 - w) + apm[b0 + 1] * w) >> 11
        b1 = ix1 >> 7
        w = ix1 & 127
        a1 = (apm[b1] * (128 - w) + apm[b1 + 1] * w) >> 11
        b2 = ix2 >> 7
        w = ix2 & 127
        a2 = (apm[b2] * (128 - w) + apm[b2 + 1] * w) >> 11
        p = (2 * pf + a0 + 2 * a1 + 3 * a2 + 4) >> 3
        p = 1 if p < 1 else 4095 if p > 4095 else p

        # 4. Decode the bit
        rng = high - low
        mid = low + (rng >> 12) * p + (((rng & 0xFFF) * p) >> 12)
        if x <= mid:
            y = 1
            high = mid
        else:
            y = 0
            low = mid + 1
        while not (low ^ high) & 0xFF000000:
            low = (low << 8) & MASK32
            high = ((high << 8) & MASK32) | 0xFF
            x = ((x << 8) & MASK32) | (data[nxt] if nxt < n_data else 0)
            nxt += 1

        # 3.5 Updating with the coded bit y. Counters (2.1): P += ((y << 22) - P) * reciprocal[n] >> 16,
        # n = min(n + 1, limit); P never leaves 22 bits, so the word needs no masking.
        yp = y << 22
        t = order0[c0]
        n = t & 1023
        pr = t >> 10
        order0[c0] = ((pr + (((yp - pr) * recip[n]) >> 16)) << 10) | (n + 1 if n < 1023 else 1023)
        t = order1[i1]
        n = t & 1023
        pr = t >> 10
        order1[i1] = ((pr + (((yp - pr) * recip[n]) >> 16)) << 10) | (n + 1 if n < 1023 else 1023)
        for sl in (s0, s1, s2, s3, s4, s5, s6, s7):
            t = hashed[sl]
            n = t & 1023
            pr = t >> 10
            hashed[sl] = ((pr + (((yp - pr) * recip[n]) >> 16)) << 10) | (n + 1 if n < 30 else 30)
        if match_slot >= 0:
            t = match_counters[match_slot]
            n = t & 1023
            pr = t >> 10
            match_counters[match_slot] = ((pr + (((yp - pr) * recip[n]) >> 16)) << 10) | (n + 1 if n < 1023 else 1023)

        # first-layer mixers: err = (y << 12) - squash(dot), 0 inside (-128, 128), else times 24
        y12 = y << 12
        for o, d in ((o0, d0), (o1, d1), (o2, d2)):
            err = y12 - squash[d + 2047]
            if -128 < err < 128:
                continue
            err *= 24
            nw = [wi + ((xi * err + 8192) >> 14) for wi, xi in zip(weights[o], xs)]
            if max(nw) > lim or min(nw) < -lim:
                nw = [-lim if v < -lim else lim if v > lim else v for v in nw]
            weights[o] = nw
        err = (y12 - pf) * 2
        for i, v in enumerate((d0, d1, d2, 256)):
            v = fw[i] + ((v * err + 8192) >> 14)
            fw[i] = -lim if v < -lim else lim if v > lim else v
        target = (y << 16) + (y << 7) - 2 * y
        for ix in (ix0, ix1, ix2):  # the nearer bin moves
            b = (ix >> 7) + ((ix & 127) >> 6)
            apm[b] += (target - apm[b]) >> 7

        c0 = (c0 << 1) | y
        nibble = (nibble << 1) | y
        bit_count += 1
        if match_length and ((history[match_pointer] | 256) >> (8 - bit_count)) != c0:
            match_length = 0
        if bit_count == 4:
            nibble = 1
            block = [region[i] | ((combine(h[i], c0) >> table_shift) & ~15) for i in range(8)]
        elif bit_count == 8:
            # 3.6 End of a byte (the byte is stored first: the match model reads it)
            c = c0 & 0xFF
            history[position] = c
            c8 = ((c8 << 8) & MASK32) | (c4 >> 24)
            c4 = ((c4 << 8) & MASK32) | c
            position += 1
            c0 = 1
            nibble = 1
            bit_count = 0
            word_hash = combine(word_hash, c | 0x20) if _is_word_byte(c) else 0
            if match_length:
                match_length = min(match_length + 1, 65535)
                match_pointer += 1
            if position >= 6:
                m = combine(combine(9, c4), c8 & 0xFFFF) >> (32 - match_bits)
                if match_length == 0:
                    cand = match_table[m]
                    if cand > 0:
                        ln = 0
                        while ln < 32 and ln < cand and history[cand - 1 - ln] == history[position - 1 - ln]:
                            ln += 1
                        if ln >= 6:
                            match_length = ln
                            match_pointer = cand
                match_table[m] = position & MASK32
            h, apm_row = contexts(c4, c8, word_hash)
            block = [region[i] | ((h[i] >> table_shift) & ~15) for i in range(8)]
            if nxt - n_data > TAIL_SLACK:
                raise ContextStreamError(
                    f"truncated: {n_data} bytes cannot hold {count} coded bytes (read past the end at byte {position})")

    overrun = max(nxt - n_data, 0)
    if overrun > TAIL_SLACK:
        raise ContextStreamError(f"truncated: {n_data} bytes cannot hold {count} coded bytes")
    if overrun < TAIL_SLACK - 1:
        raise ContextStreamError(f"{TAIL_SLACK - 1 - overrun} bytes after the end of the coded data")
    return bytes(history)
