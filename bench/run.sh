#!/usr/bin/env bash
# See bench/README.md. Usage: bench/run.sh [--records N] [--partitions P] [--batch B]
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/run.py "$@"
