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
both. :func:`load_mnist` builds on :func:`parse_idx` (which works on bytes
already in memory): it finds the four MNIST files on disk or downloads them,
checks them against their known MD5 checksums and returns float32 images.

Where :func:`load_mnist` looks for the files, in this order (the first
folder that holds a file wins):

1. ``root`` if given (and only there);
2. otherwise the cache folder :func:`mnist_cache_dir`: the environment
   variable ``CALC_NN_DATA`` (the files go in ``$CALC_NN_DATA/mnist``), else
   ``$XDG_CACHE_HOME/calc_nn/mnist``, else ``~/.cache/calc_nn/mnist``;
3. then the read-only folders of :func:`mnist_local_dirs`: the folders
   listed in ``CALC_NN_MNIST_DIRS`` (separated by ``os.pathsep``) and
   ``../shared/data/mnist`` next to the project (the 10,000 test images
   kept for offline builds and tests).

A file missing everywhere is downloaded (``download=True``) into ``root`` or
the cache folder, from the mirrors in :data:`MNIST_MIRRORS` in turn.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np

__all__ = ["IDX_DTYPES", "parse_idx", "read_idx", "load_mnist",
           "mnist_cache_dir", "mnist_local_dirs", "MNIST_FILES",
           "MNIST_MD5", "MNIST_MIRRORS"]

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


# ------------------------------------------------------------------ MNIST

#: The files of each split: (images, labels), without the ``.gz``.
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: MD5 of the DECOMPRESSED files (gzip headers differ between mirrors).
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
#: Base URLs tried in turn; each serves ``<name>.gz``.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
_SHARED_MNIST = Path(__file__).resolve().parents[1].parent / "shared" / \
    "data" / "mnist"


def mnist_cache_dir() -> Path:
    """The per-user folder where downloaded MNIST files are kept.

    ``$CALC_NN_DATA/mnist`` if the environment variable ``CALC_NN_DATA`` is
    set, else ``$XDG_CACHE_HOME/calc_nn/mnist``, else
    ``~/.cache/calc_nn/mnist``. The folder is not created here.
    """
    if os.environ.get("CALC_NN_DATA"):
        return Path(os.environ["CALC_NN_DATA"]).expanduser() / "mnist"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "calc_nn" / "mnist"


def mnist_local_dirs() -> list[Path]:
    """Read-only folders searched after the cache (nothing is written there).

    The folders in ``CALC_NN_MNIST_DIRS`` (``os.pathsep``-separated), then
    ``<project>/../shared/data/mnist`` (the MNIST test set kept for offline
    builds and tests).
    """
    extra = os.environ.get("CALC_NN_MNIST_DIRS", "")
    dirs = [Path(d).expanduser() for d in extra.split(os.pathsep) if d]
    return dirs + [_SHARED_MNIST]


def _md5(raw: bytes) -> str:
    return hashlib.md5(raw).hexdigest()


def _decompress(raw: bytes, name) -> bytes:
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(f"{name}: corrupt or truncated gzip data "
                             f"({exc})") from exc
    return raw


def _checked(raw: bytes, name: str, where) -> bytes:
    """Decompressed bytes of ``raw`` after the MD5 check (ValueError)."""
    raw = _decompress(raw, where)
    got = _md5(raw)
    if got != MNIST_MD5[name]:
        raise ValueError(
            f"{where}: MD5 of the decompressed data is {got}, expected "
            f"{MNIST_MD5[name]} ({len(raw)} bytes): the file is corrupt or "
            "truncated; delete it so that it can be downloaded again")
    return raw


def _find(name: str, dirs) -> Path | None:
    for d in dirs:
        for candidate in (Path(d) / name, Path(d) / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _download(name: str, folder: Path, mirrors, progress: bool) -> Path:
    """Fetch ``<mirror><name>.gz`` into ``folder`` (MD5-checked, atomic)."""
    from tqdm import tqdm  # only needed when downloading

    folder.mkdir(parents=True, exist_ok=True)
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{name}.gz"
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                total = int(response.headers.get("Content-Length") or 0)
                chunks = []
                with tqdm(total=total or None, unit="B", unit_scale=True,
                          desc=f"{name}.gz", disable=not progress,
                          file=sys.stderr, leave=False) as bar:
                    while chunk := response.read(1 << 16):
                        chunks.append(chunk)
                        bar.update(len(chunk))
            raw = b"".join(chunks)
            _checked(raw, name, url)
        except (urllib.error.URLError, http.client.HTTPException, OSError,
                ValueError) as exc:
            errors.append(f"{url}: {exc}")
            continue
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        target = folder / f"{name}.gz"
        os.replace(tmp, target)
        return target
    raise OSError(f"could not download {name}.gz from any mirror:\n  "
                  + "\n  ".join(errors))


def load_mnist(split: str = "train", root=None, download: bool = True, *,
               mirrors=None, progress: bool = True):
    r"""The MNIST handwritten digits, as float32 images in [0, 1].

    The files are looked for in ``root`` if given, else in the cache folder
    (:func:`mnist_cache_dir`) and the local folders
    (:func:`mnist_local_dirs`), as ``<name>`` or ``<name>.gz``; a missing
    file is downloaded into ``root`` or the cache if ``download`` is true.
    Every file is checked against the MD5 of its decompressed bytes
    (:data:`MNIST_MD5`) and parsed with :func:`parse_idx` (no torchvision).
    Pixels are scaled as :math:`x = p / 255` for bytes :math:`p \in
    \{0, \dots, 255\}`.

    Parameters
    ----------
    split : {"train", "test"}
        60,000 training or 10,000 test digits.
    root : str or path-like, optional
        A folder to use instead of the cache and local folders.
    download : bool
        Download missing files. With ``False`` nothing touches the network.
    mirrors : sequence of str, optional
        Base URLs to download from (default :data:`MNIST_MIRRORS`).
    progress : bool
        Show a tqdm progress bar while downloading.

    Returns
    -------
    images : ndarray of float32, shape (N, 28, 28), values in [0, 1]
    labels : ndarray of int64, shape (N,), values in 0..9

    Raises
    ------
    ValueError
        Unknown ``split``; a file (named in the message) that is corrupt,
        truncated or fails its MD5 check.
    FileNotFoundError
        A file found nowhere and not downloadable (``download=False`` or no
        network); the message lists where it was looked for and where to
        put it.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if root is not None:
        search, target = [Path(root).expanduser()], Path(root).expanduser()
    else:
        target = mnist_cache_dir()
        search = [target, *mnist_local_dirs()]
    mirrors = MNIST_MIRRORS if mirrors is None else tuple(mirrors)
    arrays = []
    for name in MNIST_FILES[split]:
        path = _find(name, search)
        if path is None:
            reason = "download=False"
            if download:
                try:
                    path = _download(name, target, mirrors, progress)
                except OSError as exc:
                    reason = str(exc)
            if path is None:
                raise FileNotFoundError(
                    f"MNIST file {name} not found (looked for {name} and "
                    f"{name}.gz in: {', '.join(map(str, search))}) and not "
                    f"downloaded ({reason}). Put {name}.gz, from "
                    f"{mirrors[0] if mirrors else MNIST_MIRRORS[0]}, in "
                    f"{target}, or set CALC_NN_DATA (files in "
                    "$CALC_NN_DATA/mnist) or pass root=...")
        arrays.append(parse_idx(_checked(path.read_bytes(), name, path),
                                str(path)))
    images, labels = arrays
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(f"{name}: images of shape {images.shape} and "
                         f"labels of shape {labels.shape} do not match")
    return (images.astype(np.float32) / np.float32(255.0),
            labels.astype(np.int64))
