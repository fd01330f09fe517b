"""calc_nn.data.read_idx on generated IDX files and on the real MNIST test
set."""

import gzip
import hashlib
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

MNIST = Path(__file__).resolve().parents[1].parent / "shared" / "data" / \
    "mnist"


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
    if not (MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"MNIST test set not found in {MNIST}")
        pytest.skip(f"MNIST test set not found in {MNIST}")
    return MNIST


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
import threading  # noqa: E402

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
    monkeypatch.setenv("CALC_NN_DATA", str(tmp_path / "cache"))
    monkeypatch.setenv("CALC_NN_MNIST_DIRS", "")
    monkeypatch.setattr(data, "_SHARED_MNIST", tmp_path / "no-shared")
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
        cache = isolated / "cache" / "mnist"
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
    assert not list((isolated / "cache" / "mnist").iterdir())


def test_offline_nothing_cached_says_where_to_put_files(isolated):
    cache = isolated / "cache" / "mnist"
    with pytest.raises(FileNotFoundError, match=(
            rf"train-images-idx3-ubyte not found .*download=False.*Put "
            rf"train-images-idx3-ubyte\.gz, from https://\S+, in "
            rf"{re.escape(str(cache))}, or set CALC_NN_DATA")):
        load_mnist("train", download=False)


def test_no_network_is_a_clear_error(isolated):
    # a loopback port with nothing listening: connection refused at once
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(FileNotFoundError, match=r"could not download "
                       r"t10k-images-idx3-ubyte\.gz from any mirror"):
        load_mnist("test", mirrors=[f"http://127.0.0.1:{port}/"],
                   progress=False)


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
    monkeypatch.setenv("CALC_NN_DATA", str(tmp_path / "d"))
    assert data.mnist_cache_dir() == tmp_path / "d" / "mnist"
    monkeypatch.delenv("CALC_NN_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert data.mnist_cache_dir() == tmp_path / "x" / "calc_nn" / "mnist"
    monkeypatch.setenv("CALC_NN_MNIST_DIRS",
                       os.pathsep.join([str(tmp_path / "a"), "",
                                        str(tmp_path / "b")]))
    dirs = data.mnist_local_dirs()
    assert dirs[:2] == [tmp_path / "a", tmp_path / "b"]
    assert dirs[-1].parts[-3:] == ("shared", "data", "mnist")


def test_load_mnist_real_test_set(mnist_dir, monkeypatch, tmp_path):
    # found through the documented local folders, nothing downloaded
    monkeypatch.setenv("CALC_NN_DATA", str(tmp_path))
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
