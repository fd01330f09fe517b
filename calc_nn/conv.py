r"""Convolution and pooling layers: forward and backward passes in NumPy.

Every layer is a pair in the style of CS231n: ``*_forward(...) -> (out,
cache)`` and ``*_backward(dout, cache)`` returning the gradients in the
order of the inputs; the cache is a named tuple of its own type. Layouts
are PyTorch's: images ``x`` are ``(N, C, H, W)`` (batch, channels, height,
width), convolution weights ``W`` are ``(F, C, kH, kW)`` (out channels, in
channels, kernel height and width).

As in PyTorch, "convolution" means cross-correlation (the kernel is not
flipped):

.. math:: Y_{n,f,i,j} = b_f + \sum_{c,u,v} W_{f,c,u,v}\,
          X^{\text{pad}}_{n,c,\,s i + u,\,s j + v}

Beside each fast version sits a ``*_naive`` reference written with plain
loops over output positions: slow, obviously right, tested equal, and
interchangeable with it (same cache type).

The fast convolution is "im2col": :func:`_im2col` copies every window of
the padded input into a column of one matrix, ``(C*kH*kW, n*Ho*Wo)`` for a
batch of ``n`` images, so that the convolution is one matrix product,
``W.reshape(F, -1) @ cols`` (:func:`_conv`). Its adjoint, :func:`_col2im`,
adds values back where the windows were read, one strided addition per
kernel offset ``(u, v)``: it sends the gradient to the input
(:func:`_conv_input_grad`) and to the inputs of the pooling layers. A
*transposed* convolution is that adjoint used as a layer, so its forward
pass is :func:`_conv_input_grad` and its backward pass :func:`_conv` and
:func:`_conv_weight_grad`, with the roles of input and gradient exchanged.
Images are processed in batches of a few MB, so that the im2col matrix
stays small and in cache; every batch reuses the first batch's matrices
(:func:`_scratch`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from calc_nn._validation import (
    as_float_array,
    as_float_arrays,
    check_int,
    check_ndim,
)

__all__ = [
    "Conv2dCache",
    "ConvTranspose2dCache",
    "MaxPool2dCache",
    "AvgPool2dCache",
    "conv2d_output_size",
    "conv2d_forward",
    "conv2d_backward",
    "conv2d_forward_naive",
    "conv2d_backward_naive",
    "conv2d_matrix",
    "conv_transpose2d_output_size",
    "conv_transpose2d_forward",
    "conv_transpose2d_backward",
    "maxpool2d_forward",
    "maxpool2d_backward",
    "maxpool2d_forward_naive",
    "maxpool2d_backward_naive",
    "avgpool2d_forward",
    "avgpool2d_backward",
    "avgpool2d_forward_naive",
    "avgpool2d_backward_naive",
]


# ---------------------------------------------------------------- caches

class Conv2dCache(NamedTuple):
    """What :func:`conv2d_backward` needs (from :func:`conv2d_forward` or
    :func:`conv2d_forward_naive`): the zero-padded input ``xp`` and a copy
    of the weights (both made by the forward pass, so that a later change
    of the caller's arrays cannot reach the backward pass).

    Used in: book/cnn.md, book/digits.md
    """

    xp: np.ndarray
    W: np.ndarray
    has_bias: bool
    stride: tuple[int, int]
    padding: tuple[int, int]


class ConvTranspose2dCache(NamedTuple):
    """What :func:`conv_transpose2d_backward` needs: copies of the input
    and the weights, and the layer's settings.

    Used in: book/cnn.md
    """

    x: np.ndarray
    W: np.ndarray
    has_bias: bool
    stride: tuple[int, int]
    padding: tuple[int, int]
    output_padding: tuple[int, int]


class MaxPool2dCache(NamedTuple):
    """What :func:`maxpool2d_backward` needs: the input ``x`` (an array the
    forward pass made, never the caller's), the window and stride, and the
    position of each window's maximum (``u * kW + v``, an array of shape
    (N, C, Ho, Wo)). The fast backward reads ``argmax``; the loop version,
    like a student's, finds each maximum again in ``x``.

    Used in: book/cnn.md, book/digits.md
    """

    x: np.ndarray
    kernel: tuple[int, int]
    stride: tuple[int, int]
    argmax: np.ndarray


class AvgPool2dCache(NamedTuple):
    """What :func:`avgpool2d_backward` needs: the input's shape and dtype
    and the window.

    Used in: book/cnn.md
    """

    x_shape: tuple[int, ...]
    dtype: np.dtype
    kernel: tuple[int, int]
    stride: tuple[int, int]


# ------------------------------------------------------- output sizes

def conv2d_output_size(size: int, kernel: int, stride: int = 1,
                       padding: int = 0) -> int:
    r"""Output length of a convolution or pooling along one axis.

    .. math:: \left\lfloor \frac{H + 2p - k}{s} \right\rfloor + 1

    Parameters
    ----------
    size, kernel, stride, padding : int
        ``H >= 1``, ``k >= 1``, ``s >= 1``, ``p >= 0``.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If the kernel is larger than the padded input, ``k > H + 2p``.

    Used in: book/cnn.md
    """
    size, kernel, stride, padding = _check_sizes(size, kernel, stride,
                                                 padding)
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose2d_output_size(size: int, kernel: int, stride: int = 1,
                                 padding: int = 0,
                                 output_padding: int = 0) -> int:
    r"""Output length of a transposed convolution along one axis.

    .. math:: (H - 1)\,s - 2p + k + p_{\text{out}}

    an input length of the convolution that maps it back to ``H``: the
    smallest for ``output_padding`` 0, and ``output_padding`` picks among
    the ``s`` consecutive lengths that do.

    Parameters
    ----------
    size, kernel, stride, padding : int
        As :func:`conv2d_output_size`.
    output_padding : int, ``0 <= output_padding < stride``

    Returns
    -------
    int, ``>= 1``; else ValueError, as for ``output_padding >= stride``.

    Used in: book/cnn.md
    """
    size, kernel, stride, padding = _check_sizes(size, kernel, stride,
                                                 padding, fit=False)
    output_padding = check_int(output_padding, "output_padding", low=0,
                               high=stride - 1)
    out = (size - 1) * stride - 2 * padding + kernel + output_padding
    if out < 1:
        raise ValueError(f"padding={padding} is too large: the output "
                         f"length ({size} - 1)*{stride} - 2*{padding} + "
                         f"{kernel} + {output_padding} = {out} is < 1")
    return out


# ---------------------------------------------------------- convolution

def conv2d_forward(x, W, b=None, stride=1, padding=0):
    r"""2-D convolution (cross-correlation), as ``torch.nn.functional.conv2d``.

    .. math:: Y_{n,f,i,j} = b_f + \sum_{c,u,v} W_{f,c,u,v}\,
              X^{\text{pad}}_{n,c,\,s i + u,\,s j + v}

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    W : array_like, shape (F, C, kH, kW)
    b : array_like, shape (F,), or None
    stride : int or (int, int), >= 1
    padding : int or (int, int), >= 0
        Zeros added on each side of the height and width.

    Returns
    -------
    out : ndarray, shape (N, F, Ho, Wo)
        ``Ho = (H + 2p - kH) // s + 1``, likewise ``Wo``; the dtype of
        the inputs (float32 stays float32).
    cache : Conv2dCache

    Raises
    ------
    TypeError
        Non-real input, floating inputs of different dtypes, or a stride
        or padding that is not an int.
    ValueError
        Wrong shapes, channel mismatch, kernel larger than the padded
        input, stride < 1 or padding < 0.

    Used in: book/cnn.md, book/digits.md
    """
    x, W, b, stride, padding = _check_conv(x, W, b, stride, padding)
    xp = _pad(x, padding)
    out = _conv(xp, W, stride)
    if b is not None:
        out += b[:, None, None]
    return out, Conv2dCache(xp, W.copy(), b is not None, stride, padding)


def conv2d_backward(dout, cache):
    r"""Gradients of a convolution with respect to its input, weights, bias.

    .. math:: \frac{\partial L}{\partial W_{f,c,u,v}} = \sum_{n,i,j}
              \frac{\partial L}{\partial Y_{n,f,i,j}}\,
              X^{\text{pad}}_{n,c,\,s i + u,\,s j + v}

    ``db`` sums ``dout`` over ``n, i, j``; ``dx`` sends each output's
    gradient back, times the weights, to the window it was computed from
    (for stride 1: the full convolution of ``dout`` with the kernel, a
    correlation with the flipped kernel). These are the three chain rules
    of the CNN document [cnn-calculus-doc] §4.3, written out entry by
    entry.

    Parameters
    ----------
    dout : array_like, shape (N, F, Ho, Wo)
        Upstream gradient, dL/dY, of the forward pass's dtype.
    cache : Conv2dCache
        From :func:`conv2d_forward` or :func:`conv2d_forward_naive`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
    dW : ndarray, shape (F, C, kH, kW)
    db : ndarray, shape (F,), or None if the forward pass had no bias

    Used in: book/cnn.md, book/digits.md
    """
    xp, W, has_bias, stride, padding = _check_cache(cache, Conv2dCache)
    out_hw = _out_hw(xp.shape[2:], W.shape[2:], stride)
    dout = _check_dout(dout, (len(xp), len(W), *out_hw), W.dtype)
    dx = _crop(_conv_input_grad(dout, W, xp.shape, stride), padding)
    dW = _conv_weight_grad(xp, dout, W.shape[2:], stride)
    return dx, dW, dout.sum(axis=(0, 2, 3)) if has_bias else None


def conv2d_forward_naive(x, W, b=None, stride=1, padding=0):
    """Reference :func:`conv2d_forward` with plain loops (slow).

    Same arguments, result, cache type and errors.

    Used in: book/cnn.md
    """
    x, W, b, stride, padding = _check_conv(x, W, b, stride, padding)
    (sh, sw), (F, _, kH, kW) = stride, W.shape
    xp = _pad(x, padding)
    Ho, Wo = _out_hw(xp.shape[2:], (kH, kW), stride)
    out = np.zeros((len(x), F, Ho, Wo), dtype=x.dtype)
    for n in range(len(x)):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * sh:i * sh + kH, j * sw:j * sw + kW]
                    out[n, f, i, j] = np.sum(window * W[f])
                    if b is not None:
                        out[n, f, i, j] += b[f]
    return out, Conv2dCache(xp, W.copy(), b is not None, stride, padding)


def conv2d_backward_naive(dout, cache):
    """Reference :func:`conv2d_backward` with plain loops (slow): each
    output position sends its gradient back to the window it was computed
    from.

    Used in: book/cnn.md
    """
    xp, W, has_bias, (sh, sw), padding = _check_cache(cache, Conv2dCache)
    F, _, kH, kW = W.shape
    Ho, Wo = _out_hw(xp.shape[2:], (kH, kW), (sh, sw))
    dout = _check_dout(dout, (len(xp), F, Ho, Wo), W.dtype)
    dxp, dW = np.zeros_like(xp), np.zeros_like(W)
    for n in range(len(xp)):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * sh, i * sh + kH)
                    cols = slice(j * sw, j * sw + kW)
                    dW[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * W[f]
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    return _crop(dxp, padding), dW, db


def conv2d_matrix(W, input_shape, stride=1, padding=0):
    r"""The matrix ``T`` of a convolution: ``T @ x.ravel()`` is the output.

    .. math:: \operatorname{vec}(Y) = T \operatorname{vec}(X), \qquad
              \frac{\partial L}{\partial \operatorname{vec}(X)} =
              T^\top \frac{\partial L}{\partial \operatorname{vec}(Y)}

    Row ``(f, i, j)`` of ``T`` holds filter ``f`` where window ``(i, j)``
    sits on the image; most entries are zero. Dense: for teaching sizes.

    Parameters
    ----------
    W : array_like, shape (F, C, kH, kW)
    input_shape : (int, int, int)
        ``(C, H, W)`` of one image.
    stride, padding : int or (int, int)
        As :func:`conv2d_forward` (no bias).

    Returns
    -------
    T : ndarray, shape (F*Ho*Wo, C*H*W)
        ``T @ x.ravel() == conv2d_forward(x[None], W, None, stride,
        padding)[0].ravel()`` for an image ``x`` of ``input_shape``.

    Raises
    ------
    ValueError
        Bad shapes or settings (as :func:`conv2d_forward`), or a matrix
        of more than 2**26 entries.

    Used in: book/cnn.md
    """
    W, (C, H, Wd), stride, padding = _check_matrix(W, input_shape, stride,
                                                   padding)
    (sh, sw), (ph, pw), (F, _, kH, kW) = stride, padding, W.shape
    Ho, Wo = _out_hw((H + 2 * ph, Wd + 2 * pw), (kH, kW), stride)
    T = np.zeros((F, Ho, Wo, C, H + 2 * ph, Wd + 2 * pw), dtype=W.dtype)
    for i in range(Ho):
        for j in range(Wo):
            T[:, i, j, :, i * sh:i * sh + kH, j * sw:j * sw + kW] = W
    # columns of the padding multiply zeros: drop them
    T = T[..., ph:ph + H, pw:pw + Wd]
    return T.reshape(F * Ho * Wo, C * H * Wd)


def conv_transpose2d_forward(x, W, b=None, stride=1, padding=0,
                             output_padding=0):
    r"""Transposed convolution, as ``torch.nn.functional.conv_transpose2d``.

    Each input pixel adds a copy of the kernel, scaled by its value, to
    the output, ``s`` pixels apart; then ``padding`` is cropped from each
    side. It is the backward pass of :func:`conv2d_forward` with respect to
    its input (``T^T`` of :func:`conv2d_matrix`), used as a layer:

    .. math:: Y^{\text{pad}}_{n,o,\,s i + u,\,s j + v} \mathrel{+}=
              W_{c,o,u,v}\, X_{n,c,i,j}, \qquad Y = b + \operatorname{crop}_p
              (Y^{\text{pad}})

    Parameters
    ----------
    x : array_like, shape (N, C_in, H, W)
    W : array_like, shape (C_in, C_out, kH, kW)
        PyTorch's layout for a transposed convolution (``W`` is the weight
        of the convolution that maps the output back to ``x``).
    b : array_like, shape (C_out,), or None
    stride : int or (int, int), >= 1
    padding : int or (int, int), >= 0
        Rows and columns cropped from each side of the output (the padding
        of the convolution it is the transpose of).
    output_padding : int or (int, int), ``0 <= output_padding < stride``
        Rows and columns added at the bottom and right of the output.

    Returns
    -------
    out : ndarray, shape (N, C_out, Ho, Wo)
        ``Ho = (H - 1) s - 2p + kH + output_padding``
        (:func:`conv_transpose2d_output_size`), likewise ``Wo``.
    cache : ConvTranspose2dCache

    Raises
    ------
    TypeError, ValueError
        As :func:`conv2d_forward`; ValueError also if ``output_padding``
        is not below ``stride`` or the output would be empty.

    Used in: book/cnn.md
    """
    x, W, b, stride, padding, output_padding, (Ho, Wo) = \
        _check_conv_transpose(x, W, b, stride, padding, output_padding)
    padded = (len(x), W.shape[1], Ho + 2 * padding[0], Wo + 2 * padding[1])
    out = _crop(_conv_input_grad(x, W, padded, stride), padding)
    if b is not None:
        out += b[:, None, None]
    cache = ConvTranspose2dCache(x.copy(), W.copy(), b is not None, stride,
                                 padding, output_padding)
    return out, cache


def conv_transpose2d_backward(dout, cache):
    r"""Gradients of a transposed convolution.

    The transposed convolution's backward pass is a convolution: ``dx`` is
    :func:`conv2d_forward` of ``dout`` with the same ``W``, stride and
    padding, and ``dW`` is the weight gradient of that convolution with
    the roles of input and upstream gradient exchanged:

    .. math:: \frac{\partial L}{\partial W_{c,o,u,v}} = \sum_{n,i,j}
              X_{n,c,i,j}\, \frac{\partial L}{\partial
              Y^{\text{pad}}_{n,o,\,s i + u,\,s j + v}}

    Parameters
    ----------
    dout : array_like, shape (N, C_out, Ho, Wo)
    cache : ConvTranspose2dCache
        From :func:`conv_transpose2d_forward`.

    Returns
    -------
    dx : ndarray, shape (N, C_in, H, W)
    dW : ndarray, shape (C_in, C_out, kH, kW)
    db : ndarray, shape (C_out,), or None if there was no bias

    Used in: book/cnn.md
    """
    x, W, has_bias, stride, padding, output_padding = _check_cache(
        cache, ConvTranspose2dCache)
    out_hw = [conv_transpose2d_output_size(*sizes) for sizes in zip(
        x.shape[2:], W.shape[2:], stride, padding, output_padding)]
    dout = _check_dout(dout, (len(x), W.shape[1], *out_hw), W.dtype)
    doutp = _pad(dout, padding)
    dx = _conv(doutp, W, stride)
    dW = _conv_weight_grad(doutp, x, W.shape[2:], stride)
    return dx, dW, dout.sum(axis=(0, 2, 3)) if has_bias else None


# ---------------------------------------------------------------- pooling

def maxpool2d_forward(x, kernel_size, stride=None):
    r"""Max pooling, as ``torch.nn.functional.max_pool2d`` (no padding).

    .. math:: Y_{n,c,i,j} = \max_{0 \le u < k_H,\ 0 \le v < k_W}
              X_{n,c,\,s i + u,\,s j + v}

    Ties go to the first maximum in row-major order, and a window with a
    NaN gives NaN (its last NaN is the maximum), as in PyTorch.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int or (int, int), optional
        Default ``kernel_size`` (windows side by side).

    Returns
    -------
    out : ndarray, shape (N, C, Ho, Wo), ``Ho = (H - kH) // s + 1``
    cache : MaxPool2dCache

    Used in: book/cnn.md, book/digits.md
    """
    x, kernel, stride = _check_pool(x, kernel_size, stride)
    windows = _windows(x, kernel, stride)  # (N, C, kH, kW, Ho, Wo) view
    out = np.array(windows[:, :, 0, 0])
    for u, v in np.ndindex(*kernel):  # NaN wins, as in PyTorch
        np.maximum(out, windows[:, :, u, v], out=out)
    argmax = _window_argmax(windows, out)
    return out, MaxPool2dCache(x.copy(), kernel, stride, argmax)


def maxpool2d_backward(dout, cache):
    r"""Gradient of max pooling: each window's gradient goes to its maximum.

    .. math:: \frac{\partial L}{\partial X_{n,c,h,w}} = \sum_{i,j}
              \frac{\partial L}{\partial Y_{n,c,i,j}}\,
              [\,(h, w) = \operatorname{argmax} \text{ of window } (i, j)\,]

    Parameters
    ----------
    dout : array_like, shape (N, C, Ho, Wo)
    cache : MaxPool2dCache
        From :func:`maxpool2d_forward` or :func:`maxpool2d_forward_naive`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)
        Zero except at the maxima (overlapping windows add up).

    Used in: book/cnn.md, book/digits.md
    """
    x, kernel, stride, argmax = _check_cache(cache, MaxPool2dCache)
    dout = _check_dout(dout, argmax.shape, x.dtype) + 0  # -0.0 -> +0.0
    # offset (u, v) of window (i, j) gets its gradient if it is the maximum
    return _pool_grad(lambda u, v: _where(argmax == u * kernel[1] + v, dout),
                      x.shape, x.dtype, kernel, stride)


def maxpool2d_forward_naive(x, kernel_size, stride=None):
    """Reference :func:`maxpool2d_forward` with plain loops (slow).

    Used in: book/cnn.md
    """
    x, (kH, kW), (sh, sw) = _check_pool(x, kernel_size, stride)
    (N, C), (Ho, Wo) = x.shape[:2], _out_hw(x.shape[2:], (kH, kW), (sh, sw))
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    argmax = np.zeros((N, C, Ho, Wo), dtype=int)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * sh:i * sh + kH, j * sw:j * sw + kW]
                    argmax[n, c, i, j] = _argmax_like_torch(window.ravel())
                    out[n, c, i, j] = window.ravel()[argmax[n, c, i, j]]
    return out, MaxPool2dCache(x.copy(), (kH, kW), (sh, sw), argmax)


def maxpool2d_backward_naive(dout, cache):
    """Reference :func:`maxpool2d_backward` with plain loops (slow).

    Used in: book/cnn.md
    """
    x, (kH, kW), (sh, sw), argmax = _check_cache(cache, MaxPool2dCache)
    dout = _check_dout(dout, argmax.shape, x.dtype)
    dx = np.zeros_like(x)
    for n, c, i, j in np.ndindex(*dout.shape):
        window = x[n, c, i * sh:i * sh + kH, j * sw:j * sw + kW]
        u, v = divmod(_argmax_like_torch(window.ravel()), kW)
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
    cache : AvgPool2dCache

    Used in: book/cnn.md
    """
    x, kernel, stride = _check_pool(x, kernel_size, stride)
    windows = _windows(x, kernel, stride)  # (N, C, kH, kW, Ho, Wo) view
    out = sum(windows[:, :, u, v] for u, v in np.ndindex(*kernel))
    out /= kernel[0] * kernel[1]
    return out, AvgPool2dCache(x.shape, x.dtype, kernel, stride)


def avgpool2d_backward(dout, cache):
    r"""Gradient of average pooling: each window's gradient is spread evenly.

    .. math:: \frac{\partial L}{\partial X_{n,c,h,w}} = \frac{1}{k_H k_W}
              \sum_{(i, j):\ (h, w) \in \text{window } (i, j)}
              \frac{\partial L}{\partial Y_{n,c,i,j}}

    Parameters
    ----------
    dout : array_like, shape (N, C, Ho, Wo)
    cache : AvgPool2dCache
        From :func:`avgpool2d_forward` or :func:`avgpool2d_forward_naive`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W)

    Used in: book/cnn.md
    """
    shape, dtype, kernel, stride = _check_cache(cache, AvgPool2dCache)
    out_hw = _out_hw(shape[2:], kernel, stride)
    share = _check_dout(dout, (*shape[:2], *out_hw), dtype) / (kernel[0]
                                                               * kernel[1])
    share += 0  # -0.0 -> +0.0, as PyTorch's sum into zeros gives
    return _pool_grad(lambda u, v: share, shape, dtype, kernel, stride)


def avgpool2d_forward_naive(x, kernel_size, stride=None):
    """Reference :func:`avgpool2d_forward` with plain loops (slow).

    Used in: book/cnn.md
    """
    x, (kH, kW), (sh, sw) = _check_pool(x, kernel_size, stride)
    (N, C), (Ho, Wo) = x.shape[:2], _out_hw(x.shape[2:], (kH, kW), (sh, sw))
    out = np.zeros((N, C, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, c, i, j] = x[n, c, i * sh:i * sh + kH,
                                        j * sw:j * sw + kW].mean()
    return out, AvgPool2dCache(x.shape, x.dtype, (kH, kW), (sh, sw))


def avgpool2d_backward_naive(dout, cache):
    """Reference :func:`avgpool2d_backward` with plain loops (slow).

    Used in: book/cnn.md
    """
    shape, dtype, (kH, kW), (sh, sw) = _check_cache(cache, AvgPool2dCache)
    Ho, Wo = _out_hw(shape[2:], (kH, kW), (sh, sw))
    dout = _check_dout(dout, (*shape[:2], Ho, Wo), dtype)
    dx = np.zeros(shape, dtype=dtype)
    for n, c, i, j in np.ndindex(*dout.shape):
        dx[n, c, i * sh:i * sh + kH, j * sw:j * sw + kW] += (
            dout[n, c, i, j] / (kH * kW))
    return dx


# -------------------------------------------------------- the machinery

def _pad(x, padding):
    """A new array: ``x`` (N, C, H, W) with ``padding`` zeros around H, W."""
    (ph, pw) = padding
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def _crop(xp, padding):
    """``xp`` without its ``padding`` (a view)."""
    (ph, pw), (Hp, Wp) = padding, xp.shape[2:]
    return xp[:, :, ph:Hp - ph, pw:Wp - pw]


def _out_hw(hw, kernel, stride):
    """``(Ho, Wo)``: how many windows fit in an (already padded) ``hw``."""
    return tuple((n - k) // s + 1 for n, k, s in zip(hw, kernel, stride))


def _windows(xp, kernel, stride):
    """Every window of ``xp`` (N, C, H, W) as a view (N, C, kH, kW, Ho,
    Wo): ``windows[n, c, u, v, i, j] = xp[n, c, s_h i + u, s_w j + v]``."""
    view = sliding_window_view(xp, kernel, axis=(2, 3))
    return view[:, :, ::stride[0], ::stride[1]].transpose(0, 1, 4, 5, 2, 3)


def _im2col(xp, kernel, stride, scratch):
    """The windows of a batch of images ``xp`` (n, C, H, W) copied into
    the columns of one matrix (C*kH*kW, n*Ho*Wo), in ``scratch``: column
    ``(m, i, j)`` is window ``(i, j)`` of image ``m``."""
    windows = _windows(xp, kernel, stride)
    n, C, kH, kW, Ho, Wo = windows.shape
    cols = _part(scratch, (C, kH, kW, n, Ho, Wo))
    np.copyto(cols, windows.transpose(1, 2, 3, 0, 4, 5))
    return cols.reshape(C * kH * kW, n * Ho * Wo)


def _col2im(part, out, kernel, stride):
    """The adjoint of :func:`_windows`: for each kernel offset ``(u, v)``,
    add ``part(u, v)`` (n, C, Ho, Wo), the values of the windows at that
    offset, to ``out`` (n, C, H, W) where :func:`_windows` read them."""
    (sh, sw), (Ho, Wo) = stride, _out_hw(out.shape[2:], kernel, stride)
    for u, v in np.ndindex(*kernel):
        out[:, :, u:u + sh * (Ho - 1) + 1:sh,
            v:v + sw * (Wo - 1) + 1:sw] += part(u, v)
    return out


def _pool_grad(part, shape, dtype, kernel, stride):
    """:func:`_col2im` into a new array of zeros (N, C, H, W). When the
    windows tile it (side by side, covering it), each entry belongs to one
    window: then ``part(u, v)`` is written, not added, into an empty
    array, half the memory traffic. (Adding would turn a -0.0 into +0.0,
    as PyTorch's sums into zeros do: the callers pass ``dout + 0``.)"""
    if stride == kernel and all(n % k == 0 for n, k in zip(shape[2:],
                                                           kernel)):
        out = np.empty(shape, dtype=dtype)
        (kH, kW), (N, C, H, W) = kernel, shape
        blocks = out.reshape(N, C, H // kH, kH, W // kW, kW)
        for u, v in np.ndindex(*kernel):
            blocks[:, :, :, u, :, v] = part(u, v)
        return out
    return _col2im(part, np.zeros(shape, dtype=dtype), kernel, stride)


def _window_argmax(windows, out):
    """Offset ``u * kW + v`` of the maximum ``out`` (N, C, Ho, Wo) in each
    of the ``windows`` (N, C, kH, kW, Ho, Wo): the first one in row-major
    order (the count of offsets before it), or the last NaN (PyTorch's
    rule)."""
    kH, kW = windows.shape[2:4]
    values = [windows[:, :, u, v] for u, v in np.ndindex(kH, kW)]
    before = values[0] != out  # still before the first maximum
    argmax = before.astype(np.min_scalar_type(kH * kW - 1))
    for value in values[1:-1]:
        before &= value != out
        argmax += before
    if np.isnan(out).any():  # NaN != NaN: windows with a NaN end up here
        for r, value in enumerate(values):
            np.copyto(argmax, r, where=np.isnan(value))
    return argmax


def _batches(N, per_image):
    """Slices of ``range(N)``, batches of images whose im2col matrix takes
    about 4 MB when one image takes ``per_image`` bytes: large enough for
    one efficient matrix product, small enough to stay in cache."""
    step = max(1, (1 << 22) // max(1, per_image))
    return [slice(n, min(n + step, N)) for n in range(0, N, step)]


def _scratch(batches, per_image, dtype):
    """Memory for one array of ``per_image`` entries per image of the
    first (largest) of ``batches``, which every batch reuses through
    :func:`_part`: the peak memory is one batch's matrices, not two.
    (Whether a freed matrix of a few MB goes back to the operating system,
    to be faulted in again page by page for the next, depends on the
    allocator's state: in a loop of forward and backward passes of the
    digits chapter's second convolution it did, for a third of the time in
    float64, measured; in its training loop it did not.)"""
    images = batches[0].stop - batches[0].start if batches else 0
    return np.empty(images * per_image, dtype=dtype)


def _part(scratch, shape):
    """The first entries of ``scratch`` as a C-contiguous array of
    ``shape``."""
    return scratch[:math.prod(shape)].reshape(shape)


def _channels_first(a, scratch):
    """(n, F, Ho, Wo) as a matrix (F, n*Ho*Wo), copied into ``scratch``."""
    n, F, Ho, Wo = a.shape
    out = _part(scratch, (F, n, Ho, Wo))
    np.copyto(out, a.transpose(1, 0, 2, 3))
    return out.reshape(F, n * Ho * Wo)


def _conv(xp, W, stride):
    """Correlation of the padded images ``xp`` (N, C, Hp, Wp) with ``W``
    (F, C, kH, kW), no bias: (N, F, Ho, Wo). im2col, then one matrix
    product per batch of images."""
    (F, C, kH, kW), N = W.shape, len(xp)
    Ho, Wo = _out_hw(xp.shape[2:], (kH, kW), stride)
    out = np.empty((N, F, Ho, Wo), dtype=xp.dtype)
    batches = _batches(N, C * kH * kW * Ho * Wo * xp.itemsize)
    cols = _scratch(batches, C * kH * kW * Ho * Wo, xp.dtype)
    ys = _scratch(batches, F * Ho * Wo, xp.dtype)
    for n in batches:
        m = len(xp[n])
        y = _part(ys, (F, m * Ho * Wo))
        np.matmul(W.reshape(F, -1), _im2col(xp[n], (kH, kW), stride, cols),
                  out=y)
        out[n] = y.reshape(F, m, Ho, Wo).transpose(1, 0, 2, 3)
    return out


def _conv_input_grad(dout, W, shape, stride):
    """Gradient of :func:`_conv` for its input, of ``shape`` (N, C, Hp,
    Wp), from ``dout`` (N, F, Ho, Wo): each window's gradient, ``W``
    transposed times ``dout``, added back where the window was read."""
    (F, C, kH, kW), (N, _, Ho, Wo) = W.shape, dout.shape
    # the same sums, faster when copying dout in rows beats the scatter
    if stride == (1, 1) and C * kH * kW > F and np.isfinite(W).all():
        return _conv_input_grad_rows(dout, W, shape)
    dxp = np.zeros(shape, dtype=dout.dtype)
    batches = _batches(N, C * kH * kW * Ho * Wo * dout.itemsize)
    douts = _scratch(batches, F * Ho * Wo, dout.dtype)
    dcols_all = _scratch(batches, C * kH * kW * Ho * Wo, dout.dtype)
    for n in batches:
        dcols = _part(dcols_all, (C * kH * kW, len(dout[n]) * Ho * Wo))
        np.matmul(W.reshape(F, -1).T, _channels_first(dout[n], douts),
                  out=dcols)
        dcols = dcols.reshape(C, kH, kW, -1, Ho, Wo)  # each window's grad
        _col2im(lambda u, v: dcols[:, u, v].swapaxes(0, 1), dxp[n],
                (kH, kW), stride)
    return dxp


def _conv_input_grad_rows(dout, W, shape):
    """:func:`_conv_input_grad` for stride 1, in long additions. In an
    image flattened row by row, window ``(i, j)`` reads entry ``(i + u) Wp
    + (j + v)`` at offset ``(u, v)``: entry ``i Wp + j`` shifted by ``u Wp
    + v``. So with ``dout`` laid out in rows of the image's width ``Wp``
    (zeros after column ``Wo``), the gradients at offset ``(u, v)`` of all
    the windows of an image are one contiguous run, added at that shift:
    ``kH kW`` long additions per batch instead of ``kH kW n C Ho`` short
    ones, for ``Wp / Wo`` times the products and a copy of ``dout`` in
    ``F n Ho`` short rows (so: when ``C kH kW > F``). The padding columns
    add ``W`` times 0: for finite ``W`` only (0 times inf is NaN)."""
    (F, C, kH, kW), (N, _, Ho, Wo), (Hp, Wp) = W.shape, dout.shape, shape[2:]
    dxp = np.zeros(shape, dtype=dout.dtype)
    flat = dxp.reshape(N, C, Hp * Wp)
    run = (Ho - 1) * Wp + Wo  # from the first window's entry to the last's
    batches = _batches(N, C * kH * kW * Ho * Wp * dout.itemsize)
    rows_all = _scratch(batches, F * Ho * Wp, dout.dtype)
    rows_all[:] = 0  # the columns after Wo stay 0 in every batch
    dcols_all = _scratch(batches, C * kH * kW * Ho * Wp, dout.dtype)
    for n in batches:
        m = len(flat[n])
        rows = _part(rows_all, (F, m, Ho, Wp))
        rows[..., :Wo] = dout[n].transpose(1, 0, 2, 3)
        dcols = _part(dcols_all, (C * kH * kW, m * Ho * Wp))
        np.matmul(W.reshape(F, -1).T, rows.reshape(F, -1), out=dcols)
        dcols = dcols.reshape(C, kH, kW, m, Ho * Wp)  # each window's grad
        for u, v in np.ndindex(kH, kW):
            shift = u * Wp + v
            flat[n, :, shift:shift + run] += dcols[:, u, v, :, :run].swapaxes(
                0, 1)
    return dxp


def _conv_weight_grad(xp, dout, kernel, stride):
    """Gradient of :func:`_conv` for its weights (F, C, kH, kW): ``dout``
    (N, F, Ho, Wo) times the im2col matrices, summed over the batches."""
    (N, F, Ho, Wo), (C, (kH, kW)) = dout.shape, (xp.shape[1], kernel)
    dW = np.zeros((F, C * kH * kW), dtype=dout.dtype)
    batches = _batches(N, C * kH * kW * Ho * Wo * dout.itemsize)
    cols = _scratch(batches, C * kH * kW * Ho * Wo, dout.dtype)
    douts = _scratch(batches, F * Ho * Wo, dout.dtype)
    for n in batches:
        dW += _channels_first(dout[n], douts) @ _im2col(xp[n], kernel,
                                                        stride, cols).T
    return dW.reshape(F, C, kH, kW)


def _where(mask, values):
    """``np.where(mask, values, 0)``, ~10x faster: the bits of each value
    times 1 or 0, as integers. A float product ``values * mask`` would
    give -0.0 for a negative value (PyTorch gives 0.0) and NaN for 0
    times inf or NaN; the bits give the value itself or +0.0."""
    bits = values.view(f"i{values.itemsize}")
    return (bits * mask).view(values.dtype)


def _argmax_like_torch(values):
    """Index of the maximum of a 1-D array, by PyTorch's rule: the first
    maximum, or the last NaN if there is one."""
    nan = np.flatnonzero(np.isnan(values))
    return int(nan[-1]) if nan.size else int(np.argmax(values))


# ---------------------------------------------------------------- checks

def _pair(value, name, low, high=None):
    """``value``, an int or a pair of ints, as a pair in [low, high]."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,
                                                                  value)
    if len(items) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got "
                         f"{value!r}")
    return tuple(check_int(v, name, low=low, high=high) for v in items)


def _check_sizes(size, kernel, stride, padding, fit=True):
    """The ints of an output-size formula, checked."""
    size, kernel = check_int(size, "size", low=1), check_int(
        kernel, "kernel", low=1)
    stride = check_int(stride, "stride", low=1)
    padding = check_int(padding, "padding", low=0)
    if fit and kernel > size + 2 * padding:
        raise ValueError(
            f"kernel size {kernel} is larger than the padded input size "
            f"{size} + 2*{padding} = {size + 2 * padding}")
    return size, kernel, stride, padding


def _check_arrays(x, W, b, layout):
    """``x`` (N, C, H, W), ``W`` (4-D, ``layout``) and ``b`` (1-D, or
    None) as arrays of one float dtype; H, W and the kernel >= 1."""
    arrays = dict(x=x, W=W) if b is None else dict(x=x, W=W, b=b)
    x, W, *b = as_float_arrays(**arrays)
    check_ndim(x, "x", [4], "(N, C, H, W)")
    check_ndim(W, "W", [4], layout)
    if min(x.shape[1:]) < 1:
        raise ValueError(f"x must have at least one channel, row and "
                         f"column, got shape {x.shape}")
    return x, _check_kernel(W, layout), (b[0] if b else None)


def _check_kernel(W, layout):
    """``W`` unchanged, after checking its kernel is at least 1x1."""
    if min(W.shape[2:]) < 1:
        raise ValueError(f"W must have a kernel of at least 1x1, got shape "
                         f"{W.shape} {layout}")
    return W


def _check_channels(x, W, b, x_axis, out_axis, layout, x_name="x"):
    """Raise unless ``x``'s channels match ``W.shape[x_axis]`` and ``b``
    has one entry per output channel, ``W.shape[out_axis] >= 1``."""
    C, Cw, F = x.shape[1], W.shape[x_axis], W.shape[out_axis]
    if Cw != C:
        raise ValueError(
            f"channel mismatch: {x_name} has C={C} channels (shape "
            f"{x.shape[-3:] if x_name != 'x' else x.shape}) but W expects "
            f"{Cw} (shape {W.shape}, i.e. {layout})")
    if F < 1:
        raise ValueError(f"W must have at least one output channel, got "
                         f"shape {W.shape} {layout}")
    if b is not None and b.shape != (F,):
        raise ValueError(f"b must have shape ({F},), one bias per output "
                         f"channel, got shape {b.shape}")


def _check_fit(x_hw, kernel, padding, where):
    """Raise unless the kernel fits in the padded input."""
    for axis, size, k, p in zip(("height", "width"), x_hw, kernel, padding):
        if k > size + 2 * p:
            raise ValueError(
                f"kernel {axis} {k} is larger than the padded input {axis} "
                f"{size} + 2*{p} = {size + 2 * p} ({where})")


def _check_conv(x, W, b, stride, padding):
    """Checked arguments of :func:`conv2d_forward`."""
    x, W, b = _check_arrays(x, W, b, "(F, C, kH, kW)")
    _check_channels(x, W, b, 1, 0, "(F, C, kH, kW)")
    stride = _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    _check_fit(x.shape[2:], W.shape[2:], padding,
               f"x {x.shape}, W {W.shape}")
    return x, W, b, stride, padding


def _check_conv_transpose(x, W, b, stride, padding, output_padding):
    """Checked arguments of :func:`conv_transpose2d_forward`, and the
    output's ``(Ho, Wo)``."""
    x, W, b = _check_arrays(x, W, b, "(C_in, C_out, kH, kW)")
    _check_channels(x, W, b, 0, 1, "(C_in, C_out, kH, kW)")
    stride = _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    output_padding = _pair(output_padding, "output_padding", 0)
    out_hw = tuple(conv_transpose2d_output_size(*sizes) for sizes in zip(
        x.shape[2:], W.shape[2:], stride, padding, output_padding))
    return x, W, b, stride, padding, output_padding, out_hw


def _check_matrix(W, input_shape, stride, padding):
    """Checked arguments of :func:`conv2d_matrix`."""
    shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) \
        else ()
    if len(shape) != 3:
        raise ValueError(f"input_shape must be (C, H, W) of one image, got "
                         f"{input_shape!r}")
    shape = tuple(check_int(n, "input_shape", low=1) for n in shape)
    W = check_ndim(as_float_array(W, "W"), "W", [4], "(F, C, kH, kW)")
    x = np.zeros((1, *shape), W.dtype)
    _check_kernel(W, "(F, C, kH, kW)")
    _check_channels(x, W, None, 1, 0, "(F, C, kH, kW)", "input_shape")
    stride = _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    _check_fit(shape[1:], W.shape[2:], padding,
               f"input_shape {shape}, W {W.shape}")
    (F, C, kH, kW), (_, H, Wd) = W.shape, shape
    Ho, Wo = _out_hw((H + 2 * padding[0], Wd + 2 * padding[1]), (kH, kW),
                     stride)
    if F * Ho * Wo * C * H * Wd > 2 ** 26:
        raise ValueError(f"the matrix for W {W.shape} and input_shape "
                         f"{shape} would have {F * Ho * Wo} x {C * H * Wd} "
                         f"entries; conv2d_matrix is for teaching sizes "
                         f"(at most 2**26 entries)")
    return W, shape, stride, padding


def _check_pool(x, kernel_size, stride):
    """``x`` as a float array (N, C, H, W); the window and the stride
    (default: the window) as pairs; the window fits in the input."""
    x = check_ndim(as_float_array(x, "x"), "x", [4], "(N, C, H, W)")
    if x.shape[1] < 1:
        raise ValueError(f"x must have at least one channel, got shape "
                         f"{x.shape}")
    kernel = _pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else _pair(stride, "stride", 1)
    if kernel[0] > x.shape[2] or kernel[1] > x.shape[3]:
        raise ValueError(f"kernel_size {kernel} is larger than the input "
                         f"(H, W) = {x.shape[2:]}")
    return x, kernel, stride


def _check_dout(dout, shape, dtype):
    """``dout`` as an array of ``dtype`` and of the output's ``shape``."""
    dout = as_float_array(dout, "dout", dtype=dtype)
    if dout.shape != tuple(shape):
        raise ValueError(f"dout must have the output's shape {tuple(shape)}"
                         f", got {dout.shape}")
    return dout


def _check_cache(cache, kind):
    """``cache`` unchanged, after checking it is a ``kind`` (the cache type
    of the matching forward pass)."""
    if not isinstance(cache, kind):
        raise TypeError(f"cache must be a {kind.__name__} from the matching "
                        f"forward pass, got {type(cache).__name__}")
    return cache
