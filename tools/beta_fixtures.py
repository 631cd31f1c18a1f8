#!/usr/bin/env python3
"""Reference table for nncert's beta quantiles (Clopper–Pearson bounds of the bagging
baseline), computed with SciPy in a throwaway virtualenv.

Usage (from the repository root): python3 tools/beta_fixtures.py [--venv /tmp/nncert-scipy-venv]
Writes crates/nncert/tests/fixtures/beta/quantiles.csv: p,a,b,quantile (17 significant
digits) and the SciPy version in the first comment line.
"""
import os
import subprocess
import sys
import venv
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "crates/nncert/tests/fixtures/beta/quantiles.csv"


def main():
    if os.environ.get("NNCERT_BETA_INNER") != "1":
        path = Path(sys.argv[sys.argv.index("--venv") + 1] if "--venv" in sys.argv else "/tmp/nncert-scipy-venv")
        python = path / "bin/python"
        if not python.exists():
            venv.create(path, with_pip=True)
            subprocess.check_call([str(python), "-m", "pip", "install", "-q", "scipy"])
        sys.exit(subprocess.call([str(python), __file__, *sys.argv[1:]],
                                 env=dict(os.environ, NNCERT_BETA_INNER="1")))
    import scipy
    from scipy.stats import beta

    rows = []
    # Clopper–Pearson shapes for N = 1000 models: (k, N − k + 1) and (k + 1, N − k), at the
    # Bonferroni levels used by nncert (α = 0.001 over 10 labels and up to 10,000 inputs).
    ps = [1e-10, 1e-8, 1e-6, 1e-5, 1e-4, 0.001, 0.01, 0.05, 0.5, 0.95, 0.99, 1 - 1e-4,
          1 - 1e-6, 1 - 1e-8, 1 - 1e-10]
    for n in [1, 2, 10, 100, 1000]:
        for k in sorted({0, 1, 2, n // 3, n // 2, n - 1, n} - {-1}):
            for p in ps:
                for a, b in [(k, n - k + 1), (k + 1, n - k)]:
                    if a > 0 and b > 0:
                        rows.append((p, a, b, beta.ppf(p, a, b)))
    for a, b in [(0.5, 0.5), (2.5, 7.25), (300, 700), (999, 2), (1, 1000)]:
        for p in ps:
            rows.append((p, a, b, beta.ppf(p, a, b)))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as f:
        f.write(f"# scipy {scipy.__version__}: scipy.stats.beta.ppf(p, a, b)\n")
        f.write("p,a,b,quantile\n")
        for p, a, b, q in rows:
            f.write(f"{p!r},{a!r},{b!r},{float(q)!r}\n")
    print(f"{len(rows)} rows with scipy {scipy.__version__} into {OUT}")


if __name__ == "__main__":
    main()
