#!/usr/bin/env bash
# Installs what tests/clients/bedrock_mock.py needs, pinned: botocore (whose SigV4 signer the
# mock uses to recompute signatures independently of sluice). Idempotent and flock-guarded,
# like setup.sh; a stamp file records what is installed.
# Usage: setup_bedrock.sh DEPS_DIR   (default: <repo>/target/client-deps)
set -euo pipefail

BOTOCORE_VERSION="1.40.0"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
deps="${1:-$here/../../target/client-deps}"
mkdir -p "$deps"
deps="$(cd "$deps" && pwd)"

exec 9>"$deps/.bedrock-lock"
flock 9

stamp="$deps/.bedrock-installed"
want="botocore==$BOTOCORE_VERSION"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$deps/bedrock-venv/bin/python" ]]; then
    exit 0
fi
rm -f "$stamp"

python="$(command -v python3 || true)"
if [[ -z "$python" ]]; then
    echo "setup_bedrock.sh: python3 not found" >&2
    exit 1
fi
if [[ ! -x "$deps/bedrock-venv/bin/python" ]]; then
    "$python" -m venv "$deps/bedrock-venv"
fi
"$deps/bedrock-venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "botocore==$BOTOCORE_VERSION"
"$deps/bedrock-venv/bin/python" -c "import botocore; assert botocore.__version__ == '$BOTOCORE_VERSION', botocore.__version__"

echo "$want" > "$stamp"
