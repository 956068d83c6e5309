#!/usr/bin/env bash
# Installs the real clients the end-to-end tests drive, pinned: the official Anthropic, OpenAI
# and MCP Python SDKs (in one venv) and Claude Code from npm. Idempotent and flock-guarded, so
# parallel test binaries may all call it; a stamp file records what is installed.
# Usage: setup.sh DEPS_DIR   (default: <repo>/target/client-deps)
set -euo pipefail

ANTHROPIC_SDK_VERSION="2.14.0"
OPENAI_SDK_VERSION="3.57.0"
MCP_SDK_VERSION="2.3.0"
CLAUDE_CODE_VERSION="2.1.332"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
deps="${1:-$here/../../target/client-deps}"
mkdir -p "$deps"
deps="$(cd "$deps" && pwd)"

exec 9>"$deps/.lock"
flock 9

stamp="$deps/.installed"
want="anthropic==$ANTHROPIC_SDK_VERSION openai==$OPENAI_SDK_VERSION mcp==$MCP_SDK_VERSION claude-code@$CLAUDE_CODE_VERSION"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" \
      && -x "$deps/venv/bin/python" && -x "$deps/node/node_modules/.bin/claude" ]]; then
    exit 0
fi
rm -f "$stamp"

python="$(command -v python3 || true)"
if [[ -z "$python" ]]; then
    echo "setup.sh: python3 not found" >&2
    exit 1
fi
if [[ ! -x "$deps/venv/bin/python" ]]; then
    "$python" -m venv "$deps/venv"
fi
"$deps/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "anthropic==$ANTHROPIC_SDK_VERSION" "openai==$OPENAI_SDK_VERSION" "mcp==$MCP_SDK_VERSION"
"$deps/venv/bin/python" -c "import anthropic; assert anthropic.__version__ == '$ANTHROPIC_SDK_VERSION', anthropic.__version__"
"$deps/venv/bin/python" -c "import openai; assert openai.__version__ == '$OPENAI_SDK_VERSION', openai.__version__"
"$deps/venv/bin/python" -c "import importlib.metadata as m, mcp.server.mcpserver; v = m.version('mcp'); assert v == '$MCP_SDK_VERSION', v"

if ! command -v npm >/dev/null; then
    echo "setup.sh: npm not found" >&2
    exit 1
fi
mkdir -p "$deps/node"
if [[ ! -f "$deps/node/package.json" ]]; then
    echo '{"name":"sluice-test-clients","private":true}' > "$deps/node/package.json"
fi
(cd "$deps/node" && npm install --no-audit --no-fund --loglevel=error \
    "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION")
version_out="$(HOME="$deps/node" DISABLE_AUTOUPDATER=1 "$deps/node/node_modules/.bin/claude" --version)"
if [[ "$version_out" != *"$CLAUDE_CODE_VERSION"* ]]; then
    echo "setup.sh: claude --version printed '$version_out', want $CLAUDE_CODE_VERSION" >&2
    exit 1
fi

echo "$want" > "$stamp"
