"""Build the nerve model's kernels ahead of time, into an extension module of this package.

    python -c "from edge.model.aot import build; build()"     (scripts/setup.sh runs it)

The live agent then runs compiled kernels without loading LLVM, which numba
needs even to load its cached JIT code: that library alone is about 100 MB of
resident memory on a small machine. The build records a hash of the kernels'
source; `backend` uses the build only while that hash matches, so an edited
kernel can never run stale compiled code (it falls back to the JIT).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODULE = "_kernels_aot"
HASH_FILE = HERE / f"{MODULE}.sha256"


def source_hash() -> str:
    """What the compiled kernels are built from: the kernels and the parameter layout."""
    digest = hashlib.sha256()
    for name in ("kernels.py", "params.py"):
        digest.update((HERE / name).read_bytes())
    return digest.hexdigest()


def build(output_dir: Path = HERE) -> Path:
    from numba.pycc import CC

    from edge.model import kernels

    vector, matrix, cube = "f8[::1]", "f8[:,::1]", "f8[:,:,::1]"
    parameters = f"{vector}, {vector}, {vector}, {vector}, {vector}, i8"
    state = f"{vector}, {matrix}, {matrix}, {matrix}"
    cc = CC(MODULE)
    cc.output_dir = str(output_dir)
    cc.export("simulate_kernel", f"void({matrix}, f8, {parameters}, {state}, {cube}, {cube})")(
        kernels.simulate_kernel.py_func)
    cc.export("numbness_kernel", f"void({vector}, f8, f8, {vector}, f8, f8, "
                                 f"{vector}, {vector}, {vector}, {vector}, {vector})")(
        kernels.numbness_kernel.py_func)
    cc.export("tracking_kernel", f"void({matrix}, f8, {parameters}, {state}, {cube}, {cube}, "
                                 f"i8, f8, f8, {matrix})")(kernels.tracking_kernel.py_func)
    cc.compile()
    (output_dir / HASH_FILE.name).write_text(source_hash() + "\n")
    return output_dir
