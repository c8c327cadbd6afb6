#!/usr/bin/env bash
# Clone the repository into a temporary folder and run `make test` there: proves that the
# README's commands need nothing but Python and pip (and apt-get for the browser tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone --quiet "$root" "$work/linkback"
# The shared test corpus sits beside the project's root; keep it beside the clone too.
if [ -d "$root/../shared" ]; then ln -s "$(cd "$root/../shared" && pwd)" "$work/shared"; fi
cd "$work/linkback"
make test
echo "fresh clone: make test passed"
