r"""Convolution and pooling layers: forward and backward passes in NumPy.

Every layer is a pair in the style of CS231n: ``*_forward(...) -> (out,
cache)`` and ``*_backward(dout, cache)`` returning the gradients in the order
of the inputs. Layouts are PyTorch's: images ``x`` are ``(N, C, H, W)``
(batch, channels, height, width), convolution weights ``w`` are
``(F, C, kH, kW)`` (out channels, in channels, kernel height and width).

As in PyTorch, "convolution" means cross-correlation (the kernel is not
flipped):

.. math:: Y_{n,f,i,j} = b_f + \sum_{c,u,v} W_{f,c,u,v}\,
          X^{\text{pad}}_{n,c,\,s i + u,\,s j + v}

and each spatial output size is
:math:`\lfloor (H + 2p - k) / s \rfloor + 1` (:func:`conv2d_output_size`).

Beside each fast version sits a ``*_naive`` reference written with plain
loops over output positions: slow, obviously right, and tested equal.

The fast convolution (``conv2d_forward`` / ``conv2d_backward``) is one
matrix product per pass ("im2col"): the padded input is laid out channels
last (NHWC), so that the windows of every output position,
``(N*Ho*Wo, kH*kW*C)``, are gathered by one strided copy into a contiguous
matrix and multiplied by the weights as a ``(kH*kW*C, F)`` matrix. The
backward pass reuses that matrix for ``dw`` (one product), computes the
gradient of every window for ``dx`` (one product) and adds the windows back
in place with ``kH*kW`` strided additions ("col2im"), one per kernel offset.
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import as_strided

from calc_nn._validation import as_float_array

__all__ = [
    "conv2d_output_size",
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_forward_naive",
    "conv2d_backward_naive",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward_naive",
    "maxpool2d_backward_naive",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "avgpool2d_forward_naive",
    "avgpool2d_backward_naive",
]


# ---------------------------------------------------------------- checks

def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """``value`` (an int or a pair of ints) as a pair, each >= minimum."""
    items = value if isinstance(value, (tuple, list)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got "
                         f"{value!r}")
    out = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, numbers.Integral):
            raise TypeError(f"{name} must be an int or a pair of ints, got "
                            f"{value!r}")
        if item < minimum:
            what = "positive" if minimum == 1 else ">= 0"
            raise ValueError(f"{name} must be {what}, got {value!r}")
        out.append(int(item))
    return out[0], out[1]


def _images(x, name: str = "x") -> np.ndarray:
    x = as_float_array(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape "
                         f"{x.shape}")
    return x


def conv2d_output_size(size: int, kernel: int, stride: int = 1,
                       padding: int = 0) -> int:
    r"""Output length of a convolution or pooling along one axis.

    .. math:: \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1

    Parameters
    ----------
    size : int
        Input length ``H``.
    kernel, stride, padding : int
        ``k >= 1``, ``s >= 1``, ``p >= 0``.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If the kernel is larger than the padded input, ``k > H + 2p``.
    """
    (kernel, _), (stride, _) = _pair(kernel, "kernel", 1), _pair(
        stride, "stride", 1)
    padding, _ = _pair(padding, "padding", 0)
    if kernel > size + 2 * padding:
        raise ValueError(
            f"kernel size {kernel} is larger than the padded input size "
            f"{size} + 2*{padding} = {size + 2 * padding}")
    return (size + 2 * padding - kernel) // stride + 1


def _conv_checks(x, w, b, stride, padding):
    x = _images(x, "x")
    w = as_float_array(w, "w")
    if w.ndim != 4:
        raise ValueError(f"w must have shape (F, C, kH, kW), got shape "
                         f"{w.shape}")
    N, C, H, W = x.shape
    F, Cw, kH, kW = w.shape
    if Cw != C:
        raise ValueError(
            f"channel mismatch: x has C={C} channels (shape {x.shape}) but "
            f"w expects {Cw} (shape {w.shape}, i.e. (F, C, kH, kW))")
    if b is not None:
        b = as_float_array(b, "b")
        if b.shape != (F,):
            raise ValueError(f"b must have shape (F,) = ({F},), one bias per "
                             f"filter, got shape {b.shape}")
    stride = _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    for axis, size, k, p in (("height", H, kH, padding[0]),
                             ("width", W, kW, padding[1])):
        if k > size + 2 * p:
            raise ValueError(
                f"kernel {axis} {k} is larger than the padded input {axis} "
                f"{size} + 2*{p} = {size + 2 * p} (x {x.shape}, "
                f"w {w.shape})")
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    return x.astype(dtype, copy=False), w.astype(dtype, copy=False), \
        None if b is None else b.astype(dtype, copy=False), stride, padding


def _out_shape(H, W, kH, kW, stride, padding):
    return ((H + 2 * padding[0] - kH) // stride[0] + 1,
            (W + 2 * padding[1] - kW) // stride[1] + 1)


# ---------------------------------------------------------- convolution

def conv2d_forward(x, w, b=None, stride=1, padding=0):
    r"""2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    .. math:: Y_{n,f,i,j} = b_f + \sum_{c,u,v} W_{f,c,u,v}\,
              X^{\text{pad}}_{n,c,\,s i + u,\,s j + v}

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    w : array_like, shape (F, C, kH, kW)
    b : array_like, shape (F,), or None
    stride : int or (int, int), >= 1
    padding : int or (int, int), >= 0
        Zeros added on each side of the height and width.

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo)
        ``Ho = (H + 2p - kH) // s + 1``, likewise ``Wo``; the dtype of
        ``x``, ``w`` and ``b`` combined (float32 stays float32).
    cache : tuple
        What :func:`conv2d_backward` needs.

    Raises
    ------
    ValueError
        Channel mismatch, kernel larger than the padded input, stride < 1,
        padding < 0, or ``b`` not of shape (F,).
    """
    x, w, b, stride, padding = _conv_checks(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, kH, kW = w.shape
    Ho, Wo = _out_shape(H, W, kH, kW, stride, padding)
    (sh, sw), (ph, pw) = stride, padding
    # channels last, padded: the C values of one pixel are contiguous, so a
    # window (kH, kW, C) is kH runs of kW*C contiguous numbers
    xp = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=x.dtype)
    xp[:, ph:ph + H, pw:pw + W, :] = x.transpose(0, 2, 3, 1)
    n_, h_, w_, c_ = xp.strides
    windows = as_strided(xp, shape=(N, Ho, Wo, kH, kW, C),
                         strides=(n_, h_ * sh, w_ * sw, h_, w_, c_),
                         writeable=False)
    cols = windows.reshape(N * Ho * Wo, kH * kW * C)  # one copy
    w_mat = w.transpose(2, 3, 1, 0).reshape(kH * kW * C, F)
    out = cols @ w_mat  # (N*Ho*Wo, F)
    if b is not None:
        out += b
    out = out.reshape(N, Ho, Wo, F).transpose(0, 3, 1, 2)
    cache = (x.shape, w, b is not None, stride, padding, cols, w_mat)
    return out, cache


def conv2d_backward(dout, cache):
    r"""Gradients of a convolution with respect to its input, weights, bias.

    .. math:: \frac{\partial L}{\partial W_{f,c,u,v}} = \sum_{n,i,j}
              \frac{\partial L}{\partial Y_{n,f,i,j}}\,
              X^{\text{pad}}_{n,c,\,s i + u,\,s j + v}

    (the correlation of the input with ``dout``); ``db`` sums ``dout`` over
    ``n, i, j``; ``dx`` is the full convolution of ``dout`` with the
    flipped kernel (for stride 1; with a stride, of ``dout`` dilated by
    zeros), cropped by the padding.

    Parameters
    ----------
    dout : array_like, shape (N, F, Ho, Wo)
        Upstream gradient, dL/dY.
    cache : tuple
        From :func:`conv2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dw : ndarray, shape (F, C, kH, kW)
    db : ndarray, shape (F,), or None if the forward pass had no bias
    """
    x_shape, w, has_b, stride, padding, cols, w_mat = cache
    N, C, H, W = x_shape
    F, _, kH, kW = w.shape
    Ho, Wo = _out_shape(H, W, kH, kW, stride, padding)
    dout = as_float_array(dout, "dout")
    if dout.shape != (N, F, Ho, Wo):
        raise ValueError(f"dout must have the output's shape (N, F, Ho, Wo)"
                         f" = {(N, F, Ho, Wo)}, got {dout.shape}")
    dout = dout.astype(w.dtype, copy=False)
    (sh, sw), (ph, pw) = stride, padding
    # free when dout has out's memory layout (N, Ho, Wo, F) underneath
    d_mat = dout.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, F)
    db = d_mat.sum(axis=0) if has_b else None
    dw = (cols.T @ d_mat).reshape(kH, kW, C, F).transpose(3, 2, 0, 1)
    dcols = (d_mat @ w_mat.T).reshape(N, Ho, Wo, kH, kW, C)
    # col2im: every window adds its gradient back where it was read from,
    # one strided addition per kernel offset (u, v)
    dxp = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=w.dtype)
    for u in range(kH):
        for v in range(kW):
            dxp[:, u:u + sh * (Ho - 1) + 1:sh,
                v:v + sw * (Wo - 1) + 1:sw, :] += dcols[:, :, :, u, v, :]
    dx = dxp[:, ph:ph + H, pw:pw + W, :].transpose(0, 3, 1, 2)
    return dx, np.ascontiguousarray(dw), db


def conv2d_forward_naive(x, w, b=None, stride=1, padding=0):
    """Reference :func:`conv2d_forward` with plain loops (slow).

    Same arguments, returns and errors; ``cache`` is ``(x, w, b, stride,
    padding)``.
    """
    x, w, b, stride, padding = _conv_checks(x, w, b, stride, padding)
    N, C, H, W = x.shape
    F, _, kH, kW = w.shape
    Ho, Wo = _out_shape(H, W, kH, kW, stride, padding)
    (sh, sw), (ph, pw) = stride, padding
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * sh:i * sh + kH, j * sw:j * sw + kW]
                    out[n, f, i, j] = np.sum(window * w[f])
                    if b is not None:
                        out[n, f, i, j] += b[f]
    return out, (x, w, b, stride, padding)


def conv2d_backward_naive(dout, cache):
    """Reference :func:`conv2d_backward` with plain loops (slow): each output
    position sends its gradient back to the window it was computed from."""
    x, w, b, (sh, sw), (ph, pw) = cache
    N, C, H, W = x.shape
    F, _, kH, kW = w.shape
    dout = as_float_array(dout, "dout")
    Ho, Wo = dout.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * sh, i * sh + kH)
                    cols = slice(j * sw, j * sw + kW)
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * w[f]
    db = None if b is None else dout.sum(axis=(0, 2, 3)).astype(w.dtype)
    return dxp[:, :, ph:ph + H, pw:pw + W], dw, db


# ---------------------------------------------------------------- pooling

def _pool_checks(x, kernel_size, stride):
    x = _images(x, "x")
    kH, kW = _pair(kernel_size, "kernel_size", 1)
    stride = (kH, kW) if stride is None else _pair(stride, "stride", 1)
    H, W = x.shape[2:]
    if kH > H or kW > W:
        raise ValueError(f"kernel_size ({kH}, {kW}) is larger than the input"
                         f" (H, W) = ({H}, {W})")
    Ho, Wo = (H - kH) // stride[0] + 1, (W - kW) // stride[1] + 1
    return x, (kH, kW), stride, (Ho, Wo)


def _pool_windows(x, kernel, stride, out_hw):
    """Read-only view (N, C, Ho, Wo, kH, kW) of every pooling window."""
    n_, c_, h_, w_ = x.strides
    return as_strided(x, shape=(*x.shape[:2], *out_hw, *kernel),
                      strides=(n_, c_, h_ * stride[0], w_ * stride[1],
                               h_, w_), writeable=False)


def _check_dout(dout, shape, dtype):
    dout = as_float_array(dout, "dout")
    if dout.shape != shape:
        raise ValueError(f"dout must have the output's shape {shape}, got "
                         f"{dout.shape}")
    return dout.astype(dtype, copy=False)


def maxpool2d_forward(x, kernel_size, stride=None):
    r"""Max pooling, as ``torch.nn.functional.max_pool2d`` (no padding).

    .. math:: Y_{n,c,i,j} = \max_{0 \le u < k_H,\ 0 \le v < k_W}
              X_{n,c,\,s i + u,\,s j + v}

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default ``kernel_size`` (windows side by side).

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo), ``Ho = (H - kH) // s + 1``
    cache : tuple
        Input shape, window size, stride and the position of each maximum.
    """
    x, kernel, stride, out_hw = _pool_checks(x, kernel_size, stride)
    windows = _pool_windows(x, kernel, stride, out_hw)
    flat = windows.reshape(*x.shape[:2], *out_hw, kernel[0] * kernel[1])
    # first maximum of each window in row-major order, as PyTorch picks
    argmax = flat.argmax(axis=-1)
    out = np.take_along_axis(flat, argmax[..., None], axis=-1)[..., 0]
    return out, (x.shape, x.dtype, kernel, stride, argmax)


def maxpool2d_backward(dout, cache):
    r"""Gradient of max pooling: each window's gradient goes to its maximum.

    .. math:: \frac{\partial L}{\partial X_{n,c,h,w}} = \sum_{i,j}
              \frac{\partial L}{\partial Y_{n,c,i,j}}\,
              [\,(h, w) = \operatorname{argmax} \text{ of window } (i, j)\,]

    Parameters
    ----------
    dout : array_like, shape (N, C, Ho, Wo)
    cache : tuple
        From :func:`maxpool2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        Zero except at the maxima (overlapping windows add up).
    """
    shape, dtype, (kH, kW), (sh, sw), argmax = cache
    Ho, Wo = argmax.shape[2:]
    dout = _check_dout(dout, argmax.shape, dtype)
    dx = np.zeros(shape, dtype=dtype)
    for u in range(kH):
        for v in range(kW):
            dx[:, :, u:u + sh * (Ho - 1) + 1:sh,
               v:v + sw * (Wo - 1) + 1:sw] += np.where(
                   argmax == u * kW + v, dout, 0)
    return dx


def maxpool2d_forward_naive(x, kernel_size, stride=None):
    """Reference :func:`maxpool2d_forward` with plain loops (slow);
    ``cache`` is ``(x, kernel, stride)``."""
    x, (kH, kW), (sh, sw), (Ho, Wo) = _pool_checks(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = x[n, c, i * sh:i * sh + kH,
                                        j * sw:j * sw + kW].max()
    return out, (x, (kH, kW), (sh, sw))


def maxpool2d_backward_naive(dout, cache):
    """Reference :func:`maxpool2d_backward` with plain loops (slow)."""
    x, (kH, kW), (sh, sw) = cache
    dout = as_float_array(dout, "dout")
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * sh:i * sh + kH, j * sw:j * sw + kW]
                    u, v = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * sh + u, j * sw + v] += dout[n, c, i, j]
    return dx


def avgpool2d_forward(x, kernel_size, stride=None):
    r"""Average pooling, as ``torch.nn.functional.avg_pool2d`` (no padding).

    .. math:: Y_{n,c,i,j} = \frac{1}{k_H k_W} \sum_{u,v}
              X_{n,c,\,s i + u,\,s j + v}

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default ``kernel_size``.

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo), ``Ho = (H - kH) // s + 1``
    cache : tuple
    """
    x, kernel, stride, out_hw = _pool_checks(x, kernel_size, stride)
    out = _pool_windows(x, kernel, stride, out_hw).mean(axis=(-2, -1))
    return out.astype(x.dtype, copy=False), (x.shape, x.dtype, kernel,
                                             stride, out_hw)


def avgpool2d_backward(dout, cache):
    r"""Gradient of average pooling: each window's gradient is spread evenly.

    .. math:: \frac{\partial L}{\partial X_{n,c,h,w}} = \frac{1}{k_H k_W}
              \sum_{(i, j):\ (h, w) \in \text{window } (i, j)}
              \frac{\partial L}{\partial Y_{n,c,i,j}}

    Parameters
    ----------
    dout : array_like, shape (N, C, Ho, Wo)
    cache : tuple
        From :func:`avgpool2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    """
    shape, dtype, (kH, kW), (sh, sw), (Ho, Wo) = cache
    dout = _check_dout(dout, (*shape[:2], Ho, Wo), dtype)
    share = dout / (kH * kW)
    dx = np.zeros(shape, dtype=dtype)
    for u in range(kH):
        for v in range(kW):
            dx[:, :, u:u + sh * (Ho - 1) + 1:sh,
               v:v + sw * (Wo - 1) + 1:sw] += share
    return dx


def avgpool2d_forward_naive(x, kernel_size, stride=None):
    """Reference :func:`avgpool2d_forward` with plain loops (slow);
    ``cache`` is ``(x, kernel, stride)``."""
    x, (kH, kW), (sh, sw), (Ho, Wo) = _pool_checks(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = x[n, c, i * sh:i * sh + kH,
                                        j * sw:j * sw + kW].mean()
    return out, (x, (kH, kW), (sh, sw))


def avgpool2d_backward_naive(dout, cache):
    """Reference :func:`avgpool2d_backward` with plain loops (slow)."""
    x, (kH, kW), (sh, sw) = cache
    dout = as_float_array(dout, "dout")
    N, C, Ho, Wo = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    dx[n, c, i * sh:i * sh + kH, j * sw:j * sw + kW] += (
                        dout[n, c, i, j] / (kH * kW))
    return dx
