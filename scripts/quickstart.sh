#!/usr/bin/env bash
# Quick start, step one: install everything virtwall needs (Debian 12, as root), then run the
# demo. Step two is `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
node bin/virtwall.js demo
