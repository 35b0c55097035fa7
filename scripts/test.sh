#!/usr/bin/env bash
# Run the whole test suite (after scripts/setup.sh). Extra arguments go to pytest.
# Two processes, each taking whole files (their fixtures are per file or per process,
# brokers and ports their own); LEGWAKE_TEST_WORKERS=0 runs it in one.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m pytest -n "${LEGWAKE_TEST_WORKERS:-2}" --dist loadfile "$@"
