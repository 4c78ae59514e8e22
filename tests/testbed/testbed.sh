#!/usr/bin/env bash
# gantry's multi-host test bed: N Docker hosts on one Linux machine, reached over real SSH.
#
# Each host is a network namespace with its own address on a bridge, plus a private mount
# namespace (its own /run, /tmp and home directory), its own sshd and its own dockerd. A Docker
# registry with basic auth listens on the bridge. Run as root.
#
#   testbed.sh deps                 install the Debian packages it needs
#   testbed.sh up [N]               start the registry and hosts 1..N (default 3); idempotent
#   testbed.sh down                 stop everything; leaves no netns, link, iptables rule, process,
#                                   mount or state behind
#   testbed.sh status               one line per host
#   testbed.sh env                  shell exports for tests (TESTBED_HOSTS, TESTBED_SSH_KEY, ...,
#                                   TESTBED_CA_CERT and a certificate it signs for *.gantry.test:
#                                   TESTBED_TLS_CERT, TESTBED_TLS_KEY)
#   testbed.sh images               build the test images and put them where hosts can use them:
#                                   testbed/busybox and basecamp/kamal-proxy:v0.9.2 (the stand-in)
#                                   loaded into every host; <registry>/gantry-testapp:v1 and
#                                   <registry>/testbed/busybox:latest pushed; registry:3 (for
#                                   Kamal's local registry) on the machine's own dockerd
#   testbed.sh testapp [V] [SERVICE]
#                                   build and push <registry>/gantry-testapp:V (label service=SERVICE)
#   testbed.sh cut I | heal I       take host I off the network / put it back
#   testbed.sh docker-stop I | docker-start I
#                                   stop / start host I's dockerd
#   testbed.sh ssh-stop I | ssh-start I
#                                   stop / start host I's sshd
#   testbed.sh disk-full I | disk-heal I
#                                   fill / free the temporary space of host I's dockerd (pulls and
#                                   loads then fail with "no space left on device")
#   testbed.sh throttle I [RATE] | unthrottle I
#                                   limit what reaches host I to RATE (tc's units; 4mbit) / lift it
#   testbed.sh ssh I [CMD...]       run a command on host I as root
#
# Settings (environment; fixed at the first `up` and kept in $TESTBED_DIR/settings):
#   TESTBED_DIR      state directory                      (/var/lib/gantry-testbed)
#   TESTBED_NET      first three octets of the /24        (10.77.0: bridge .1, hosts .11, .12, ...)
#   TESTBED_PREFIX   prefix of the bridge, netns and veth names (gt: bridge gt0, netns gt-h1, ...)
#   TESTBED_REGISTRY_PORT      (5000)      TESTBED_REGISTRY_PASSWORD (testbed-secret)
#   TESTBED_STREAMLOCAL_OFF    host numbers whose sshd has AllowStreamLocalForwarding no ("3")
#   TESTBED_MAX_SESSIONS       sshd MaxSessions of every host (10, as stock OpenSSH)
#   TESTBED_LATENCY_MS         one-way delay, each direction, between this machine and every host's
#                              sshd and the registry (0): a latency-relay listens on the usual
#                              addresses, sshd and the registry move behind it
#   TESTBED_SESSION_MS         what opening an SSH session (an exec or shell channel) costs on every
#                              host (0): sshd runs the root user's ~/.ssh/rc, a sleep, before each
#                              session's command, as a slow PAM session module or start-up file does
#
# Gotchas it handles (verified on Debian 12, docker.io 20.10, OpenSSH 9.2):
#  - `nsenter --net=` and not `ip netns exec`: the latter remounts /sys, which hides the cgroup
#    mounts, and dockerd then fails with "Devices cgroup isn't mounted";
#  - /var/run is a link to /run: a tmpfs on /run in the host's mount namespace gives it a private
#    docker.sock, containerd socket and sshd pid file; a bind mount gives it its own /root, so
#    Kamal's ~/.kamal and `docker login` credentials are per host, as on real machines;
#  - every dockerd (hosts and the machine's own, used for builds) must trust the registry as an
#    insecure registry, since it speaks plain HTTP on a non-loopback address; each host's dockerd
#    gets a --config-file of its own, or it would read the machine's /etc/docker/daemon.json;
#  - the machine's dockerd sets iptables' FORWARD policy to DROP, which also drops frames bridged
#    between the hosts: an ACCEPT rule for the bridge lets them reach each other;
#  - each host's sshd has a config file of its own (not the machine's), so forwarding and session
#    limits are known; MaxStartups is raised because tests and Kamal open many connections at once.
set -euo pipefail

die() { echo "testbed: $*" >&2; exit 1; }

STATE=${TESTBED_DIR:-/var/lib/gantry-testbed}
# A running test bed keeps the settings it was started with: later commands (cut, down, ...)
# need only TESTBED_DIR and use the saved settings whatever the environment says (a shell that
# evaluated `env` of an earlier bed still exports its values); only `up`, which would otherwise
# seem to apply a new setting to the running bed, refuses a conflicting one.
if [ -f "$STATE/settings" ]; then
  # shellcheck disable=SC1091
  . "$STATE/settings"
  [ "${1:-}" = up ] && for setting in TESTBED_NET:SAVED_NET TESTBED_PREFIX:SAVED_PREFIX TESTBED_REGISTRY_PORT:SAVED_REG_PORT \
    TESTBED_LATENCY_MS:SAVED_LATENCY_MS TESTBED_SESSION_MS:SAVED_SESSION_MS; do
    given=${setting%%:*}; saved=${setting##*:}
    [ -z "${!given:-}" ] || [ "${!given}" = "${!saved}" ] ||
      die "$STATE was started with ${given}=${!saved}, not ${!given}; run down first"
  done
fi
NET=${SAVED_NET:-${TESTBED_NET:-10.77.0}}
PREFIX=${SAVED_PREFIX:-${TESTBED_PREFIX:-gt}}
BR="${PREFIX}0"
REG_PORT=${SAVED_REG_PORT:-${TESTBED_REGISTRY_PORT:-5000}}
REG="${NET}.1:${REG_PORT}"
REG_USER=deployer
REG_PASS=${SAVED_REG_PASS:-${TESTBED_REGISTRY_PASSWORD:-testbed-secret}}
STREAMLOCAL_OFF=${SAVED_STREAMLOCAL_OFF-${TESTBED_STREAMLOCAL_OFF:-}}
MAX_SESSIONS=${SAVED_MAX_SESSIONS:-${TESTBED_MAX_SESSIONS:-10}}
LATENCY_MS=${SAVED_LATENCY_MS:-${TESTBED_LATENCY_MS:-0}}
SESSION_MS=${SAVED_SESSION_MS:-${TESTBED_SESSION_MS:-0}}
[[ "$LATENCY_MS" =~ ^[0-9]+$ ]] || die "TESTBED_LATENCY_MS must be a number of milliseconds, not '$LATENCY_MS'"
[[ "$SESSION_MS" =~ ^[0-9]+$ ]] || die "TESTBED_SESSION_MS must be a number of milliseconds, not '$SESSION_MS'"
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
PROXY_IMAGE=basecamp/kamal-proxy:v0.9.2
BUSYBOX_IMAGE=testbed/busybox:latest
LOCAL_REGISTRY_IMAGE=registry:3
TESTAPP_IMAGE="$REG/gantry-testapp"

host_ip() { echo "${NET}.$((10 + $1))"; }
host_dir() { echo "$STATE/h$1"; }
netns() { echo "${PREFIX}-h$1"; }
veth() { echo "${PREFIX}-h$1"; }
# With latency, sshd and the registry listen where only the relay reaches them: each host's
# sshd on its own loopback, the registry on a loopback address of this test bed's own.
delayed() { [ "$LATENCY_MS" -gt 0 ]; }
REG_BEHIND_RELAY="127.$(echo "$NET" | cut -d. -f2-3).1:${REG_PORT}"
registry_listen() { if delayed; then echo "$REG_BEHIND_RELAY"; else echo "$REG"; fi; }
sshd_listen() { if delayed; then echo "127.0.0.1"; else host_ip "$1"; fi; }
host_count() { cat "$STATE/hosts" 2>/dev/null || echo 0; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Runs a command, showing its output only when it fails.
quietly() {
  local output
  if ! output=$("$@" 2>&1); then printf '%s\n' "$output" >&2; return 1; fi
}

check_host_arg() {
  [[ "${1:-}" =~ ^[0-9]+$ ]] || die "expected a host number, got '${1:-}'"
  [ -d "$(host_dir "$1")" ] || die "host $1 is not part of the test bed ($STATE)"
}

# Runs a command inside host I's network, mount and UTS namespaces (those of its anchor process).
in_host() {
  local i=$1; shift
  local anchor; anchor=$(cat "$(host_dir "$i")/anchor.pid")
  nsenter -t "$anchor" -m -n -u -- "$@"
}

ssh_opts() {
  echo -F none -i "$STATE/id_ed25519" -o UserKnownHostsFile="$STATE/known_hosts" \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=3 -o LogLevel=ERROR
}

host_ssh() {
  local i=$1; shift
  # shellcheck disable=SC2046
  ssh $(ssh_opts) "root@$(host_ip "$i")" "$@"
}

deps() {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io openssh-server openssh-client \
    iproute2 iptables busybox-static docker-registry apache2-utils curl jq util-linux wrk openssl >/dev/null
  # the packaged registry service would hold port 5000 on every address; the test bed runs its own
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
}

# The machine's own dockerd builds the images and pushes them: it must trust the registry. The
# entry is merged into daemon.json (other test beds and users share this file) and the running
# dockerd reloads it on SIGHUP.
local_docker() {
  mkdir -p /etc/docker
  local conf=/etc/docker/daemon.json
  [ -s "$conf" ] || echo '{}' >"$conf"
  jq -e 'type == "object"' "$conf" >/dev/null 2>&1 || die "$conf is not a JSON object; fix it first"
  if ! jq -e --arg r "$REG" '(.["insecure-registries"] // []) | index($r) != null' "$conf" >/dev/null; then
    local merged
    merged=$(jq --arg r "$REG" '.["insecure-registries"] = ((.["insecure-registries"] // []) + [$r] | unique)' "$conf")
    printf '%s\n' "$merged" >"$conf.tmp" && mv "$conf.tmp" "$conf"
    if [ -f /run/docker.pid ]; then kill -HUP "$(cat /run/docker.pid)" 2>/dev/null || true; fi
  fi
  if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    (setsid dockerd </dev/null >"$STATE/local-dockerd.log" 2>&1 &)
    for _ in $(seq 100); do docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && break; sleep 0.2; done
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 || die "local dockerd did not start; see $STATE/local-dockerd.log"
  fi
  # SIGHUP is asynchronous: wait until the daemon reports the registry as insecure
  for _ in $(seq 50); do
    docker info --format '{{json .RegistryConfig.IndexConfigs}}' 2>/dev/null | grep -q "\"$REG\"" && return
    sleep 0.1
  done
  die "the machine's dockerd does not trust $REG; add it to insecure-registries in /etc/docker/daemon.json"
}

bridge() {
  if ! ip link show "$BR" >/dev/null 2>&1; then
    ip link add "$BR" type bridge
    ip addr add "${NET}.1/24" dev "$BR"
  fi
  ip link set "$BR" up
  # bridged frames pass iptables (br_netfilter) and the machine's dockerd sets FORWARD to DROP
  iptables -C FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null || iptables -I FORWARD 1 -i "$BR" -o "$BR" -j ACCEPT
}

registry() {
  alive "$STATE/registry.pid" && return
  mkdir -p "$STATE/registry/data"
  htpasswd -Bbc "$STATE/registry/htpasswd" "$REG_USER" "$REG_PASS" >/dev/null 2>&1
  cat >"$STATE/registry/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/registry/data
  delete:
    enabled: true
http:
  addr: $(registry_listen)
auth:
  htpasswd:
    realm: testbed
    path: $STATE/registry/htpasswd
YML
  (setsid docker-registry serve "$STATE/registry/config.yml" </dev/null >"$STATE/registry/log" 2>&1 &
    echo $! >"$STATE/registry.pid")
  if delayed; then
    # built first: a build waiting for cargo's lock must not eat the registry's start-up wait
    local relay; relay=$(relay_binary)
    alive "$STATE/relay.pid" ||
      (setsid "$relay" "$LATENCY_MS" "$REG=$REG_BEHIND_RELAY" </dev/null >"$STATE/relay.log" 2>&1 &
        echo $! >"$STATE/relay.pid")
  fi
  for _ in $(seq 100); do curl -s -o /dev/null "http://$REG/v2/" && return; sleep 0.1; done
  die "registry did not start; see $STATE/registry/log"
}

write_sshd_config() {
  local i=$1 dir; dir=$(host_dir "$1")
  local streamlocal=yes
  case " ${STREAMLOCAL_OFF//,/ } " in *" $i "*) streamlocal=no ;; esac
  cat >"$dir/sshd_config" <<CONF
ListenAddress $(sshd_listen "$i")
HostKey $dir/ssh_host_ed25519_key
PidFile /run/sshd.pid
AuthorizedKeysFile $STATE/authorized_keys
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
PermitUserRC yes
PrintMotd no
AllowTcpForwarding yes
AllowStreamLocalForwarding $streamlocal
MaxSessions $MAX_SESSIONS
MaxStartups 100:30:200
AcceptEnv LANG LC_*
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
}

# Starts a daemon inside host I, detached, with its pid in PIDFILE and its output in LOG.
spawn_in_host() {
  local i=$1 pidfile=$2 log=$3; shift 3
  rm -f "$pidfile"
  # shellcheck disable=SC2016
  in_host "$i" setsid sh -c 'echo $$ >"$0.tmp" && mv "$0.tmp" "$0" && exec "$@"' "$pidfile" "$@" \
    </dev/null >>"$log" 2>&1 &
  for _ in $(seq 200); do [ -s "$pidfile" ] && return; sleep 0.02; done
  die "could not start '$*' on host $i"
}

start_dockerd() {
  local i=$1 dir; dir=$(host_dir "$1")
  alive "$dir/dockerd.pid" && return
  spawn_in_host "$i" "$dir/dockerd.pid" "$dir/dockerd.log" dockerd --data-root "$dir/docker" \
    --exec-root /run/docker-exec --pidfile /run/docker.pid -H unix:///run/docker.sock \
    --config-file "$dir/daemon.json" --bip "172.31.$i.1/24"
}

start_sshd() {
  local i=$1 dir; dir=$(host_dir "$1")
  if delayed && ! alive "$dir/relay.pid"; then
    spawn_in_host "$i" "$dir/relay.pid" "$dir/relay.log" "$(relay_binary)" "$LATENCY_MS" \
      "$(host_ip "$i"):22=127.0.0.1:22"
  fi
  alive "$dir/sshd.pid" && return
  spawn_in_host "$i" "$dir/sshd.pid" "$dir/sshd.log" /usr/sbin/sshd -D -f "$dir/sshd_config" -E "$dir/sshd.log"
}

# The relay, built from tests/latency-relay and copied into the state directory, so that a later
# build cannot replace it under a running test bed.
relay_binary() {
  local copy="$STATE/bin/latency-relay"
  if [ ! -x "$copy" ]; then
    (cd "$REPO" && cargo build --quiet --locked -p latency-relay) || die "could not build latency-relay"
    mkdir -p "$STATE/bin"
    cp "${CARGO_TARGET_DIR:-$REPO/target}/debug/latency-relay" "$copy.tmp" && mv "$copy.tmp" "$copy"
  fi
  echo "$copy"
}

# What each session open costs: sshd runs ~/.ssh/rc before every session's command (a PAM
# session module runs once per connection, sessions multiplexed on it would not pay).
write_session_cost() {
  local dir=$1
  mkdir -p "$dir/home/.ssh"
  printf '#!/bin/sh\n# the test bed: TESTBED_SESSION_MS=%s\nsleep %s\n' "$SESSION_MS" \
    "$(awk -v ms="$SESSION_MS" 'BEGIN { printf "%.3f", ms / 1000 }')" >"$dir/home/.ssh/rc"
}

# Stops a daemon by pid file and waits for it (dockerd first stops its containers).
stop_daemon() {
  local pidfile=$1 p
  [ -f "$pidfile" ] || return 0
  p=$(cat "$pidfile")
  kill "$p" 2>/dev/null || { rm -f "$pidfile"; return 0; }
  for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
  kill -9 "$p" 2>/dev/null || true
  rm -f "$pidfile"
}

host_up() {
  local i=$1 ns ip dir
  ns=$(netns "$i"); ip=$(host_ip "$i"); dir=$(host_dir "$i")
  mkdir -p "$dir/home"
  [ -f "$dir/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N "" -C "h$i" -f "$dir/ssh_host_ed25519_key"
  if ! ip netns list | grep -qx "$ns\( (id: [0-9]*)\)\?"; then ip netns add "$ns"; fi
  if ! ip link show "$(veth "$i")" >/dev/null 2>&1; then
    ip link add "$(veth "$i")" type veth peer name eth0 netns "$ns"
    ip link set "$(veth "$i")" master "$BR" up
    nsenter --net="/run/netns/$ns" sh -c "ip addr add $ip/24 dev eth0 && ip link set eth0 up && ip link set lo up && ip route add default via ${NET}.1"
  fi
  ip link set "$(veth "$i")" up
  printf '{"insecure-registries": ["%s"]}\n' "$REG" >"$dir/daemon.json"
  [ "$SESSION_MS" -eq 0 ] || write_session_cost "$dir"
  write_sshd_config "$i"
  if ! alive "$dir/anchor.pid"; then
    rm -f "$dir/anchor.pid" "$dir/dockerd.pid" "$dir/sshd.pid" "$dir/relay.pid"
    # the anchor holds the host's mount namespace (private /run, /tmp and home directory) and its
    # UTS namespace (host name); it publishes its pid once the mounts are made
    cat >"$dir/anchor.sh" <<SH
#!/bin/sh
set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/sshd
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount --bind $dir/home /root
hostname $(netns "$i")
echo \$\$ >$dir/anchor.pid.tmp
mv $dir/anchor.pid.tmp $dir/anchor.pid
exec sleep infinity
SH
    chmod +x "$dir/anchor.sh"
    nsenter --net="/run/netns/$ns" setsid unshare -m -u --propagation private "$dir/anchor.sh" \
      </dev/null >"$dir/anchor.log" 2>&1 &
    for _ in $(seq 200); do [ -s "$dir/anchor.pid" ] && break; sleep 0.02; done
    [ -s "$dir/anchor.pid" ] || die "host $i did not start; see $dir/anchor.log"
  fi
  start_dockerd "$i"
  start_sshd "$i"
}

wait_host() {
  local i=$1
  for _ in $(seq 150); do
    host_ssh "$i" docker info >/dev/null 2>&1 && return
    sleep 0.2
  done
  die "host $i ($(host_ip "$i")) did not come up; see $(host_dir "$i")/"
}

write_known_hosts() {
  local n=$1 tmp="$STATE/known_hosts.tmp"
  : >"$tmp"
  for i in $(seq "$n"); do
    echo "$(host_ip "$i") $(cut -d' ' -f1,2 "$(host_dir "$i")/ssh_host_ed25519_key.pub")" >>"$tmp"
  done
  mv "$tmp" "$STATE/known_hosts"
}

# A small CA and one certificate it signs for TLS tests: *.gantry.test, gantry.test and every
# host's address. Kept across `up`s; made again only when missing.
TLS_NAMES="gantry.test *.gantry.test"
tls_certificates() {
  local dir="$STATE/tls" i sans=""
  [ -f "$dir/cert.pem" ] && return 0
  mkdir -p "$dir"
  for name in $TLS_NAMES; do sans="$sans,DNS:$name"; done
  for i in $(seq "$(host_count)"); do sans="$sans,IP:$(host_ip "$i")"; done
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=gantry test bed CA" \
    -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=gantry.test" \
    -keyout "$dir/key.pem" -out "$dir/cert.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "${sans#,}" >"$dir/cert.ext"
  openssl x509 -req -in "$dir/cert.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -days 3650 -extfile "$dir/cert.ext" -out "$dir/cert.pem" 2>/dev/null
  rm -f "$dir/cert.csr" "$dir/cert.ext"
}

up() {
  local n=${1:-3}
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "up: expected a host count, got '$n'"
  local existing; existing=$(host_count)
  [ "$n" -ge "$existing" ] || n=$existing
  mkdir -p "$STATE"
  printf 'SAVED_NET=%s\nSAVED_PREFIX=%s\nSAVED_REG_PORT=%s\nSAVED_REG_PASS=%q\nSAVED_STREAMLOCAL_OFF=%q\nSAVED_MAX_SESSIONS=%s\nSAVED_LATENCY_MS=%s\nSAVED_SESSION_MS=%s\n' \
    "$NET" "$PREFIX" "$REG_PORT" "$REG_PASS" "$STREAMLOCAL_OFF" "$MAX_SESSIONS" "$LATENCY_MS" "$SESSION_MS" >"$STATE/settings"
  [ -f "$STATE/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -C testbed -f "$STATE/id_ed25519"
  cp "$STATE/id_ed25519.pub" "$STATE/authorized_keys"
  bridge; local_docker; registry
  for i in $(seq "$n"); do host_up "$i"; done
  echo "$n" >"$STATE/hosts"
  write_known_hosts "$n"
  for i in $(seq "$n"); do wait_host "$i"; done
  tls_certificates
  print_env >"$STATE/env"
  status
}

# Kills what is left in a host: processes in its network namespace and container processes
# whose cgroups belong to its dockerd (a dockerd killed hard leaves its shims behind).
sweep_host() {
  local i=$1 ns dir; ns=$(netns "$i"); dir=$(host_dir "$i")
  if [ -f "$dir/containers" ]; then
    while read -r id; do
      [ -n "$id" ] || continue
      for procs in /sys/fs/cgroup/*/docker/"$id"/cgroup.procs; do
        [ -f "$procs" ] || continue
        while read -r p; do kill -9 "$p" 2>/dev/null || true; done <"$procs"
      done
    done <"$dir/containers"
  fi
  if ip netns list | grep -q "^$ns\b"; then
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  fi
  if [ -f "$dir/containers" ]; then
    sleep 0.2
    while read -r id; do
      [ -n "$id" ] || continue
      for cg in /sys/fs/cgroup/*/docker/"$id"; do [ -d "$cg" ] && rmdir "$cg" 2>/dev/null || true; done
    done <"$dir/containers"
  fi
}

down() {
  [ -d "$STATE" ] || { remove_links; return 0; }
  local n; n=$(host_count)
  for d in "$STATE"/h*; do
    [ -d "$d" ] || continue
    local i=${d##*/h}
    if alive "$d/anchor.pid"; then
      in_host "$i" sh -c 'docker ps -aq --no-trunc 2>/dev/null' >"$d/containers" 2>/dev/null || true
      in_host "$i" umount "$d/docker/tmp" 2>/dev/null || true
    fi
  done
  # dockerd stops its containers first (they exit promptly on SIGTERM); stop all hosts at once
  for d in "$STATE"/h*; do [ -d "$d" ] && { stop_daemon "$d/relay.pid"; stop_daemon "$d/sshd.pid"; } & done; wait
  for d in "$STATE"/h*; do [ -d "$d" ] && stop_daemon "$d/dockerd.pid" & done; wait
  for d in "$STATE"/h*; do [ -d "$d" ] && stop_daemon "$d/anchor.pid"; done
  for d in "$STATE"/h*; do [ -d "$d" ] && sweep_host "${d##*/h}"; done
  stop_daemon "$STATE/relay.pid"
  stop_daemon "$STATE/registry.pid"
  remove_links
  rm -rf "$STATE"
  [ "$n" -gt 0 ] && echo "test bed down ($n hosts)" || true
}

remove_links() {
  local ns l
  for ns in $(ip netns list | awk '{print $1}' | grep "^${PREFIX}-h[0-9]*$" || true); do ip netns del "$ns"; done
  for l in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep "^${PREFIX}-h[0-9]*$" || true); do
    ip link del "$l" 2>/dev/null || true
  done
  while iptables -D FORWARD -i "$BR" -o "$BR" -j ACCEPT 2>/dev/null; do :; done
  ip link del "$BR" 2>/dev/null || true
}

status() {
  local n; n=$(host_count)
  [ "$n" -gt 0 ] || { echo "test bed is down ($STATE)"; return 0; }
  printf 'registry %s %s\n' "$REG" "$(alive "$STATE/registry.pid" && echo up || echo down)"
  for i in $(seq "$n"); do
    local dir flags=""; dir=$(host_dir "$i")
    [ "$(cat "/sys/class/net/$(veth "$i")/operstate" 2>/dev/null)" = down ] && flags="$flags cut"
    alive "$dir/sshd.pid" || flags="$flags ssh-stopped"
    delayed && ! alive "$dir/relay.pid" && flags="$flags relay-stopped"
    alive "$dir/dockerd.pid" || flags="$flags docker-stopped"
    [ -f "$dir/disk-full" ] && flags="$flags disk-full"
    tc qdisc show dev "$(veth "$i")" 2>/dev/null | grep -q tbf && flags="$flags throttled"
    grep -q '^AllowStreamLocalForwarding no' "$dir/sshd_config" 2>/dev/null && flags="$flags no-streamlocal"
    printf 'h%s %s ' "$i" "$(host_ip "$i")"
    host_ssh "$i" 'echo "$(docker ps -q | wc -l) containers"' 2>/dev/null | tr -d '\n' || printf unreachable
    printf '%s\n' "$flags"
  done
}

print_env() {
  local hosts="" off=""
  for i in $(seq "$(host_count)"); do
    hosts="$hosts $(host_ip "$i")"
    grep -q '^AllowStreamLocalForwarding no' "$(host_dir "$i")/sshd_config" 2>/dev/null && off="$off $(host_ip "$i")"
  done
  cat <<ENV
export TESTBED_DIR=$STATE
export TESTBED_NET=$NET
export TESTBED_PREFIX=$PREFIX
export TESTBED_SCRIPT=$SCRIPT_DIR/testbed.sh
export TESTBED_HOSTS="${hosts# }"
export TESTBED_SSH_USER=root
export TESTBED_SSH_KEY=$STATE/id_ed25519
export TESTBED_KNOWN_HOSTS=$STATE/known_hosts
export TESTBED_NO_STREAMLOCAL_HOSTS="${off# }"
export TESTBED_REGISTRY=$REG
export TESTBED_REGISTRY_USER=$REG_USER
export TESTBED_REGISTRY_PASSWORD=$REG_PASS
export TESTBED_TESTAPP_IMAGE=$TESTAPP_IMAGE
export TESTBED_PROXY_IMAGE=$PROXY_IMAGE
export TESTBED_CA_CERT=$STATE/tls/ca.pem
export TESTBED_TLS_CERT=$STATE/tls/cert.pem
export TESTBED_TLS_KEY=$STATE/tls/key.pem
export TESTBED_LATENCY_MS=$LATENCY_MS
export TESTBED_SESSION_MS=$SESSION_MS
ENV
}

# testbed/busybox: Debian's static busybox as a one-layer image (no image can be pulled here).
busybox_image() {
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/usr/local/bin" "$root/var"
  mkdir -m 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for c in $("$root/bin/busybox" --list); do [ "$c" = busybox ] || ln -s busybox "$root/bin/$c"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" --numeric-owner -c . | docker import -c 'ENV PATH=/usr/local/bin:/bin' -c 'CMD ["/bin/sh"]' - "$BUSYBOX_IMAGE" >/dev/null
  rm -rf "$root"
  echo "$BUSYBOX_IMAGE"
}

# `registry:3` on the machine's own dockerd, for Kamal's local registry (`registry.server:
# localhost:5555`, started by `kamal registry setup`): Debian's docker-registry with the C
# library it links, listening on :5000 without auth, as the real image does. Docker Hub is not
# reachable here.
local_registry_image() {
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/etc/docker/registry" "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/var/lib/registry"
  cp /usr/bin/docker-registry "$root/bin/registry"
  cp /lib/x86_64-linux-gnu/libc.so.6 "$root/lib/x86_64-linux-gnu/"
  cp /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
  cat >"$root/etc/docker/registry/config.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
YML
  tar -C "$root" --numeric-owner -c . | docker import -c 'EXPOSE 5000' \
    -c 'CMD ["/bin/registry", "serve", "/etc/docker/registry/config.yml"]' - "$LOCAL_REGISTRY_IMAGE" >/dev/null
  rm -rf "$root"
  echo "$LOCAL_REGISTRY_IMAGE"
}

# The kamal-proxy stand-in, linked statically so that it runs in the busybox image.
proxy_image() {
  local target=x86_64-unknown-linux-gnu ctx
  (cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_PROFILE_RELEASE_LTO=false \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo build --quiet --release --locked \
    -p kamal-proxy-standin --target "$target")
  ctx=$(mktemp -d)
  cp "$REPO/target/$target/release/kamal-proxy" "$ctx/kamal-proxy"
  cp "$REPO/tests/kamal-proxy/Dockerfile" "$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 quietly docker build -t "$PROXY_IMAGE" "$ctx"
  rm -rf "$ctx"
  echo "$PROXY_IMAGE"
}

testapp_image() {
  local version=${1:-v1} service=${2:-gantry-testapp}
  DOCKER_BUILDKIT=0 quietly docker build --build-arg "SERVICE=$service" --build-arg "VERSION=$version" \
    -t "$TESTAPP_IMAGE:$version" "$SCRIPT_DIR/testapp"
  printf '%s' "$REG_PASS" | quietly docker login -u "$REG_USER" --password-stdin "$REG"
  quietly docker push "$TESTAPP_IMAGE:$version"
  echo "$TESTAPP_IMAGE:$version"
}

images() {
  local n; n=$(host_count)
  [ "$n" -gt 0 ] || die "the test bed is down; run '$0 up' first"
  busybox_image
  # also in the registry, for tests that pull a small image through the Docker API
  docker tag "$BUSYBOX_IMAGE" "$REG/$BUSYBOX_IMAGE"
  printf '%s' "$REG_PASS" | quietly docker login -u "$REG_USER" --password-stdin "$REG"
  quietly docker push "$REG/$BUSYBOX_IMAGE"
  proxy_image
  local_registry_image
  testapp_image v1
  for i in $(seq "$n"); do
    docker save "$BUSYBOX_IMAGE" "$PROXY_IMAGE" | host_ssh "$i" docker load -q >/dev/null &
  done
  wait
  for i in $(seq "$n"); do
    host_ssh "$i" docker image inspect "$PROXY_IMAGE" "$BUSYBOX_IMAGE" >/dev/null ||
      die "images did not load on host $i"
  done
  echo "loaded $BUSYBOX_IMAGE and $PROXY_IMAGE on $n hosts"
}

disk_full() {
  local i=$1 dir; dir=$(host_dir "$1")
  [ -f "$dir/disk-full" ] && return 0
  mkdir -p "$dir/docker/tmp"
  in_host "$i" mount -t tmpfs -o size=1m tmpfs "$dir/docker/tmp"
  in_host "$i" sh -c "dd if=/dev/zero of=$dir/docker/tmp/fill bs=64k >/dev/null 2>&1 || true"
  touch "$dir/disk-full"
}

disk_heal() {
  local i=$1 dir; dir=$(host_dir "$1")
  [ -f "$dir/disk-full" ] || return 0
  in_host "$i" umount "$dir/docker/tmp"
  rm -f "$dir/disk-full"
}

cmd=${1:-}
case "$cmd" in
  deps) deps ;;
  up) up "${2:-3}" ;;
  down) down ;;
  status) status ;;
  env) [ -f "$STATE/hosts" ] || die "the test bed is down ($STATE)"; tls_certificates; print_env ;;
  images) images ;;
  testapp) testapp_image "${2:-v1}" "${3:-gantry-testapp}" ;;
  cut) check_host_arg "${2:-}"; ip link set "$(veth "$2")" down ;;
  heal) check_host_arg "${2:-}"; ip link set "$(veth "$2")" up ;;
  docker-stop) check_host_arg "${2:-}"; stop_daemon "$(host_dir "$2")/dockerd.pid" ;;
  docker-start) check_host_arg "${2:-}"; start_dockerd "$2"
    for _ in $(seq 100); do in_host "$2" docker -H unix:///run/docker.sock info >/dev/null 2>&1 && exit 0; sleep 0.2; done
    die "dockerd of host $2 did not start; see $(host_dir "$2")/dockerd.log" ;;
  ssh-stop) check_host_arg "${2:-}"; stop_daemon "$(host_dir "$2")/relay.pid"; stop_daemon "$(host_dir "$2")/sshd.pid" ;;
  ssh-start) check_host_arg "${2:-}"; start_sshd "$2"
    for _ in $(seq 100); do host_ssh "$2" true 2>/dev/null && exit 0; sleep 0.1; done
    die "sshd of host $2 did not start; see $(host_dir "$2")/sshd.log" ;;
  disk-full) check_host_arg "${2:-}"; disk_full "$2" ;;
  disk-heal) check_host_arg "${2:-}"; disk_heal "$2" ;;
  throttle) check_host_arg "${2:-}"
    tc qdisc replace dev "$(veth "$2")" root tbf rate "${3:-4mbit}" burst 32kbit latency 400ms ;;
  unthrottle) check_host_arg "${2:-}"; tc qdisc del dev "$(veth "$2")" root 2>/dev/null || true ;;
  ssh) check_host_arg "${2:-}"; i=$2; shift 2; host_ssh "$i" "$@" ;;
  *) sed -n '2,/^# Settings/p' "$0" | sed '$d'; exit 2 ;;
esac
