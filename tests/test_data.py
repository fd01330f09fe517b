"""calc_nn.data.read_idx on generated IDX files and on the real MNIST test
set."""

import gzip
import hashlib
import os
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
