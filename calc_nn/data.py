"""Reading data sets from disk: IDX files and MNIST.

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

Where MNIST is looked for (:func:`find_mnist_file`, the one lookup of the
package), in this order; the first readable copy of a file wins:

1. ``root`` if given (and only there);
2. otherwise the cache folder :func:`mnist_cache_dir`
   (``$XDG_CACHE_HOME/calc_nn/mnist``, else ``~/.cache/calc_nn/mnist``),
   where downloads go;
3. then the read-only folders of :func:`mnist_local_dirs`, listed in the
   environment variable ``CALC_NN_MNIST_DIRS`` (separated by
   ``os.pathsep``). The package never looks outside these: the tests and
   the book's build pass the shared copy of the test set
   (``../shared/data/mnist``) in through this variable.

A folder that cannot be read is skipped (and named if the file is found
nowhere). A file missing everywhere is downloaded (``download=True``) from
the mirrors in :data:`MNIST_MIRRORS` in turn, within one deadline for all
of them, into ``root`` or the cache folder.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
import zlib
from pathlib import Path

import numpy as np

from calc_nn._validation import check_real

__all__ = ["IDX_DTYPES", "parse_idx", "read_idx", "load_mnist",
           "find_mnist_file", "mnist_cache_dir", "mnist_local_dirs",
           "MNIST_FILES", "MNIST_MD5", "MNIST_MIRRORS", "MNIST_DIRS_ENV"]

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


def parse_idx(data, name="<bytes>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file.

    Parameters
    ----------
    data : bytes-like
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
    TypeError
        ``data`` is not bytes-like.
    ValueError
        A bad magic number (first two bytes not zero, unknown type code),
        a header or data shorter than the sizes announce (truncated), or
        trailing bytes.

    Used in: book/digits.md, book/cnn.md
    """
    data, name = _check_parse(data, name)
    dtype, shape, start = _idx_header(data, name)
    expected = start + dtype.itemsize * math.prod(shape)  # exact ints
    if len(data) < expected:
        raise ValueError(
            f"{name}: truncated IDX data: shape {shape} of {dtype.name} "
            f"needs {expected} bytes, the file has {len(data)}")
    if len(data) > expected:
        raise ValueError(
            f"{name}: corrupt IDX file: shape {shape} of {dtype.name} "
            f"needs {expected} bytes, the file has {len(data)} "
            f"({len(data) - expected} extra)")
    arr = np.frombuffer(data[start:], dtype=dtype).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def _idx_header(data, name):
    """The entries' dtype, the shape and the header's length in bytes,
    from the magic number and the sizes (ValueError naming ``name``)."""
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
    start = 4 + 4 * ndim
    if len(data) < start:
        raise ValueError(f"{name}: truncated IDX header: {ndim} dimensions "
                         f"need {start} bytes, the file has {len(data)}")
    shape = tuple(int(s) for s in np.frombuffer(data[4:start], ">u4"))
    return IDX_DTYPES[code], shape, start


def read_idx(path) -> np.ndarray:
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
    TypeError
        ``path`` is not a str or path-like.
    OSError
        The file cannot be read (FileNotFoundError if it does not exist).
    ValueError
        Naming the file: a corrupt or truncated gzip stream, a bad magic
        number, a size that disagrees with the header.

    Used in: book/digits.md, book/cnn.md
    """
    path = _check_path(path, "path")
    return parse_idx(_decompress(path.read_bytes(), path), str(path))


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
#: The environment variable listing read-only folders that hold MNIST.
MNIST_DIRS_ENV = "CALC_NN_MNIST_DIRS"
#: A mirror silent for this many seconds is given up for the next one.
_STALL_S = 30.0


def mnist_cache_dir() -> Path:
    """The per-user folder where downloaded MNIST files are kept.

    ``$XDG_CACHE_HOME/calc_nn/mnist``, else ``~/.cache/calc_nn/mnist``.
    The folder is not created here.

    Used in: book/digits.md
    """
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return _expand(base) / "calc_nn" / "mnist"


def mnist_local_dirs() -> list[Path]:
    """The read-only folders searched after the cache: those listed in
    ``$CALC_NN_MNIST_DIRS`` (``os.pathsep``-separated), in order.

    Used in: book/digits.md
    """
    listed = os.environ.get(MNIST_DIRS_ENV, "")
    return [_expand(d) for d in listed.split(os.pathsep) if d]


def find_mnist_file(name, root=None) -> Path | None:
    """The first readable ``<name>`` or ``<name>.gz`` where
    :func:`load_mnist` looks (the module docstring's order), or None.

    Parameters
    ----------
    name : str
        A file of :data:`MNIST_FILES`, without ``.gz``.
    root : str or path-like, optional
        Look only there.

    Returns
    -------
    Path or None

    Used in: book/cnn.md, book/digits.md
    """
    name = _check_name(name)
    for path in _candidates(name, _search_dirs(root), notes=[]):
        try:
            with open(path, "rb"):
                return path
        except OSError:
            continue
    return None


def load_mnist(split="train", root=None, download=True, *, mirrors=None,
               progress=True, timeout=300.0):
    r"""The MNIST handwritten digits, as float32 images in [0, 1].

    The files are looked for where :func:`find_mnist_file` looks; a missing
    file is downloaded into ``root`` or the cache if ``download`` is true.
    Every file is checked against the MD5 of its decompressed bytes
    (:data:`MNIST_MD5`) and parsed with :func:`parse_idx` (no torchvision).
    Pixels are scaled as :math:`x = p / 255` for bytes
    :math:`p \in \{0, \dots, 255\}`.

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
    timeout : float > 0
        Seconds allowed for each file's download, all mirrors together.

    Returns
    -------
    images : ndarray of float32, shape (N, 28, 28), values in [0, 1]
    labels : ndarray of int64, shape (N,), values in 0..9

    Raises
    ------
    TypeError, ValueError
        A bad argument (named); a file (named) that is corrupt, truncated
        or fails its MD5 check.
    FileNotFoundError
        A file found nowhere and not downloaded (``download=False``, no
        network, the deadline passed); the message lists where it was
        looked for and where to put it, and the download's own error is
        its ``__cause__``.

    Used in: book/optimizers.md, book/digits.md
    """
    names, dirs, target, mirrors, timeout = _check_load(
        split, root, download, mirrors, progress, timeout)
    images, labels = (
        _load_file(name, dirs, target, download, mirrors, progress, timeout)
        for name in names)
    if images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ValueError(f"{names[0]}: images of shape {images.shape} and "
                         f"labels of shape {labels.shape} do not match")
    return (images.astype(np.float32) / np.float32(255.0),
            labels.astype(np.int64))


# ------------------------------------------------------- load_mnist's steps

def _load_file(name, dirs, target, download, mirrors, progress, timeout):
    """One MNIST file as an array: from the first readable copy, else
    downloaded (and kept in ``target`` if it can be written)."""
    notes = []
    for path in _candidates(name, dirs, notes):
        try:
            raw = path.read_bytes()
        except OSError as exc:  # unreadable: try the next folder
            notes.append(f"{path}: {type(exc).__name__}: {exc}")
            continue
        return parse_idx(_checked(raw, name, path), str(path))
    cause = None
    if download:
        try:
            raw, data = _download(name, mirrors, timeout, progress)
        except OSError as exc:
            cause = exc
        else:
            _keep(raw, name, target)
            return parse_idx(data, f"{name} (downloaded)")
    raise _not_found(name, dirs, target, mirrors, notes, cause) from cause


def _not_found(name, dirs, target, mirrors, notes, cause):
    reason = "download=False" if cause is None else \
        f"{type(cause).__name__}: {cause}"
    unreadable = f" Skipped: {'; '.join(notes)}." if notes else ""
    return FileNotFoundError(
        f"MNIST file {name} not found (looked for {name} and {name}.gz in: "
        f"{', '.join(map(str, dirs))}) and not downloaded ({reason})."
        f"{unreadable} Put {name}.gz, from "
        f"{mirrors[0] if mirrors else MNIST_MIRRORS[0]}, in {target}, or "
        f"list its folder in {MNIST_DIRS_ENV}, or pass root=...")


def _search_dirs(root) -> list[Path]:
    if root is not None:
        return [_check_path(root, "root")]
    return [mnist_cache_dir(), *mnist_local_dirs()]


def _candidates(name, dirs, notes):
    """The existing ``<dir>/<name>`` and ``<dir>/<name>.gz``, in order; a
    folder that cannot be searched is noted and skipped."""
    for d in dirs:
        for path in (Path(d) / name, Path(d) / f"{name}.gz"):
            try:
                if path.is_file():
                    yield path
            except OSError as exc:
                notes.append(f"{path}: {type(exc).__name__}: {exc}")


def _decompress(raw: bytes, where) -> bytes:
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise ValueError(f"{where}: corrupt or truncated gzip data "
                             f"({exc})") from exc
    return raw


def _checked(raw: bytes, name: str, where) -> bytes:
    """Decompressed bytes of ``raw`` after the MD5 check (ValueError)."""
    raw = _decompress(raw, where)
    got = hashlib.md5(raw).hexdigest()
    if got != MNIST_MD5[name]:
        raise ValueError(
            f"{where}: MD5 of the decompressed data is {got}, expected "
            f"{MNIST_MD5[name]} ({len(raw)} bytes): the file is corrupt or "
            "truncated; delete it so that it can be downloaded again")
    return raw


def _download(name, mirrors, timeout, progress):
    """The bytes of ``<mirror><name>.gz``, as served and decompressed, from
    the first mirror that serves them intact, all mirrors within
    ``timeout`` seconds together.

    Raises OSError listing every mirror's error, the last one its cause.
    """
    deadline = time.monotonic() + timeout
    errors, last = [], None
    for mirror in mirrors:
        url = mirror.rstrip("/") + f"/{name}.gz"
        if time.monotonic() >= deadline:
            errors.append(f"{url}: not tried, no time left")
            continue
        try:
            raw = _fetch(url, deadline, progress)
            return raw, _checked(raw, name, url)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            errors.append(f"{url}: {type(exc).__name__}: {exc}")
            last = exc
    raise OSError(f"could not download {name}.gz from any mirror:\n  "
                  + "\n  ".join(errors or ["no mirror given"])) from last


def _fetch(url, deadline, progress) -> bytes:
    """GET ``url`` into memory, giving up at ``deadline`` (a
    ``time.monotonic()`` value) whatever the server does.

    The connection, the headers and every read run in a worker thread,
    which this function stops waiting for at the deadline (a server that
    accepts and never answers, or sends a byte every few seconds); each
    wait of the worker ends within ``_STALL_S`` s, and the worker then
    stops.
    """
    result, stop = {}, threading.Event()

    def work():
        try:
            result["raw"] = _read_url(url, deadline, stop, progress)
        except BaseException as exc:  # handed to the caller
            result["error"] = exc

    worker = threading.Thread(target=work, name="calc_nn download",
                              daemon=True)
    worker.start()
    try:
        worker.join(max(deadline - time.monotonic(), 0.0))
    finally:
        stop.set()
    if worker.is_alive():
        raise TimeoutError(f"no complete answer from {url} before the "
                           "deadline (load_mnist's timeout)")
    if "error" in result:
        raise result["error"]
    return result["raw"]


def _read_url(url, deadline, stop, progress) -> bytes:
    from tqdm import tqdm  # only needed when downloading

    wait = min(_STALL_S, max(deadline - time.monotonic(), 1e-3))
    chunks = []
    with urllib.request.urlopen(url, timeout=wait) as response:
        total = int(response.headers.get("Content-Length") or 0)
        with tqdm(total=total or None, unit="B", unit_scale=True,
                  desc=url.rsplit("/", 1)[-1], disable=not progress,
                  file=sys.stderr, leave=False) as bar:
            while not stop.is_set() and (chunk := response.read1(1 << 16)):
                chunks.append(chunk)
                bar.update(len(chunk))
    if stop.is_set():
        raise TimeoutError(f"{url}: stopped at the deadline")
    return b"".join(chunks)


def _keep(raw: bytes, name: str, folder: Path) -> Path | None:
    """Write ``raw`` as ``folder/<name>.gz`` (atomically); a folder that
    cannot be written only costs a warning (the data are in memory)."""
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, folder / f"{name}.gz")
        return folder / f"{name}.gz"
    except OSError as exc:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        warnings.warn(f"MNIST: downloaded {name}.gz but could not keep it "
                      f"in {folder} ({type(exc).__name__}: {exc}); it will "
                      "be downloaded again next time", stacklevel=4)
        return None


# ------------------------------------------------------------------ checks

def _check_parse(data, name):
    try:
        data = memoryview(data).cast("B")
    except TypeError as exc:
        raise TypeError(f"data must be bytes-like (the contents of an IDX "
                        f"file), got {type(data).__name__}") from exc
    return data, str(name)


def _check_path(path, name) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a str or path-like, got "
                        f"{type(path).__name__}")
    return _expand(path)


def _expand(path) -> Path:
    """``~`` and ``~user`` expanded; a ``~user`` that names no user stays
    as written, as in a shell (``Path.expanduser`` raises RuntimeError)."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        return Path(path)


def _check_name(name):
    if name not in MNIST_MD5:
        raise ValueError(f"name must be one of {sorted(MNIST_MD5)}, got "
                         f"{name!r}")
    return name


def _check_flag(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_load(split, root, download, mirrors, progress, timeout):
    if not isinstance(split, str) or split not in MNIST_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    dirs = _search_dirs(root)
    target = dirs[0]
    _check_flag(download, "download")
    _check_flag(progress, "progress")
    mirrors = MNIST_MIRRORS if mirrors is None else mirrors
    if isinstance(mirrors, (str, bytes)) or not hasattr(mirrors, "__iter__"):
        raise TypeError(f"mirrors must be a sequence of base URLs (str), "
                        f"got {mirrors!r}")
    mirrors = tuple(mirrors)
    if not all(isinstance(m, str) for m in mirrors):
        raise TypeError(f"mirrors must be a sequence of base URLs (str), "
                        f"got {mirrors!r}")
    timeout = check_real(timeout, "timeout", low=0, low_open=True)
    return MNIST_FILES[split], dirs, target, mirrors, timeout
