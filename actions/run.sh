#!/usr/bin/env bash
# The one entry every action of this repository calls: `run.sh COMMAND`.
# It runs the mlops_actions package from this checkout of the repository (nothing to build), with the
# runner's Python (the one actions/setup-python put on PATH, where the project's own packages are).
# The command reads its inputs from the INPUT_* variables the action's step sets.
set -euo pipefail
root=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
python=${MLOPS_ACTIONS_PYTHON:-python3}
if ! command -v "$python" > /dev/null; then
  echo "::error title=Python not found::'$python' is not on PATH. Fix: add actions/setup-python (python-version 3.10 or newer) before this step."
  exit 2
fi
PYTHONPATH="$root/src${PYTHONPATH:+:$PYTHONPATH}" exec "$python" -m mlops_actions "$@"
