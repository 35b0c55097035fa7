"""The model tests again with numba's JIT disabled: the kernels as plain Python, for coverage
and to show the compiled code and its Python source say the same thing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MODEL_TESTS = ["test_model_api.py", "test_model_kernels.py", "test_model_properties.py",
               "test_model_targets.py"]


def test_model_tests_pass_with_the_jit_disabled():
    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        pytest.skip("this run already has the JIT disabled")
    here = Path(__file__).parent
    # LEGWAKE_MODEL_JIT: the numba kernels (here as plain Python), not the ahead-of-time build.
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1", "LEGWAKE_MODEL_JIT": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         *(str(here / name) for name in MODEL_TESTS)],
        env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout
