"""Short-vector operations on rows of float32 values, written as LLVM IR for numba (``@intrinsic``).

The lattice and the mean field work on rows of 2, 4 or 8k values (one row
per pixel or lattice vertex: the classes). numba leaves LLVM's SLP
vectoriser off and its loop vectoriser does not take such short rows, so
plain loops run one value at a time; these helpers emit one vector load,
multiply, add and store per 2, 4 or 8 values instead. LLVM lowers the
vector IR for whatever CPU numba compiles for (AVX registers here, SSE on an
older CPU), so the code stays portable.

Each lane computes exactly what the scalar code would (no fused
multiply-add, no reordering): the mean field amplifies rounding differences
(about 3.5x per iteration on GrabCut), and the engines' agreement relies on
rounding as pydensecrf does. :func:`pexp4` is Eigen's SSE ``pexp`` (Cephes'
``expf``), which pydensecrf applies to its classes four at a time.

Every helper takes flat 1-D C-contiguous float32 arrays and element
offsets; callers keep the offsets in bounds (no checks, as numba's own
indexing).

After editing this module, clear numba's cache (``__pycache__/*.nbi``,
``*.nbc`` next to lattice.py and numba_engine.py): numba checks only the
calling function's own file, so cached kernels would keep the old helpers
(an installed package is unaffected: installing rewrites every file).
"""

from __future__ import annotations

import struct
from decimal import Decimal, getcontext

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["axpy2", "axpy4", "axpy8", "axpy_scaled2", "axpy_scaled4", "axpy_scaled8", "blur2", "blur4", "blur8",
           "divide2", "divide4", "divide8", "expf4", "message2_0", "message2_1", "message2_2", "message4_0",
           "message4_1", "message4_2", "message8_0", "message8_1", "message8_2", "message16_0", "message16_1",
           "message16_2", "pexp4", "scale2", "scale4", "scale8", "slice_add2", "slice_add4",
           "slice_add8", "slice_add_last2", "slice_add_last4", "slice_add_last8"]

_F32 = ir.FloatType()
_I32 = ir.IntType(32)


def _vec(width: int) -> ir.VectorType:
    return ir.VectorType(_F32, width)


def _row(context, builder, arrty, arr, offset, offty, width):
    """Return a <width x float>* pointing at element ``offset`` of the flat array ``arr``."""
    data = context.make_array(arrty)(context, builder, arr).data
    index = context.cast(builder, offset, offty, types.int64)
    return builder.bitcast(builder.gep(data, [index], inbounds=True), _vec(width).as_pointer())


def _load(context, builder, sig, args, k, width):
    """Load the row of ``args[k]`` (an array) at offset ``args[k + 1]``."""
    return builder.load(_row(context, builder, sig.args[k], args[k], args[k + 1], sig.args[k + 1], width), align=4)


def _store(context, builder, sig, args, value, width):
    """Store ``value`` into the row of ``args[0]`` at offset ``args[1]``."""
    builder.store(value, _row(context, builder, sig.args[0], args[0], args[1], sig.args[1], width), align=4)


def _broadcast(context, builder, sig, args, k, width):
    """Return the scalar ``args[k]`` as float32, broadcast to a <width x float>."""
    return _splat_value(builder, context.cast(builder, args[k], sig.args[k], types.float32), width)


def _splat_value(builder, value, width):
    """Return the float ``value`` broadcast to a <width x float>."""
    vec = _vec(width)
    one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                  ir.Constant(ir.VectorType(_I32, width), [0] * width))


def _const(value, width):
    return ir.Constant(_vec(width), [float(np.float32(value))] * width)


def _make_axpy(width):
    @intrinsic
    def op(typingctx, dst, d, a, src, s):
        sig = types.void(dst, d, a, src, s)

        def codegen(context, builder, sig, args):
            prod = builder.fmul(_broadcast(context, builder, sig, args, 2, width),
                                _load(context, builder, sig, args, 3, width))
            _store(context, builder, sig, args, builder.fadd(_load(context, builder, sig, args, 0, width), prod), width)
            return context.get_dummy_value()

        return sig, codegen

    return op


def _make_axpy_scaled(width):
    @intrinsic
    def op(typingctx, dst, d, a, src, s, b):
        sig = types.void(dst, d, a, src, s, b)

        def codegen(context, builder, sig, args):
            prod = builder.fmul(_broadcast(context, builder, sig, args, 2, width),
                                _load(context, builder, sig, args, 3, width))
            prod = builder.fmul(prod, _broadcast(context, builder, sig, args, 5, width))
            _store(context, builder, sig, args, builder.fadd(_load(context, builder, sig, args, 0, width), prod), width)
            return context.get_dummy_value()

        return sig, codegen

    return op


def _make_scale(width):
    @intrinsic
    def op(typingctx, dst, d, a, src, s):
        sig = types.void(dst, d, a, src, s)

        def codegen(context, builder, sig, args):
            prod = builder.fmul(_broadcast(context, builder, sig, args, 2, width),
                                _load(context, builder, sig, args, 3, width))
            _store(context, builder, sig, args, prod, width)
            return context.get_dummy_value()

        return sig, codegen

    return op


def _make_divide(width):
    @intrinsic
    def op(typingctx, dst, d, src, s, a):
        sig = types.void(dst, d, src, s, a)

        def codegen(context, builder, sig, args):
            quotient = builder.fdiv(_load(context, builder, sig, args, 2, width),
                                    _broadcast(context, builder, sig, args, 4, width))
            _store(context, builder, sig, args, quotient, width)
            return context.get_dummy_value()

        return sig, codegen

    return op


def _make_blur(width):
    @intrinsic
    def op(typingctx, dst, d, src, i, a, b):
        sig = types.void(dst, d, src, i, a, b)

        def codegen(context, builder, sig, args):
            rows = [builder.load(_row(context, builder, sig.args[2], args[2], args[k], sig.args[k], width), align=4)
                    for k in (3, 4, 5)]
            r = builder.fadd(rows[0], builder.fmul(_const(0.5, width), builder.fadd(rows[1], rows[2])))
            _store(context, builder, sig, args, r, width)
            return context.get_dummy_value()

        return sig, codegen

    return op


def _slice_ir(context, builder, arrays, values, point, width, alpha_last):
    """Return IR summing point ``point``'s lattice row (<width x float>) over its simplex, in a register.

    ``arrays``/``values``: the numba types and values of (grid, flat offsets, flat barycentric weights,
    D + 1, alpha); sums ``(bary_j * alpha) * grid[o_j * width : +width]`` over j (``alpha_last``:
    ``(bary_j * grid) * alpha``, pydensecrf's order for at most two values).
    """
    vec = _vec(width)
    i64 = ir.IntType(64)
    grid_data, off_data, bary_data = (context.make_array(t)(context, builder, v).data
                                      for t, v in zip(arrays[:3], values[:3]))
    n_vertices = context.cast(builder, values[3], arrays[3], types.int64)
    alpha = context.cast(builder, values[4], arrays[4], types.float32)
    acc = cgutils.alloca_once_value(builder, ir.Constant(vec, [0.0] * width))  # promoted to a register
    first = builder.mul(point, n_vertices)
    with cgutils.for_range(builder, n_vertices) as loop:
        k = builder.add(first, loop.index)
        o = builder.zext(builder.load(builder.gep(off_data, [k], inbounds=True)), i64)
        bw = builder.load(builder.gep(bary_data, [k], inbounds=True))
        row = builder.gep(grid_data, [builder.mul(o, ir.Constant(i64, width))], inbounds=True)
        g = builder.load(builder.bitcast(row, vec.as_pointer()), align=4)
        if alpha_last:
            term = builder.fmul(builder.fmul(_splat_value(builder, bw, width), g), _splat_value(builder, alpha, width))
        else:
            term = builder.fmul(_splat_value(builder, builder.fmul(bw, alpha), width), g)
        builder.store(builder.fadd(builder.load(acc), term), acc)
    return builder.load(acc)


def _lanes(builder, v, start, count):
    """Return lanes start..start+count-1 of vector ``v`` as a <count x float>."""
    return builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(_I32, count), list(range(start, start + count))))


def _concat(builder, parts):
    """Return the concatenation of equal-width float vectors."""
    while len(parts) > 1:
        n = parts[0].type.count
        mask = ir.Constant(ir.VectorType(_I32, 2 * n), list(range(2 * n)))
        parts = [builder.shuffle_vector(parts[k], parts[k + 1], mask) for k in range(0, len(parts), 2)]
    return parts[0]


def _softmax_ir(builder, e, n, width):
    """Return IR for the softmax of the first ``n`` lanes of ``e`` (<width x float>; other lanes 0).

    Rounded as pydensecrf's ``expAndNormalize`` (Eigen 3.2, SSE): classes in
    whole packets of four through ``pexp`` (:func:`_pexp_ir`), the rest
    through libm's ``expf`` (:func:`_expf_ir`), the sum in Eigen's order
    (packets lane-wise, two packets apart while eight or more are left, then
    (l0 + l2) + (l1 + l3), then the rest one by one), then a division.
    """
    i64 = ir.IntType(64)
    ivec = ir.VectorType(_I32, width)
    lanes = ir.Constant(ivec, list(range(width)))
    n32 = builder.trunc(n, _I32)
    valid = builder.icmp_signed("<", lanes, _splat_int(builder, n32, width))
    top = _reduce_max(builder, builder.select(valid, e, _const(float("-inf"), width)), width)
    x = builder.fsub(e, _splat_value(builder, top, width))
    packets = builder.and_(n, ir.Constant(i64, -4))

    def is_packets(value):
        return builder.icmp_signed("==", packets, ir.Constant(i64, value))

    zero4 = _const(0.0, 4)
    if width == 2:
        tail = _expf_ir(builder, builder.shuffle_vector(x, x, ir.Constant(ir.VectorType(_I32, 4), [0, 1, 0, 1])), 4)
        exps = builder.select(valid, _lanes(builder, tail, 0, 2), _const(0.0, 2))
    else:
        quarters = [_lanes(builder, x, 4 * k, 4) for k in range(width // 4)]
        sub = quarters[0]
        for k in range(1, width // 4):
            sub = builder.select(is_packets(4 * k), quarters[k], sub)
        # each exp only where some class needs it (n is the same for every pixel: the branches predict)
        tail = _maybe(builder, builder.icmp_signed("<", packets, n), lambda: _expf_ir(builder, sub, 4), zero4)
        full = _concat(builder, [builder.select(is_packets(4 * k), tail, zero4) for k in range(width // 4)])
        halves = [x] if width <= 8 else [_lanes(builder, x, 0, 8), _lanes(builder, x, 8, 8)]
        size = width // len(halves)
        packed = _concat(builder, [
            _maybe(builder, builder.icmp_signed(">", packets, ir.Constant(i64, size * k)),
                   lambda half=half: _pexp_ir(builder, half, size), _const(0.0, size))
            for k, half in enumerate(halves)])
        in_packets = builder.icmp_signed("<", lanes, _splat_int(builder, builder.trunc(packets, _I32), width))
        exps = builder.select(in_packets, packed, builder.select(valid, full, _const(0.0, width)))

    def tail_sum(total, start):
        """Add lanes start.. of ``tail`` one by one while they are classes."""
        m = builder.sub(n, packets)
        for k in range(start, 3):
            added = builder.fadd(total, builder.extract_element(tail, ir.Constant(_I32, k)))
            total = builder.select(builder.icmp_signed(">", m, ir.Constant(i64, k)), added, total)
        return total

    small = tail_sum(builder.extract_element(tail, ir.Constant(_I32, 0)), 1)  # fewer than 4 classes
    total = small
    if width >= 4:
        e4 = [_lanes(builder, exps, 4 * k, 4) for k in range(width // 4)]
        r = e4[0]
        if width >= 8:
            s = e4[1]
            if width == 16:
                r = builder.select(is_packets(16), builder.fadd(r, e4[2]), r)
                s = builder.select(is_packets(16), builder.fadd(s, e4[3]), s)
            r = builder.select(builder.icmp_signed(">", packets, ir.Constant(i64, 4)), builder.fadd(r, s), e4[0])
            if width == 16:
                r = builder.select(is_packets(12), builder.fadd(r, e4[2]), r)

        def lane(k):
            return builder.extract_element(r, ir.Constant(_I32, k))

        big = tail_sum(builder.fadd(builder.fadd(lane(0), lane(2)), builder.fadd(lane(1), lane(3))), 0)
        total = builder.select(builder.icmp_signed("<", n, ir.Constant(i64, 4)), small, big)
    return builder.fdiv(exps, _splat_value(builder, total, width))


def _maybe(builder, cond, make, default):
    """Return ``make()`` (IR emitted in a branch taken only if ``cond``), else ``default``."""
    before = builder.basic_block
    with builder.if_then(cond):
        value = make()
        then = builder.basic_block
    merged = builder.phi(value.type)
    merged.add_incoming(value, then)
    merged.add_incoming(default, before)
    return merged


def _splat_int(builder, value, width):
    ivec = ir.VectorType(_I32, width)
    one = builder.insert_element(ir.Constant(ivec, ir.Undefined), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, ir.Constant(ivec, ir.Undefined), ir.Constant(ivec, [0] * width))


def _reduce_max(builder, v, width):
    """Return the largest lane of ``v`` (exact in any order)."""
    while width > 1:
        half = width // 2
        lo, hi = _lanes(builder, v, 0, half), _lanes(builder, v, half, half)
        v = builder.select(builder.fcmp_ordered(">", lo, hi), lo, hi)
        width = half
    return builder.extract_element(v, ir.Constant(_I32, 0))


def _make_message(width, n_kernels, alpha_last):
    def codegen(context, builder, sig, args):
        point = context.cast(builder, args[3], sig.args[3], types.int64)
        base = builder.mul(point, ir.Constant(ir.IntType(64), width))
        u = builder.load(_row(context, builder, sig.args[1], args[1], base, types.int64, width), align=4)
        e = builder.fmul(_const(-1.0, width), u)
        for k in range(n_kernels):
            t = sig.args[4 + 7 * k: 11 + 7 * k]
            v = args[4 + 7 * k: 11 + 7 * k]
            acc = _slice_ir(context, builder, t[:5], v[:5], point, width, alpha_last)
            scale = _splat_value(builder, context.cast(builder, v[5], t[5], types.float32), width)
            weight = _splat_value(builder, context.cast(builder, v[6], t[6], types.float32), width)
            e = builder.fadd(e, builder.fmul(builder.fmul(scale, acc), weight))
        n_value = context.cast(builder, args[2], sig.args[2], types.int64)
        q_row = _row(context, builder, sig.args[0], args[0], base, types.int64, width)
        builder.store(_softmax_ir(builder, e, n_value, width), q_row, align=4)
        return context.get_dummy_value()

    # numba's intrinsics take no *args: one typing function per number of kernels
    if n_kernels == 0:
        def typer(typingctx, q, unary, n, i):
            return types.void(q, unary, n, i), codegen
    elif n_kernels == 1:
        def typer(typingctx, q, unary, n, i, g, o, b, d, a, s, w):
            return types.void(q, unary, n, i, g, o, b, d, a, s, w), codegen
    else:
        def typer(typingctx, q, unary, n, i, g, o, b, d, a, s, w, g2, o2, b2, d2, a2, s2, w2):
            return types.void(q, unary, n, i, g, o, b, d, a, s, w, g2, o2, b2, d2, a2, s2, w2), codegen
    return intrinsic(typer)


#: Pixels per block of :func:`_make_message_block`: their classes are transposed into vectors over pixels.
BLOCK = 8


def _softmax_cols_ir(builder, cols, n, width):
    """As :func:`_softmax_ir` for BLOCK pixels at once: ``cols[c]`` is class c of every pixel (<BLOCK x float>).

    Each lane (pixel) rounds exactly as :func:`_softmax_ir` would; working
    across pixels needs no horizontal operations and fills the vector units.
    """
    i64 = ir.IntType(64)
    packets = builder.and_(n, ir.Constant(i64, -4))
    valid = [builder.icmp_signed(">", n, ir.Constant(i64, c)) for c in range(width)]
    packed = [builder.icmp_signed(">", packets, ir.Constant(i64, c)) for c in range(width)]
    top = cols[0]
    for c in range(1, width):
        top = builder.select(valid[c], builder.select(builder.fcmp_ordered(">", cols[c], top), cols[c], top), top)
    zero = _const(0.0, BLOCK)
    exps = []
    for c in range(width):
        x = builder.fsub(cols[c], top)
        p = _maybe(builder, packed[c], lambda x=x: _pexp_ir(builder, x, BLOCK), zero)
        f = _maybe(builder, builder.and_(valid[c], builder.not_(packed[c])), lambda x=x: _expf_ir(builder, x, BLOCK),
                   zero)
        exps.append(builder.select(packed[c], p, f))  # f is 0 past the n classes

    def add_if(cond, total, v):
        return builder.select(cond, builder.fadd(total, v), total)

    total = exps[0]  # fewer than four classes: one by one
    for c in range(1, min(width, 3)):
        total = add_if(valid[c], total, exps[c])
    if width >= 4:
        r = exps[:4]
        if width >= 8:
            s = exps[4:8]
            if width == 16:
                full = builder.icmp_signed("==", packets, ir.Constant(i64, 16))
                r = [builder.select(full, builder.fadd(r[k], exps[8 + k]), r[k]) for k in range(4)]
                s = [builder.select(full, builder.fadd(s[k], exps[12 + k]), s[k]) for k in range(4)]
            two = builder.icmp_signed(">", packets, ir.Constant(i64, 4))
            r = [builder.select(two, builder.fadd(r[k], s[k]), exps[k]) for k in range(4)]
            if width == 16:
                twelve = builder.icmp_signed("==", packets, ir.Constant(i64, 12))
                r = [builder.select(twelve, builder.fadd(r[k], exps[8 + k]), r[k]) for k in range(4)]
        big = builder.fadd(builder.fadd(r[0], r[2]), builder.fadd(r[1], r[3]))
        for k in range(3):  # the classes past the packets, one by one
            tail = zero
            for start in range(4, width, 4):
                at = builder.icmp_signed("==", packets, ir.Constant(i64, start))
                tail = builder.select(at, exps[start + k], tail)
            big = add_if(builder.icmp_signed(">", n, builder.add(packets, ir.Constant(i64, k))), big, tail)
        total = builder.select(builder.icmp_signed("<", n, ir.Constant(i64, 4)), total, big)
    return [builder.fdiv(e, total) for e in exps]


def _transpose(builder, vectors, count):
    """Return ``count`` vectors whose lane p is lane k of ``vectors[p]`` (k = 0 .. count - 1).

    One shuffle of the concatenated vectors: LLVM lowers it to the CPU's
    permutes (far fewer instructions than lane-by-lane inserts).
    """
    rows, width = len(vectors), vectors[0].type.count
    whole = _concat(builder, list(vectors))
    mask = [p * width + k for k in range(count) for p in range(rows)]
    moved = builder.shuffle_vector(whole, whole, ir.Constant(ir.VectorType(_I32, len(mask)), mask))
    return [_lanes(builder, moved, k * rows, rows) for k in range(count)]


def _make_message_block(width, n_kernels, alpha_last):
    def codegen(context, builder, sig, args):
        first = context.cast(builder, args[3], sig.args[3], types.int64)
        rows = []
        for p in range(BLOCK):
            point = builder.add(first, ir.Constant(ir.IntType(64), p))
            base = builder.mul(point, ir.Constant(ir.IntType(64), width))
            u = builder.load(_row(context, builder, sig.args[1], args[1], base, types.int64, width), align=4)
            e = builder.fmul(_const(-1.0, width), u)
            for k in range(n_kernels):
                t = sig.args[4 + 7 * k: 11 + 7 * k]
                v = args[4 + 7 * k: 11 + 7 * k]
                acc = _slice_ir(context, builder, t[:5], v[:5], point, width, alpha_last)
                norm = builder.load(builder.gep(context.make_array(t[5])(context, builder, v[5]).data, [point],
                                                inbounds=True))
                scale = _splat_value(builder, norm, width)
                weight = _splat_value(builder, context.cast(builder, v[6], t[6], types.float32), width)
                e = builder.fadd(e, builder.fmul(builder.fmul(scale, acc), weight))
            rows.append(e)
        n_value = context.cast(builder, args[2], sig.args[2], types.int64)
        cols = _softmax_cols_ir(builder, _transpose(builder, rows, width), n_value, width)
        for p, row in enumerate(_transpose(builder, cols, BLOCK)):
            base = builder.mul(builder.add(first, ir.Constant(ir.IntType(64), p)), ir.Constant(ir.IntType(64), width))
            builder.store(row, _row(context, builder, sig.args[0], args[0], base, types.int64, width), align=4)
        return context.get_dummy_value()

    if n_kernels == 0:
        def typer(typingctx, q, unary, n, i):
            return types.void(q, unary, n, i), codegen
    else:
        def typer(typingctx, q, unary, n, i, g, o, b, d, a, s, w, g2, o2, b2, d2, a2, s2, w2):
            return types.void(q, unary, n, i, g, o, b, d, a, s, w, g2, o2, b2, d2, a2, s2, w2), codegen
    return intrinsic(typer)


def _make_slice(width, alpha_last):
    @intrinsic
    def op(typingctx, dst, d, grid, offsets, bary, dp1, i, row, col, alpha, s, w):
        sig = types.void(dst, d, grid, offsets, bary, dp1, i, row, col, alpha, s, w)

        def codegen(context, builder, sig, args):
            vec = _vec(width)
            i64 = ir.IntType(64)

            def arg(k):
                return context.cast(builder, args[k], sig.args[k], types.int64)

            n_vertices, point, row_len, column = arg(5), arg(6), arg(7), arg(8)
            alpha = context.cast(builder, args[9], sig.args[9], types.float32)
            off_data = context.make_array(sig.args[3])(context, builder, args[3]).data
            bary_data = context.make_array(sig.args[4])(context, builder, args[4]).data
            grid_data = context.make_array(sig.args[2])(context, builder, args[2]).data
            acc = cgutils.alloca_once_value(builder, ir.Constant(vec, [0.0] * width))  # promoted to a register
            first = builder.mul(point, n_vertices)
            with cgutils.for_range(builder, n_vertices) as loop:
                k = builder.add(first, loop.index)
                o = builder.zext(builder.load(builder.gep(off_data, [k], inbounds=True)), i64)
                bw = builder.load(builder.gep(bary_data, [k], inbounds=True))
                start = builder.add(builder.mul(o, row_len), column)
                g = builder.load(builder.bitcast(builder.gep(grid_data, [start], inbounds=True), vec.as_pointer()),
                                 align=4)
                if alpha_last:  # (w * g) * alpha
                    term = builder.fmul(builder.fmul(_splat_value(builder, bw, width), g),
                                        _splat_value(builder, alpha, width))
                else:  # (w * alpha) * g
                    term = builder.fmul(_splat_value(builder, builder.fmul(bw, alpha), width), g)
                builder.store(builder.fadd(builder.load(acc), term), acc)
            # dst += (s * acc) * w
            prod = builder.fmul(builder.fmul(_broadcast(context, builder, sig, args, 10, width), builder.load(acc)),
                                _broadcast(context, builder, sig, args, 11, width))
            _store(context, builder, sig, args, builder.fadd(_load(context, builder, sig, args, 0, width), prod), width)
            return context.get_dummy_value()

        return sig, codegen

    return op


def _libm_table():
    """Return glibc's expf table: ``bits(2^(i/32)) - (i << 47)`` for i < 32 (2^(i/32) correctly rounded)."""
    getcontext().prec = 60
    table = []
    for i in range(32):
        bits = struct.unpack("<Q", struct.pack("<d", float(Decimal(2) ** (Decimal(i) / 32))))[0]
        table.append((bits - (i << 47)) % (1 << 64))
    return table


_EXPF_TABLE = _libm_table()
_EXPF_INV_LN2_N = float.fromhex("0x1.71547652b82fep+0") * 32
_EXPF_SHIFT = float.fromhex("0x1.8p+52")
_EXPF_POLY = (float.fromhex("0x1.c6af84b912394p-5") / 32**3, float.fromhex("0x1.ebfce50fac4f3p-3") / 32**2,
              float.fromhex("0x1.62e42ff0c52d6p-1") / 32)
_EXPF_UNDERFLOW = float.fromhex("-0x1.9fe368p6")  # below: 0 (as libm, which also sets errno)


def _expf_ir(builder, x, width):
    """Return IR for glibc's ``expf`` of each lane of ``x`` (<width x float>, all <= 0), bit for bit."""
    dvec = ir.VectorType(ir.DoubleType(), width)
    qvec = ir.VectorType(ir.IntType(64), width)
    xd = builder.fpext(x, dvec)

    def dconst(value):
        return ir.Constant(dvec, [value] * width)

    def madd(a, b, c):  # a * b + c, fused where the CPU has FMA (as glibc's FMA build, which it then runs)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(dvec, [dvec] * 3),
                                             f"llvm.fmuladd.v{width}f64")
        return builder.call(fma, [a, b, c])

    # z = x 32 / ln 2 = k + r: k rounded to an integer (ties to even) by adding and removing 1.5 * 2^52
    # (GCC fuses the product into both its uses where the CPU has FMA)
    kd = madd(dconst(_EXPF_INV_LN2_N), xd, dconst(_EXPF_SHIFT))
    ki = builder.bitcast(kd, qvec)
    r = madd(dconst(_EXPF_INV_LN2_N), xd, builder.fneg(builder.fsub(kd, dconst(_EXPF_SHIFT))))
    table = cgutils.global_constant(builder, "napari_crf_label_expf_table",
                                    ir.Constant(ir.ArrayType(ir.IntType(64), 32), _EXPF_TABLE))
    index = builder.and_(ki, ir.Constant(qvec, [31] * width))
    t = ir.Constant(qvec, ir.Undefined)
    for lane in range(width):
        k = builder.extract_element(index, ir.Constant(_I32, lane))
        entry = builder.load(builder.gep(table, [ir.Constant(ir.IntType(64), 0), k], inbounds=True))
        t = builder.insert_element(t, entry, ir.Constant(_I32, lane))
    t = builder.add(t, builder.shl(ki, ir.Constant(qvec, [47] * width)))
    scale = builder.bitcast(t, dvec)
    poly = madd(dconst(_EXPF_POLY[0]), r, dconst(_EXPF_POLY[1]))
    r2 = builder.fmul(r, r)
    y = madd(dconst(_EXPF_POLY[2]), r, dconst(1.0))
    y = madd(poly, r2, y)
    e = builder.fptrunc(builder.fmul(y, scale), _vec(width))
    small = builder.fcmp_ordered("<", x, _const(_EXPF_UNDERFLOW, width))
    return builder.select(small, _const(0.0, width), e)


def _pexp_ir(builder, x0, width):
    """Return IR for Eigen 3.2's SSE ``pexp`` (Cephes' expf) of each lane of ``x0`` (<width x float>), bit for bit."""
    vec = _vec(width)
    ivec = ir.VectorType(_I32, width)
    # clamp, then exp(x) = 2^n exp(g) with n = floor(x log2(e) + 1/2)
    x = builder.select(builder.fcmp_ordered("<", x0, _const(88.3762626647950, width)), x0,
                       _const(88.3762626647950, width))
    x = builder.select(builder.fcmp_ordered(">", x, _const(-88.3762626647949, width)), x,
                       _const(-88.3762626647949, width))
    floor = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]), f"llvm.floor.v{width}f32")
    fx = builder.call(floor, [builder.fadd(builder.fmul(x, _const(1.44269504088896341, width)), _const(0.5, width))])
    x = builder.fsub(x, builder.fmul(fx, _const(0.693359375, width)))
    x = builder.fsub(x, builder.fmul(fx, _const(-2.12194440e-4, width)))
    z = builder.fmul(x, x)
    y = _const(1.9875691500e-4, width)
    for c in (1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1):
        y = builder.fadd(builder.fmul(y, x), _const(c, width))
    y = builder.fadd(builder.fadd(builder.fmul(y, z), x), _const(1.0, width))
    bits = builder.shl(builder.add(builder.fptosi(fx, ivec), ir.Constant(ivec, [127] * width)),
                       ir.Constant(ivec, [23] * width))
    e = builder.fmul(y, builder.bitcast(bits, vec))
    return builder.select(builder.fcmp_ordered(">", e, x0), e, x0)  # Eigen's pmax(e, x)


@intrinsic
def expf4(typingctx, dst, d, src, s, top):
    """``dst[d:d+4] = exp(src[s:s+4] - top)`` rounded as glibc's ``expf`` (see :func:`_expf_ir`)."""
    sig = types.void(dst, d, src, s, top)

    def codegen(context, builder, sig, args):
        x = builder.fsub(_load(context, builder, sig, args, 2, 4), _broadcast(context, builder, sig, args, 4, 4))
        _store(context, builder, sig, args, _expf_ir(builder, x, 4), 4)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def pexp4(typingctx, dst, d, src, s, top):
    """``dst[d:d+4] = exp(src[s:s+4] - top)`` as Eigen 3.2's SSE ``pexp`` rounds it (pydensecrf's softmax)."""
    sig = types.void(dst, d, src, s, top)

    def codegen(context, builder, sig, args):
        x = builder.fsub(_load(context, builder, sig, args, 2, 4), _broadcast(context, builder, sig, args, 4, 4))
        _store(context, builder, sig, args, _pexp_ir(builder, x, 4), 4)
        return context.get_dummy_value()

    return sig, codegen


#: ``expf4(dst, d, src, s, top)``: ``dst[d:d+4] = exp(src[s:s+4] - top)`` rounded as glibc's ``expf``
#: (the algorithm of ARM's optimized-routines: a 32-entry table and a cubic in double precision, then
#: rounded to float; multiply-adds fused where the CPU has FMA, as glibc's FMA build), which pydensecrf
#: calls for the classes past its last packet of four. For x <= 0 (softmax inputs).

#: ``slice_addW(dst, d, grid, offsets, bary, dp1, i, row, col, alpha, s, w)``: with the flat (P * dp1,)
#: offsets (uint32) and barycentric weights of the points' simplices, ``acc = sum_j (bary_ij * alpha) *
#: grid[o_ij * row + col : +W]`` over the dp1 vertices of point i, then ``dst[d:d+W] += (s * acc) * w``.
#: ``slice_add_lastW`` rounds ``(bary_ij * grid) * alpha`` instead (pydensecrf's order for at most 2 values).
slice_add2, slice_add4, slice_add8 = (_make_slice(w, False) for w in (2, 4, 8))
slice_add_last2, slice_add_last4, slice_add_last8 = (_make_slice(w, True) for w in (2, 4, 8))

#: ``axpyW(dst, d, a, src, s)``: ``dst[d:d+W] += a * src[s:s+W]``
axpy2, axpy4, axpy8 = (_make_axpy(w) for w in (2, 4, 8))
#: ``axpy_scaledW(dst, d, a, src, s, b)``: ``dst[d:d+W] += (a * src[s:s+W]) * b``
axpy_scaled2, axpy_scaled4, axpy_scaled8 = (_make_axpy_scaled(w) for w in (2, 4, 8))
#: ``scaleW(dst, d, a, src, s)``: ``dst[d:d+W] = a * src[s:s+W]``
scale2, scale4, scale8 = (_make_scale(w) for w in (2, 4, 8))
#: ``divideW(dst, d, src, s, a)``: ``dst[d:d+W] = src[s:s+W] / a``
divide2, divide4, divide8 = (_make_divide(w) for w in (2, 4, 8))
#: ``blurW(dst, d, src, i, a, b)``: ``dst[d:d+W] = src[i:i+W] + 0.5 * (src[a:a+W] + src[b:b+W])``
blur2, blur4, blur8 = (_make_blur(w) for w in (2, 4, 8))

#: ``messageW_K(q, unary, n, i, *K kernels)``, each kernel as (grid, flat offsets, flat barycentric weights,
#: D + 1, alpha, norm_i, weight): one pixel's mean-field update, in registers:
#: ``q[i] = softmax(-unary[i] + sum_k weight_k * (norm_ik * slice_k(i)))`` over the first n of W classes
#: (K = 0: the softmax of -unary, the start). W = 2 slices as pydensecrf's at most two values.
message2_0, message2_1, message2_2 = (_make_message(2, k, True) for k in (0, 1, 2))
message4_0, message4_1, message4_2 = (_make_message(4, k, False) for k in (0, 1, 2))
message8_0, message8_1, message8_2 = (_make_message(8, k, False) for k in (0, 1, 2))
message16_0, message16_1, message16_2 = (_make_message(16, k, False) for k in (0, 1, 2))
#: ``blockW_K(q, unary, n, i, *K kernels)``: as ``messageW_K`` for the BLOCK pixels i .. i + BLOCK - 1, with
#: each kernel's ``norm`` the whole array (K = 0 or 2).
block2_0, block2_2 = (_make_message_block(2, k, True) for k in (0, 2))
block4_0, block4_2 = (_make_message_block(4, k, False) for k in (0, 2))
block8_0, block8_2 = (_make_message_block(8, k, False) for k in (0, 2))
block16_0, block16_2 = (_make_message_block(16, k, False) for k in (0, 2))
