"""Reading data sets from disk.

For now one format: IDX, in which MNIST is distributed
(http://yann.lecun.com/exdb/mnist/). An IDX file is a header and the raw
array, big-endian:

* bytes 0-1: zero; byte 2: the type code of the entries (0x08 uint8,
  0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64);
  byte 3: the number of dimensions ``d``;
* ``d`` sizes as big-endian uint32;
* the entries in row-major (C) order.

The MNIST test images ``t10k-images-idx3-ubyte`` are thus
``00 00 08 03``, then 10000, 28, 28, then 7,840,000 pixel bytes. The files
are usually distributed gzip-compressed (``.gz``); :func:`read_idx` accepts
both. A loader that downloads MNIST builds on :func:`read_idx` and
:func:`parse_idx` (which works on bytes already in memory).
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_DTYPES", "parse_idx", "read_idx"]

# IDX type code -> big-endian NumPy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file.

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        Named in error messages (the file it came from).

    Returns
    -------
    ndarray, shape (d_0, ..., d_{k-1})
        In the file's type converted to native byte order (``uint8`` for
        MNIST), a fresh writable array.

    Raises
    ------
    ValueError
        A bad magic number (first two bytes not zero, unknown type code),
        a header or data shorter than the sizes announce (truncated), or
        trailing bytes.
    """
    data = memoryview(bytes(data))
    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file: {len(data)} bytes, "
                         "shorter than the 4-byte magic number")
    zero, code, ndim = bytes(data[:2]), data[2], data[3]
    if zero != b"\0\0" or code not in IDX_DTYPES:
        raise ValueError(
            f"{name}: not an IDX file: magic number "
            f"{bytes(data[:4]).hex(' ')} (expected 00 00, a type code in "
            f"{sorted(f'{c:#04x}' for c in IDX_DTYPES)}, and the number of "
            "dimensions)")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header: {ndim} dimensions "
                         f"need {header} bytes, the file has {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data[4:header], ">u4"))
    dtype = IDX_DTYPES[code]
    expected = header + dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    if len(data) < expected:
        raise ValueError(
            f"{name}: truncated IDX data: shape {shape} of {dtype.name} "
            f"needs {expected} bytes, the file has {len(data)}")
    if len(data) > expected:
        raise ValueError(
            f"{name}: corrupt IDX file: shape {shape} of {dtype.name} "
            f"needs {expected} bytes, the file has {len(data)} "
            f"({len(data) - expected} extra)")
    arr = np.frombuffer(data[header:], dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, into a NumPy array.

    Compression is recognised by the gzip magic bytes, not by the name.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray, shape as in the file's header (MNIST images: (N, 28, 28)
    uint8; labels: (N,) uint8).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        Naming the file: a corrupt or truncated gzip stream, a bad magic
        number, a size that disagrees with the header.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(f"{path}: corrupt or truncated gzip data "
                             f"({exc})") from exc
    return parse_idx(raw, str(path))
