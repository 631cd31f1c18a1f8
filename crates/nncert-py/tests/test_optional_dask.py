"""Dask is optional: `import nncert` never imports it, and `nncert.distributed` without it
says which extra to install."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_import_nncert_does_not_import_dask() -> None:
    done = run(
        "import sys, nncert\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dask', 'distributed'))))"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_distributed_without_dask_names_the_extra() -> None:
    # A module set to None in sys.modules cannot be imported: Dask "not installed".
    done = run(
        "import sys; sys.modules['distributed'] = None\n"
        "try:\n    import nncert.distributed\nexcept ImportError as e:\n    print(e)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "nncert.distributed needs Dask: pip install 'nncert[dask]'" in done.stdout
