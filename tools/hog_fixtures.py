#!/usr/bin/env python3
"""Generates the HOG parity fixtures in crates/nncert/tests/fixtures/hog/ with the current
scikit-image from PyPI, installed into a throwaway virtualenv.

Usage (from the repository root):
    python3 tools/hog_fixtures.py --data DATA [--venv /tmp/nncert-skimage-venv]

Writes, for every case, `<name>_image.npy` (uint8, (H, W) or (H, W, 3)) or a shared image
stack, `<name>_hog.npy` (float64, scikit-image's output) and `cases.json` describing the
parameters, plus the scikit-image and NumPy versions used. The Rust test
`tests/hog_parity.rs` reads them.
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates/nncert/tests/fixtures/hog"


def ensure_venv(path):
    """Re-runs this script inside a virtualenv that has scikit-image."""
    if os.environ.get("NNCERT_HOG_FIXTURES_INNER") == "1":
        return
    path = Path(path)
    python = path / "bin/python"
    if not python.exists():
        venv.create(path, with_pip=True)
        subprocess.check_call([str(python), "-m", "pip", "install", "-q", "scikit-image", "numpy"])
    env = dict(os.environ, NNCERT_HOG_FIXTURES_INNER="1")
    sys.exit(subprocess.call([str(python), __file__, *sys.argv[1:]], env=env))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True, help="data directory (as `nncert fetch` lays it out)")
    ap.add_argument("--venv", default="/tmp/nncert-skimage-venv")
    args = ap.parse_args()
    ensure_venv(args.venv)

    import numpy as np
    import skimage
    from skimage.feature import hog

    data = Path(args.data)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.npy"):
        old.unlink()
    rng = np.random.default_rng(20261130)
    cases = []

    def add(name, image, **params):
        p = dict(orientations=9, pixels_per_cell=(8, 8), cells_per_block=(3, 3),
                 block_norm="L2-Hys", transform_sqrt=False)
        p.update(params)
        images = image if image.ndim == 4 or (image.ndim == 3 and p.pop("stack", False)) else image[None]
        colour = images.ndim == 4
        out = np.stack([
            hog(im, orientations=p["orientations"], pixels_per_cell=p["pixels_per_cell"],
                cells_per_block=p["cells_per_block"], block_norm=p["block_norm"],
                transform_sqrt=p["transform_sqrt"], feature_vector=True,
                channel_axis=-1 if colour else None)
            for im in images
        ]).astype(np.float64)
        np.save(OUT / f"{name}_image.npy", np.ascontiguousarray(images.astype(np.uint8)))
        np.save(OUT / f"{name}_hog.npy", out)
        cases.append(dict(name=name, images=f"{name}_image.npy", expected=f"{name}_hog.npy",
                          colour=colour, orientations=p["orientations"],
                          pixels_per_cell=list(p["pixels_per_cell"]),
                          cells_per_block=list(p["cells_per_block"]),
                          block_norm=p["block_norm"], transform_sqrt=p["transform_sqrt"]))

    # Real MNIST test images 0..49 and CIFAR-10 test images 0..49 (lossless subset).
    raw = gzip.decompress((data / "mnist/t10k-images-idx3-ubyte.gz").read_bytes())
    mnist = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:50]
    add("mnist50", mnist, stack=True)
    raw = gzip.decompress((data / "cifar10-lossless-subset/test_first1000.bin.gz").read_bytes())
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3073)[:50]
    cifar = rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # planar → HWC
    add("cifar50", cifar)

    # Every block norm, on real images, grey and colour, with and without transform_sqrt.
    for norm in ["L1", "L1-sqrt", "L2", "L2-Hys"]:
        tag = norm.replace("-", "_")
        add(f"mnist_{tag}", mnist[:5], stack=True, block_norm=norm)
        add(f"cifar_{tag}", cifar[:5], block_norm=norm)
        add(f"mnist_{tag}_tsqrt", mnist[5:8], stack=True, block_norm=norm, transform_sqrt=True)
        add(f"cifar_{tag}_tsqrt", cifar[5:8], block_norm=norm, transform_sqrt=True)

    # Other cell, block and orientation settings.
    add("mnist_ppc4_cpb2_o12", mnist[:4], stack=True, pixels_per_cell=(4, 4),
        cells_per_block=(2, 2), orientations=12)
    add("mnist_ppc5x7_cpb1x3_o6", mnist[:4], stack=True, pixels_per_cell=(5, 7),
        cells_per_block=(1, 3), orientations=6)
    add("cifar_ppc6_cpb2_o8", cifar[:4], pixels_per_cell=(6, 6), cells_per_block=(2, 2),
        orientations=8)

    # Random images of odd sizes (only whole cells count).
    add("random_gray_29x31", rng.integers(0, 256, (29, 31), dtype=np.uint8))
    add("random_gray_45x37_ppc7", rng.integers(0, 256, (45, 37), dtype=np.uint8),
        pixels_per_cell=(7, 6), cells_per_block=(2, 2))
    add("random_colour_33x41", rng.integers(0, 256, (33, 41, 3), dtype=np.uint8))
    add("random_colour_19x27_ppc4", rng.integers(0, 256, (19, 27, 3), dtype=np.uint8),
        pixels_per_cell=(4, 4), cells_per_block=(2, 3), block_norm="L1")

    # Extreme contents.
    add("zeros", np.zeros((28, 28), dtype=np.uint8))
    add("full255", np.full((28, 28), 255, dtype=np.uint8))
    add("zeros_colour", np.zeros((32, 32, 3), dtype=np.uint8))
    one = np.zeros((28, 28), dtype=np.uint8)
    one[13, 14] = 255
    add("single_pixel", one)
    for norm in ["L1", "L1-sqrt", "L2"]:
        add(f"single_pixel_{norm.replace('-', '_')}", one, block_norm=norm)
    edge = np.zeros((28, 28), dtype=np.uint8)
    edge[:, 14:] = 255
    add("vertical_edge", edge)
    add("horizontal_edge", np.ascontiguousarray(edge.T))
    # Colour: equal gradient magnitudes in every channel (argmax takes the first).
    tie = np.zeros((32, 32, 3), dtype=np.uint8)
    tie[:, 16:, 0] = 200
    tie[16:, :, 1] = 200
    tie[8:24, 8:24, 2] = 200
    add("colour_channel_ties", tie)

    # Regression: two channels whose gradients have equal squared magnitudes but hypot
    # values one ulp apart (e.g. (45, 43) and (57, 25)); argmax must follow hypot.
    groups = {}
    for a in range(256):
        for b in range(a + 1):
            groups.setdefault(a * a + b * b, []).append((a, b))
    pairs = []
    for members in groups.values():
        hyp = [np.hypot(float(b), float(a)) for a, b in members]
        if len(set(hyp)) > 1:
            order = np.argsort(hyp, kind="stable")
            pairs.append((members[order[0]], members[order[-1]]))
    hyp_img = np.full((32, 32, 3), 0, dtype=np.uint8)
    for n, (low, high) in enumerate(pairs[:49]):
        r, c = 2 + 4 * (n // 7), 2 + 4 * (n % 7)
        for ch, (gr, gc) in ((0, low), (1, high)):
            hyp_img[r + 1, c, ch] = gr
            hyp_img[r, c + 1, ch] = gc
    add("colour_hypot_ties", hyp_img)

    # Stripes at every orientation bin boundary (0°, 20°, …, 180°) and just beside it.
    ys, xs = np.mgrid[0:32, 0:32]
    stripes = []
    for deg in range(0, 181, 20):
        for delta in (-0.5, 0.0, 0.5):
            t = np.deg2rad(deg + delta)
            v = np.cos(t) * xs + np.sin(t) * ys
            stripes.append(np.where((v % 6) < 3, 255, 0).astype(np.uint8))
    add("stripes", np.stack(stripes), stack=True)
    # Smooth ramps give non-axis gradients of every size.
    ramps = [np.clip(a * xs + b * ys, 0, 255).astype(np.uint8)
             for a in (1, 3, 7) for b in (-5, 0, 2, 9)]
    add("ramps", np.stack(ramps), stack=True)

    manifest = dict(scikit_image=skimage.__version__, numpy=np.__version__,
                    generator="tools/hog_fixtures.py", cases=cases)
    (OUT / "cases.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(cases)} cases with scikit-image {skimage.__version__} into {OUT}")


if __name__ == "__main__":
    main()
