#!/usr/bin/env python3
"""Peer benchmark and full-data parity check for HOG: scikit-image's feature.hog on every
MNIST (70,000) or CIFAR-10 (60,000) image, timed, and compared with the matrices written
by `nncert features`.

Usage (run with a Python that has scikit-image and numpy, e.g. the virtualenv made by
tools/hog_fixtures.py):
    nncert features --dataset mnist --data-dir DATA --out /tmp/mnist-hog
    python tools/peers/hog_skimage.py mnist DATA /tmp/mnist-hog [--processes 2]
"""
import gzip
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import skimage
from skimage.feature import hog


def mnist(data):
    def images(name):
        raw = gzip.decompress((data / "mnist" / name).read_bytes())
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    return images("train-images-idx3-ubyte.gz"), images("t10k-images-idx3-ubyte.gz"), None


def cifar(data):
    base = data / "cifar10-jpeg-fallback/cifar-10-batches-bin"
    def batch(name):
        raw = gzip.decompress((base / name).read_bytes())
        rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)
        return rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    train = np.concatenate([batch(f"data_batch_{i}.bin.gz") for i in range(1, 6)])
    return train, batch("test_batch.bin.gz"), -1


def features(args):
    images, channel_axis = args
    return np.stack([hog(im, channel_axis=channel_axis) for im in images])


def run(images, channel_axis, processes):
    if processes == 1:
        return features((images, channel_axis))
    chunks = np.array_split(images, processes * 8)
    with Pool(processes) as pool:
        return np.concatenate(pool.map(features, [(c, channel_axis) for c in chunks]))


def main():
    which, data, ours = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    processes = int(sys.argv[sys.argv.index("--processes") + 1]) if "--processes" in sys.argv else 1
    train, test, channel_axis = (mnist if which == "mnist" else cifar)(data)
    start = time.perf_counter()
    ref_train = run(train, channel_axis, processes)
    ref_test = run(test, channel_axis, processes)
    seconds = time.perf_counter() - start
    n = len(train) + len(test)
    print(f"scikit-image {skimage.__version__}: {n} {which} images in {seconds:.2f} s "
          f"with {processes} process(es) ({seconds / n * 1e6:.1f} µs per image)")
    worst = 0.0
    for name, ref in [("train", ref_train), ("test", ref_test)]:
        mine = np.load(ours / f"{name}_features.npy")
        assert mine.shape == ref.shape, (mine.shape, ref.shape)
        diff = np.abs(mine.astype(np.float64) - ref)
        worst = max(worst, float(diff.max()))
        print(f"{name}: {mine.shape}, max abs difference {diff.max():.3e}, "
              f"values differing by more than 1e-6: {(diff > 1e-6).sum()}")
    print(f"max abs difference over both splits: {worst:.3e}")
    sys.exit(0 if worst <= 1e-5 else 1)


if __name__ == "__main__":
    main()
