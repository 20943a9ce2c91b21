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
           "divide2", "divide4", "divide8", "expf4", "pexp4", "scale2", "scale4", "scale8", "slice_add2", "slice_add4",
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
    value = context.cast(builder, args[k], sig.args[k], types.float32)
    vec = _vec(width)
    one = builder.insert_element(ir.Constant(vec, ir.Undefined), value, ir.Constant(_I32, 0))
    return builder.shuffle_vector(one, ir.Constant(vec, ir.Undefined),
                                  ir.Constant(ir.VectorType(_I32, width), [0] * width))


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


def _make_expf(fused):  # fused=False: glibc's build for CPUs without FMA, where llvm.fmuladd does not fuse anyway
    @intrinsic
    def op(typingctx, dst, d, src, s, top):
        sig = types.void(dst, d, src, s, top)

        def codegen(context, builder, sig, args):
            width = 4
            f64 = ir.DoubleType()
            dvec = ir.VectorType(f64, width)
            qvec = ir.VectorType(ir.IntType(64), width)
            x = builder.fsub(_load(context, builder, sig, args, 2, width),
                             _broadcast(context, builder, sig, args, 4, width))
            xd = builder.fpext(x, dvec)

            def dconst(value):
                return ir.Constant(dvec, [value] * width)

            def madd(a, b, c):  # a * b + c, fused where glibc's build fuses it
                if fused:
                    fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(dvec, [dvec] * 3),
                                                         "llvm.fmuladd.v4f64")
                    return builder.call(fma, [a, b, c])
                return builder.fadd(builder.fmul(a, b), c)

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
            _store(context, builder, sig, args, builder.select(small, _const(0.0, width), e), width)
            return context.get_dummy_value()

        return sig, codegen

    return op


#: ``expf4(dst, d, src, s, top)``: ``dst[d:d+4] = exp(src[s:s+4] - top)`` rounded as glibc's ``expf``
#: (the algorithm of ARM's optimized-routines: a 32-entry table and a cubic in double precision, then
#: rounded to float; multiply-adds fused where the CPU has FMA, as glibc's FMA build), which pydensecrf
#: calls for the classes past its last packet of four. For x <= 0 (softmax inputs).
expf4 = _make_expf(True)

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


@intrinsic
def pexp4(typingctx, dst, d, src, s, top):
    """``dst[d:d+4] = exp(src[s:s+4] - top)`` as Eigen 3.2's SSE ``pexp`` rounds it (pydensecrf's softmax)."""
    sig = types.void(dst, d, src, s, top)

    def codegen(context, builder, sig, args):
        width = 4
        vec = _vec(width)
        ivec = ir.VectorType(_I32, width)
        x0 = builder.fsub(_load(context, builder, sig, args, 2, width),
                          _broadcast(context, builder, sig, args, 4, width))
        # clamp, then exp(x) = 2^n exp(g) with n = floor(x log2(e) + 1/2)
        x = builder.select(builder.fcmp_ordered("<", x0, _const(88.3762626647950, width)), x0,
                           _const(88.3762626647950, width))
        x = builder.select(builder.fcmp_ordered(">", x, _const(-88.3762626647949, width)), x,
                           _const(-88.3762626647949, width))
        floor = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec]), "llvm.floor.v4f32")
        fx = builder.call(floor, [builder.fadd(builder.fmul(x, _const(1.44269504088896341, width)),
                                               _const(0.5, width))])
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
        e = builder.select(builder.fcmp_ordered(">", e, x0), e, x0)  # Eigen's pmax(e, x)
        _store(context, builder, sig, args, e, width)
        return context.get_dummy_value()

    return sig, codegen
