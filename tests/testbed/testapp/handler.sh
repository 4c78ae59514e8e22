#!/bin/sh
# One HTTP exchange of the test app: the request on stdin, the response on stdout, then the
# connection closes. Routes:
#   GET /up                200 "ok", or 503 when FAIL_HEALTHCHECK=1 or /tmp/unhealthy exists
#   GET /                  200 JSON: version, Kamal's env (container name, version, host), the
#                          container's host name and every variable named in REPORT_ENV
#   GET /slow?seconds=N    answers after N seconds (at most 600), for drain tests
#   GET /assets/NAME       200 with /app/public/assets/NAME (asset bridging), 404 when missing
#   GET /headers           200, the request's headers as received, one a line
#   GET /redirect?to=PATH  302 to PATH
#   anything else          404
# A request body is read and ignored.
cr=$(printf '\r')
read -r method target _ || exit 0
headers=
length=0
while IFS= read -r header; do
  header=${header%"$cr"}
  [ -z "$header" ] && break
  headers="$headers$header
"
  case $header in [Cc]ontent-[Ll]ength:*) length=$(printf '%s' "${header#*:}" | tr -dc 0-9) ;; esac
done
# The body is read (and ignored) so that closing the connection does not reset it.
[ "${length:-0}" -gt 0 ] && head -c "$length" >/dev/null

path=${target%%\?*}
query=
case $target in *\?*) query=${target#*\?} ;; esac

# respond STATUS CONTENT-TYPE BODY [EXTRA-HEADER-LINE]
respond() {
  body=$3
  extra=${4:+$4$cr
}
  printf 'HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %s\r\nX-Testapp-Version: %s\r\n%sConnection: close\r\n\r\n' \
    "$1" "$2" "$(printf '%s' "$body" | wc -c)" "${APP_VERSION:-dev}" "$extra"
  [ "$method" = HEAD ] || printf '%s' "$body"
  echo "testapp: $method $target $1" >&2
}

# The report of GET /, built by one awk run: the container's environment is awk's ENVIRON.
report() {
  awk 'function q(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
    BEGIN {
      n = split(ENVIRON["REPORT_ENV"], names, /[ ,]+/); env = ""
      for (i = 1; i <= n; i++) {
        if (names[i] !~ /^[A-Za-z_][A-Za-z0-9_]*$/) continue
        env = env (env == "" ? "" : ",") q(names[i]) ":" q(ENVIRON[names[i]])
      }
      version = ENVIRON["APP_VERSION"]; if (version == "") version = "dev"
      printf "{\"version\":%s,\"kamal_container_name\":%s,\"kamal_version\":%s,\"kamal_host\":%s,\"hostname\":%s,\"env\":{%s}}\n",
        q(version), q(ENVIRON["KAMAL_CONTAINER_NAME"]), q(ENVIRON["KAMAL_VERSION"]),
        q(ENVIRON["KAMAL_HOST"]), q(ENVIRON["HOSTNAME"]), env
    }'
}

case $path in
  /up)
    if [ "${FAIL_HEALTHCHECK:-0}" = 1 ] || [ -e /tmp/unhealthy ]; then
      respond "503 Service Unavailable" text/plain "unhealthy
"
    else
      respond "200 OK" text/plain "ok
"
    fi
    ;;
  /)
    respond "200 OK" application/json "$(report)
"
    ;;
  /slow)
    seconds=$(printf '%s' "$query" | tr '&' '\n' | sed -n 's/^seconds=\([0-9]*\)$/\1/p' | head -n 1)
    seconds=${seconds:-1}
    [ "$seconds" -le 600 ] || seconds=600
    sleep "$seconds"
    respond "200 OK" application/json "{\"slept\":$seconds}
"
    ;;
  /assets/*)
    name=${path#/assets/}
    case $name in
      */*|.*|'') file= ;;
      *) file=/app/public/assets/$name ;;
    esac
    if [ -n "$file" ] && [ -f "$file" ]; then
      respond "200 OK" text/css "$(cat "$file")
"
    else
      respond "404 Not Found" text/plain "not found
"
    fi
    ;;
  /headers)
    respond "200 OK" text/plain "$headers"
    ;;
  /redirect)
    to=$(printf '%s' "$query" | tr '&' '\n' | sed -n 's/^to=\(\/[-_./A-Za-z0-9]*\)$/\1/p' | head -n 1)
    respond "302 Found" text/plain "" "Location: ${to:-/}"
    ;;
  *)
    respond "404 Not Found" text/plain "not found
"
    ;;
esac
