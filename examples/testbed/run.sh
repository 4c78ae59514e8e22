#!/usr/bin/env bash
# Builds gantry, brings up the local test bed (3 hosts), deploys the test app to it with
# `gantry deploy`, then shows that `gantry plan` has nothing left to do. Run as root on Debian 12.
#
#   bash examples/testbed/run.sh          # everything
#   bash examples/testbed/run.sh down     # take the test bed down again
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TESTBED="$REPO/tests/testbed/testbed.sh"
EXAMPLE="$REPO/examples/testbed"

[ "$(id -u)" = 0 ] || { echo "run as root: the test bed creates network namespaces" >&2; exit 1; }
if [ "${1:-}" = down ]; then exec "$TESTBED" down; fi

step() { printf '\n==> %s\n' "$*"; }

step "Packages (docker.io, openssh-server, busybox-static, a registry, ...)"
"$TESTBED" deps
if ! command -v cargo >/dev/null; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null; then
  step "Rust (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  . "$HOME/.cargo/env"
fi

step "Build gantry"
cargo build --release --locked --manifest-path "$REPO/Cargo.toml" --bin gantry
GANTRY="$REPO/target/release/gantry"

step "Test bed: 3 hosts, a registry, the test images"
"$TESTBED" up 3
"$TESTBED" images
eval "$("$TESTBED" env)"
read -r TESTBED_HOST_1 TESTBED_HOST_2 TESTBED_HOST_3 _ <<<"$TESTBED_HOSTS"
export TESTBED_HOST_1 TESTBED_HOST_2 TESTBED_HOST_3
printf 'Host *\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n' "$TESTBED_KNOWN_HOSTS" \
  >"$EXAMPLE/.kamal/ssh_config"

cd "$EXAMPLE"
step "gantry deploy: build, push, then apply"
"$GANTRY" deploy

step "gantry plan"
"$GANTRY" plan

step "The app answers through kamal-proxy on every host"
for host in $TESTBED_HOSTS; do
  printf '%s: %s\n' "$host" "$(curl -s "http://$host/")"
done
