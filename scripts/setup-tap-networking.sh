#!/usr/bin/env bash
# The seed's set-up workflow, kept working as a thin wrapper over blixard-net.
#
#   sudo ./scripts/setup-tap-networking.sh [user] [count] [external-if]
#   sudo ./scripts/setup-tap-networking.sh cleanup
#
# user defaults to $SUDO_USER (else root), count to 64, external-if to the
# interface of the default route. Set BLIXARD_NET to choose the binary.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${BLIXARD_NET:-}
if [[ -z "$bin" ]]; then
  if command -v blixard-net >/dev/null 2>&1; then
    bin=$(command -v blixard-net)
  elif [[ -x "$here/target/release/blixard-net" ]]; then
    bin="$here/target/release/blixard-net"
  else
    echo "blixard-net not found: install it (cargo install --path crates/blixard-cli) or build it (cargo build --release)" >&2
    exit 2
  fi
fi
if [[ "${1:-}" == cleanup ]]; then
  exec "$bin" down
fi
user=${1:-${SUDO_USER:-root}}
count=${2:-64}
ext=${3:-auto}
exec "$bin" --user "$user" --vms "$count" --external-interface "$ext" apply
