"""calc_nn.data: read_idx on generated IDX files and on the real MNIST test
set; load_mnist's one lookup, its downloads from local servers (served,
stalled, trickled), and its errors."""

import gzip
import hashlib
import inspect
import os
import re
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from calc_nn.data import IDX_DTYPES, parse_idx, read_idx


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim)
    header += struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(IDX_DTYPES[code]).tobytes()


@settings(max_examples=60, deadline=None)
@given(code=st.sampled_from(sorted(IDX_DTYPES)), data=st.data(),
       compressed=st.booleans())
def test_roundtrip_every_type(tmp_path_factory, code, data, compressed):
    dtype = IDX_DTYPES[code].newbyteorder("=")
    arr = data.draw(hnp.arrays(dtype, hnp.array_shapes(
        min_dims=1, max_dims=4, min_side=0, max_side=5)))
    raw = idx_bytes(arr, code)
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    got = read_idx(path)
    assert got.dtype == dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)
    got[...] = 0  # writable, not a view of a read-only buffer


def test_known_bytes():
    raw = bytes([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 255])
    np.testing.assert_array_equal(parse_idx(raw),
                                  [[1, 2, 3], [4, 5, 255]])
    raw = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2, 0x01, 0x00, 0xFF, 0xFE])
    np.testing.assert_array_equal(parse_idx(raw), [256, -2])


@pytest.mark.parametrize("raw,message", [
    (b"\0\0", r"bad\.idx: not an IDX file: 2 bytes"),
    (b"\x01\0\x08\x01" + b"\0" * 8, r"bad\.idx: not an IDX file: magic "
     r"number 01 00 08 01"),
    (b"\0\0\x07\x01" + b"\0" * 8, r"magic number 00 00 07 01"),
    (b"\0\0\x08\x03\0\0\0\x02", r"bad\.idx: truncated IDX header: 3 "
     r"dimensions need 16 bytes, the file has 8"),
    (b"\0\0\x08\x01\0\0\0\x05abc", r"bad\.idx: truncated IDX data: shape "
     r"\(5,\) of uint8 needs 13 bytes, the file has 11"),
    (b"\0\0\x0c\x01\0\0\0\x01abcdXY", r"bad\.idx: corrupt IDX file: .*2 "
     r"extra"),
])
def test_bad_files_name_the_file(tmp_path, raw, message):
    path = tmp_path / "bad.idx"
    path.write_bytes(raw)
    with pytest.raises(ValueError, match=message):
        read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path):
    arr = np.arange(1000, dtype=np.uint8)
    packed = gzip.compress(idx_bytes(arr, 0x08))
    path = tmp_path / "cut.idx.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(ValueError, match=r"cut\.idx\.gz: corrupt or "
                       r"truncated gzip"):
        read_idx(path)
    # a gzip stream that is complete but holds a truncated IDX file
    path.write_bytes(gzip.compress(idx_bytes(arr, 0x08)[:-10]))
    with pytest.raises(ValueError, match=r"cut\.idx\.gz: truncated IDX "
                       "data"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.idx")


@pytest.fixture(scope="module")
def mnist_dir():
    """The shared MNIST test set, passed in by conftest.py through
    CALC_NN_MNIST_DIRS (calc_nn.data never looks for it itself)."""
    from calc_nn.data import mnist_local_dirs

    for folder in mnist_local_dirs():
        if (folder / "t10k-images-idx3-ubyte.gz").is_file():
            return folder
    message = f"MNIST test set not found in {mnist_local_dirs()}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def test_real_mnist_test_set(mnist_dir):
    images = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    # the decompressed files' MD5s from shared/data/mnist/README.md
    header = struct.pack(">BBBBIII", 0, 0, 8, 3, 10000, 28, 28)
    assert hashlib.md5(header + images.tobytes()).hexdigest() == \
        "2646ac647ad5339dbf082846283269ea"
    np.testing.assert_array_equal(
        np.bincount(labels, minlength=10),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    assert labels[0] == 7 and images.max() == 255


# ------------------------------------------------------------ load_mnist

import http.server  # noqa: E402
import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.error  # noqa: E402

from calc_nn import data  # noqa: E402
from calc_nn.data import load_mnist  # noqa: E402


def _fake_split(n, seed):
    """Raw (decompressed) IDX bytes of n random images and labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    return images, labels, idx_bytes(images, 0x08), idx_bytes(labels, 0x08)


@pytest.fixture
def fake_mnist(monkeypatch):
    """Generated IDX files for both splits, registered with their MD5s."""
    files = {}
    arrays = {}
    for split, n, seed in (("train", 12, 1), ("test", 7, 2)):
        images, labels, raw_i, raw_l = _fake_split(n, seed)
        name_i, name_l = data.MNIST_FILES[split]
        files[name_i], files[name_l] = raw_i, raw_l
        arrays[split] = images, labels
    monkeypatch.setattr(data, "MNIST_MD5", {
        name: hashlib.md5(raw).hexdigest() for name, raw in files.items()})
    return files, arrays


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No real cache, no shared folder: only what a test puts there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", "")
    return tmp_path


class _Server:
    """An HTTP server on 127.0.0.1 serving ``files`` (name -> bytes) and
    counting the requests."""

    def __init__(self, files):
        self.files, self.requests = files, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                body = outer.files.get(self.path.rsplit("/", 1)[-1])
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/mnist/"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _check_arrays(images, labels, expected):
    want_images, want_labels = expected
    assert images.dtype == np.float32 and labels.dtype == np.int64
    assert images.shape == want_images.shape
    np.testing.assert_array_equal(images * 255, want_images)
    np.testing.assert_array_equal(labels, want_labels)


def test_download_from_local_server_then_cache(fake_mnist, isolated):
    files, arrays = fake_mnist
    served = {f"{name}.gz": gzip.compress(raw) for name, raw in files.items()}
    with _Server(served) as server:
        images, labels = load_mnist("train", mirrors=[server.url],
                                    progress=False)
        _check_arrays(images, labels, arrays["train"])
        assert sorted(server.requests) == [
            "/mnist/train-images-idx3-ubyte.gz",
            "/mnist/train-labels-idx1-ubyte.gz"]
        cache = isolated / "cache" / "calc_nn" / "mnist"
        assert (cache / "train-images-idx3-ubyte.gz").is_file()
        # second call: from the cache, no request
        load_mnist("train", mirrors=[server.url], progress=False)
        assert len(server.requests) == 2
    # and with the server gone and download off
    _check_arrays(*load_mnist("train", download=False), arrays["train"])
    assert not list(cache.glob(".*"))  # no temporary files left


def test_download_tries_the_next_mirror_after_a_bad_md5(fake_mnist,
                                                         isolated):
    files, arrays = fake_mnist
    good = {f"{name}.gz": gzip.compress(raw) for name, raw in files.items()}
    # the first mirror serves a corrupted images file (one byte changed)
    bad = dict(good)
    name_i = "t10k-images-idx3-ubyte"
    raw = bytearray(files[name_i])
    raw[-1] ^= 0xFF
    bad[f"{name_i}.gz"] = gzip.compress(bytes(raw))
    with _Server(bad) as first, _Server(good) as second:
        images, labels = load_mnist("test", root=isolated / "root",
                                    mirrors=[first.url, second.url],
                                    progress=True)
        _check_arrays(images, labels, arrays["test"])
        assert len(first.requests) == 2 and second.requests == [
            f"/mnist/{name_i}.gz"]
    assert (isolated / "root" / f"{name_i}.gz").is_file()


def test_md5_mismatch_everywhere_is_an_error(fake_mnist, isolated):
    files, _ = fake_mnist
    served = {f"{name}.gz": gzip.compress(raw[:-5])
              for name, raw in files.items()}
    with _Server(served) as server:
        with pytest.raises(FileNotFoundError, match=r"(?s)t10k-images-idx3"
                           r"-ubyte not found.*MD5 of the decompressed data"
                           r".*Put t10k-images-idx3-ubyte\.gz"):
            load_mnist("test", mirrors=[server.url], progress=False)
    assert not (isolated / "cache" / "calc_nn" / "mnist").exists()


def test_offline_nothing_cached_says_where_to_put_files(isolated):
    cache = isolated / "cache" / "calc_nn" / "mnist"
    with pytest.raises(FileNotFoundError, match=(
            rf"train-images-idx3-ubyte not found .*download=False.*Put "
            rf"train-images-idx3-ubyte\.gz, from https://\S+, in "
            rf"{re.escape(str(cache))}, or list its folder in "
            "CALC_NN_MNIST_DIRS")):
        load_mnist("train", download=False)


def test_no_network_is_a_clear_error(isolated):
    # a loopback port with nothing listening: connection refused at once
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FileNotFoundError, match=r"could not download "
                       r"t10k-images-idx3-ubyte\.gz from any mirror") as info:
        load_mnist("test", mirrors=[f"http://127.0.0.1:{port}/"],
                   progress=False)
    # the download's own error is kept as the cause, with its type
    assert isinstance(info.value.__cause__, OSError)
    assert isinstance(info.value.__cause__.__cause__,
                      urllib.error.URLError)
    assert "URLError" in str(info.value)


def test_corrupted_local_copy_names_the_file(fake_mnist, isolated):
    files, arrays = fake_mnist
    root = isolated / "root"
    root.mkdir()
    for name, raw in files.items():
        (root / name).write_bytes(raw)  # uncompressed copies work too
    _check_arrays(*load_mnist("test", root=root, download=False),
                  arrays["test"])
    labels = root / "t10k-labels-idx1-ubyte"
    labels.write_bytes(files["t10k-labels-idx1-ubyte"][:-1])
    with pytest.raises(ValueError, match=rf"{re.escape(str(labels))}: MD5 "
                       "of the decompressed data is [0-9a-f]{32}, expected"):
        load_mnist("test", root=root, download=False)
    labels.unlink()
    gz = root / "t10k-labels-idx1-ubyte.gz"
    gz.write_bytes(gzip.compress(files["t10k-labels-idx1-ubyte"])[:20])
    with pytest.raises(ValueError, match=rf"{re.escape(str(gz))}: corrupt "
                       "or truncated gzip"):
        load_mnist("test", root=root, download=False)


@pytest.mark.parametrize("split", ["", "val", "Train", None])
def test_bad_split(split):
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        load_mnist(split, download=False)


def test_cache_dir_rules(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert data.mnist_cache_dir() == tmp_path / "x" / "calc_nn" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.mnist_cache_dir() == (tmp_path / "home" / ".cache" /
                                      "calc_nn" / "mnist")
    monkeypatch.setenv("CALC_NN_MNIST_DIRS",
                       os.pathsep.join([str(tmp_path / "a"), "",
                                        str(tmp_path / "b")]))
    assert data.mnist_local_dirs() == [tmp_path / "a", tmp_path / "b"]
    monkeypatch.delenv("CALC_NN_MNIST_DIRS")
    assert data.mnist_local_dirs() == []


def test_no_path_outside_the_package(isolated, mnist_dir):
    """The shared copy exists beside the repository, but without the
    variable nothing finds it: the package never walks up to it."""
    assert (mnist_dir / "t10k-images-idx3-ubyte.gz").is_file()
    assert data.find_mnist_file("t10k-images-idx3-ubyte") is None
    with pytest.raises(FileNotFoundError, match="not found"):
        load_mnist("test", download=False)
    from calc_nn.plots import cnn_figures

    assert cnn_figures.mnist_dir() is None
    assert set(cnn_figures.explorer_images()) == {"square", "ring",
                                                   "diagonals"}


def test_the_explorer_uses_the_one_lookup(isolated, monkeypatch,
                                          fake_mnist):
    """calc_nn.plots.cnn_figures finds the test images where load_mnist
    does, compressed or not."""
    from calc_nn.plots import cnn_figures

    files, arrays = fake_mnist
    shared = isolated / "shared"
    shared.mkdir()
    (shared / "t10k-images-idx3-ubyte").write_bytes(
        files["t10k-images-idx3-ubyte"])
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", str(shared))
    assert cnn_figures.mnist_dir() == shared
    images = cnn_figures.explorer_images()
    np.testing.assert_array_equal(images["digit 7"], arrays["test"][0][0])
    np.testing.assert_array_equal(images["digit 2"], arrays["test"][0][1])


def test_load_mnist_real_test_set(mnist_dir, monkeypatch, tmp_path):
    # found through the documented local folders, nothing downloaded
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", str(mnist_dir))

    def no_network(*args, **kwargs):
        raise AssertionError("load_mnist tried the network")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.float32
    assert labels.shape == (10000,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(
        np.bincount(labels, minlength=10),
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    raw = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(images[:50], raw[:50] / np.float32(255))
    assert not list(tmp_path.rglob("*"))  # nothing written to the cache
    # and via root, as a reader would point at the folder
    _, labels2 = load_mnist("test", root=mnist_dir, download=False)
    np.testing.assert_array_equal(labels2, labels)


def test_real_test_set_corrupted_copy_is_rejected(mnist_dir, tmp_path):
    raw = gzip.decompress((mnist_dir / "t10k-images-idx3-ubyte.gz")
                          .read_bytes())
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(
        (mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes())
    bad = bytearray(raw)
    bad[5000] ^= 1  # one pixel bit
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte: MD5 .* "
                       r"expected 2646ac647ad5339dbf082846283269ea"):
        load_mnist("test", root=tmp_path, download=False)


# ----------------------------------------------- deadlines (issue 12, 10)

class _RawServer:
    """A TCP server on 127.0.0.1 that accepts connections and hands each
    one to ``behave(conn, stop)``; started and stopped by the test (stop
    releases every connection at once)."""

    def __init__(self, behave):
        self.behave, self.stop = behave, threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/m/"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.connections = 0

    def _accept(self):
        self.listener.settimeout(0.05)  # to see ``stop`` soon
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by __exit__
                return
            conn.settimeout(None)
            self.connections += 1
            worker = threading.Thread(target=self._serve, args=(conn,),
                                      daemon=True)
            self.threads.append(worker)
            worker.start()

    def _serve(self, conn):
        with conn:
            try:
                self.behave(conn, self.stop)
            except OSError:  # the client gave up
                pass

    def __enter__(self):
        self.threads[0].start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(5)


def _silent(conn, stop):
    """Accept, read the request, never answer."""
    stop.wait()


def _trickle_body(conn, stop):
    """Headers at once, then one byte of the body every 0.1 s."""
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n")
    while not stop.wait(0.1):
        conn.sendall(b"x")


def _trickle_headers(conn, stop):
    """The status line and headers one byte every 0.1 s, forever."""
    conn.recv(65536)
    header = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000
    for byte in header:
        if stop.wait(0.1):
            return
        conn.sendall(bytes([byte]))


@pytest.mark.parametrize("behave", [_silent, _trickle_body,
                                    _trickle_headers])
def test_a_download_has_one_deadline_for_all_mirrors(isolated, behave):
    """Two mirrors that stall (or trickle) cost at most ``timeout`` in all:
    not 30 s per mirror, not forever."""
    with _RawServer(behave) as first, _RawServer(behave) as second:
        start = time.monotonic()
        with pytest.raises(FileNotFoundError, match=(
                r"(?s)t10k-images-idx3-ubyte not found .*TimeoutError")) \
                as info:
            load_mnist("test", mirrors=[first.url, second.url],
                       progress=False, timeout=1.0)
        elapsed = time.monotonic() - start
        assert first.connections == 1
    assert elapsed < 8, f"the deadline of 1 s took {elapsed:.1f} s"
    assert isinstance(info.value.__cause__.__cause__, TimeoutError)
    # the servers are gone: no download thread is left behind
    for thread in threading.enumerate():
        if thread.name == "calc_nn download":
            thread.join(5)
            assert not thread.is_alive()


def test_the_deadline_is_a_checked_parameter(isolated):
    for bad in (0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="timeout must be a finite "
                           "number > 0"):
            load_mnist("test", timeout=bad)
    with pytest.raises(TypeError, match="timeout must be a real number"):
        load_mnist("test", timeout="10")
    assert inspect.signature(load_mnist).parameters["timeout"].default > 0


# --------------------------------- folders that cannot be used (item 10)

def _deny(monkeypatch, folder):
    """Make every file access under ``folder`` fail as an unreadable folder
    does for a normal user (the tests may run as root, who reads all)."""
    real_is_file, real_read = Path.is_file, Path.read_bytes

    def guard(path):
        if folder in path.parents:
            raise PermissionError(13, "Permission denied", str(path))

    def is_file(path):
        guard(path)
        return real_is_file(path)

    def read_bytes(path):
        guard(path)
        return real_read(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)


def _put(folder, files, split="test"):
    folder.mkdir(parents=True, exist_ok=True)
    for name in data.MNIST_FILES[split]:
        (folder / f"{name}.gz").write_bytes(gzip.compress(files[name]))


def test_an_unreadable_cache_falls_back_to_the_shared_copy(
        isolated, monkeypatch, fake_mnist):
    files, arrays = fake_mnist
    cache = isolated / "cache" / "calc_nn" / "mnist"
    _put(cache, files)
    _put(isolated / "shared", files)
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", str(isolated / "shared"))
    _deny(monkeypatch, cache)
    _check_arrays(*load_mnist("test", download=False), arrays["test"])
    assert data.find_mnist_file("t10k-labels-idx1-ubyte") == (
        isolated / "shared" / "t10k-labels-idx1-ubyte.gz")


def test_an_unreadable_cache_is_named_when_nothing_else_has_the_file(
        isolated, monkeypatch):
    cache = isolated / "cache" / "calc_nn" / "mnist"
    cache.mkdir(parents=True)
    _deny(monkeypatch, cache)
    with pytest.raises(FileNotFoundError, match=r"(?s)not found.*Skipped: "
                       r".*t10k-images-idx3-ubyte: PermissionError"):
        load_mnist("test", download=False)


def test_an_unreadable_file_falls_back_too(isolated, monkeypatch,
                                           fake_mnist):
    files, arrays = fake_mnist
    cache = isolated / "cache" / "calc_nn" / "mnist"
    _put(cache, files)
    _put(isolated / "shared", files)
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", str(isolated / "shared"))
    real_read = Path.read_bytes

    def read_bytes(path):  # the file is there, but cannot be read
        if path.parent == cache:
            raise PermissionError(13, "Permission denied", str(path))
        return real_read(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    _check_arrays(*load_mnist("test", download=False), arrays["test"])


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="root reads every folder; the monkeypatched "
                    "tests above cover this case")
def test_a_really_unreadable_cache(isolated, monkeypatch, fake_mnist):
    files, arrays = fake_mnist
    cache = isolated / "cache" / "calc_nn" / "mnist"
    _put(cache, files)
    _put(isolated / "shared", files)
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", str(isolated / "shared"))
    cache.chmod(0)
    try:
        _check_arrays(*load_mnist("test", download=False), arrays["test"])
    finally:
        cache.chmod(0o755)


def test_a_cache_that_cannot_be_written_still_gives_the_data(
        isolated, monkeypatch, fake_mnist):
    """The download is kept in memory; the cache failure is a warning."""
    files, arrays = fake_mnist
    blocker = isolated / "cache"
    blocker.write_text("a file where the cache folder should be")
    served = {f"{name}.gz": gzip.compress(raw) for name, raw in files.items()}
    with _Server(served) as server:
        with pytest.warns(UserWarning, match=r"could not keep it in .*"
                          r"NotADirectoryError"):
            images, labels = load_mnist("test", mirrors=[server.url],
                                        progress=False)
    _check_arrays(images, labels, arrays["test"])


# ------------------------------------------------------- named errors

@pytest.mark.parametrize("kwargs,error,pattern", [
    (dict(download="no"), TypeError, "download must be True or False"),
    (dict(progress=1), TypeError, "progress must be True or False"),
    (dict(mirrors="http://example.org/"), TypeError,
     "mirrors must be a sequence of base URLs"),
    (dict(mirrors=[1, 2]), TypeError, "mirrors must be a sequence"),
    (dict(mirrors=5), TypeError, "mirrors must be a sequence"),
    (dict(root=5), TypeError, "root must be a str or path-like"),
    (dict(split=0), ValueError, "split must be 'train' or 'test'"),
])
def test_load_mnist_bad_arguments(isolated, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        load_mnist(**({"split": "test"} | kwargs))


def test_idx_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="data must be bytes-like"):
        parse_idx(5)  # bytes(5) would be five zero bytes
    with pytest.raises(TypeError, match="data must be bytes-like"):
        parse_idx("00 00 08 01")
    with pytest.raises(TypeError, match="path must be a str or path-like"):
        read_idx(3)
    # sizes whose product overflows int64: truncated, not a wrong number
    raw = bytes([0, 0, 8, 4]) + b"\xff\xff\xff\xff" * 4
    with pytest.raises(ValueError, match="truncated IDX data: shape "
                       r"\(4294967295, 4294967295, 4294967295, 4294967295\)"
                       r" of uint8 needs 3402823\d+ bytes"):
        parse_idx(raw)
    np.testing.assert_array_equal(
        parse_idx(np.array([0, 0, 8, 1, 0, 0, 0, 1, 9], np.uint8)), [9])
    with pytest.raises(ValueError, match="name must be one of"):
        data.find_mnist_file("t10k-images-idx3-ubyte.gz")
