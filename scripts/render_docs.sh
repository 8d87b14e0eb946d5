#!/usr/bin/env bash
# Renders docs/*.dot to PNG next to them with Graphviz (Debian package graphviz); called by `nox -s docs`.
set -euo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if ! command -v dot >/dev/null; then
  echo "render_docs.sh: Graphviz's dot is missing (apt-get install graphviz)" >&2
  exit 1
fi
for source in "$REPO_DIR"/docs/*.dot; do
  dot -Tpng -Gdpi=110 -o "${source%.dot}.png" "$source"
  echo "rendered ${source%.dot}.png"
done
