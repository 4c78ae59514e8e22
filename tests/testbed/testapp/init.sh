#!/bin/sh
# PID 1 of the test app: starts the HTTP listener (busybox nc, one handler.sh per connection) and
# exits as soon as SIGTERM arrives, which a plain `httpd -f` as PID 1 would not (PID 1 ignores
# signals it has no handler for, so `docker stop` would wait out its timeout).
#
# Environment:
#   PORT=80          port to listen on
#   START_DELAY=N    listen only after N seconds (a slow boot: health checks fail until then)
#   CRASH_AFTER=N    exit with status 70 after N seconds of serving (a crash)
#   FAIL_HEALTHCHECK=1, REPORT_ENV: see handler.sh
set -u
listener=

stop() {
  [ -n "$listener" ] && kill "$listener" 2>/dev/null
  echo "testapp: stopping on signal" >&2
  exit 0
}
trap stop TERM INT

# sleeps in the background so that the trap runs at once when a signal arrives
pause() {
  sleep "$1" &
  wait $!
}

if [ "${START_DELAY:-0}" -gt 0 ]; then
  echo "testapp: starting in ${START_DELAY}s (START_DELAY)" >&2
  pause "$START_DELAY"
fi

nc -ll -p "${PORT:-80}" -e /app/handler.sh &
listener=$!
echo "testapp: version ${APP_VERSION:-dev} listening on port ${PORT:-80}" >&2

if [ -n "${CRASH_AFTER:-}" ]; then
  pause "$CRASH_AFTER"
  kill "$listener" 2>/dev/null
  echo "testapp: crashing after ${CRASH_AFTER}s (CRASH_AFTER)" >&2
  exit 70
fi

wait "$listener"
