#!/usr/bin/env python3
"""Writes the embedded MNIST subset (the first 6,000 training and 1,000 test images of the
canonical files) into crates/nncert/data/mnist-subset/, as IDX files gzipped
deterministically (mtime 0, no file name), and prints their checksums.

Usage: python3 tools/make_embedded_mnist.py DATA/mnist
Needs only the Python standard library.
"""
import gzip
import hashlib
import io
import struct
import sys
from pathlib import Path

N_TRAIN, N_TEST = 6000, 1000
OUT = Path(__file__).resolve().parent.parent / "crates/nncert/data/mnist-subset"


def read(path):
    return gzip.decompress(path.read_bytes())


def subset_images(raw, n):
    magic, count, rows, cols = struct.unpack(">IIII", raw[:16])
    assert magic == 0x803 and count >= n
    return struct.pack(">IIII", magic, n, rows, cols) + raw[16 : 16 + n * rows * cols]


def subset_labels(raw, n):
    magic, count = struct.unpack(">II", raw[:8])
    assert magic == 0x801 and count >= n
    return struct.pack(">II", magic, n) + raw[8 : 8 + n]


def write(name, data):
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", compresslevel=9, fileobj=buf, mtime=0) as f:
        f.write(data)
    (OUT / name).write_bytes(buf.getvalue())
    print(f"{name}: {len(buf.getvalue())} bytes gzip, "
          f"sha256 of content {hashlib.sha256(data).hexdigest()}")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_embedded_mnist.py DATA/mnist")
    src = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    write("train-images-idx3-ubyte.gz", subset_images(read(src / "train-images-idx3-ubyte.gz"), N_TRAIN))
    write("train-labels-idx1-ubyte.gz", subset_labels(read(src / "train-labels-idx1-ubyte.gz"), N_TRAIN))
    write("t10k-images-idx3-ubyte.gz", subset_images(read(src / "t10k-images-idx3-ubyte.gz"), N_TEST))
    write("t10k-labels-idx1-ubyte.gz", subset_labels(read(src / "t10k-labels-idx1-ubyte.gz"), N_TEST))


if __name__ == "__main__":
    main()
