# shellcheck shell=bash
# Shared by the verification scripts (sourced, not run): one line per check, a failure count,
# and an HTTP helper that keeps cookies like a browser. Needs curl; BASE_URL must be set.

CHECKS=0
FAILURES=0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
: >"$WORK/cookies"

pass() { CHECKS=$((CHECKS + 1)); printf 'PASS  %s\n' "$*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); printf 'FAIL  %s\n' "$*"; }

# check DESCRIPTION COMMAND [ARGS...]: PASS when the command succeeds, FAIL otherwise.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

# request METHOD PATH [CURL_ARGS...]: sets STATUS (000 when nothing answered); the body is in
# $WORK/body and the response headers in $WORK/headers. Redirects are not followed.
request() {
  local method=$1 path=$2
  shift 2
  : >"$WORK/body"
  : >"$WORK/headers"
  STATUS=$(curl --silent --show-error --max-time "${CHECK_TIMEOUT:-10}" -X "$method" \
    -b "$WORK/cookies" -c "$WORK/cookies" -o "$WORK/body" -D "$WORK/headers" \
    -w '%{http_code}' "$@" "$BASE_URL$path" 2>"$WORK/curl-error") || STATUS=000
}

status_is() { [ "$STATUS" = "$1" ]; }
body_has() { grep -Eq -- "$1" "$WORK/body"; }
body_is() { [ "$(cat "$WORK/body")" = "$1" ]; }
# header_has NAME [VALUE_REGEX]: the last response carries that header (case-insensitive name).
header_has() { grep -Eiq "^$1:[[:space:]]*${2:-.}" "$WORK/headers"; }
location() { sed -n 's/^[Ll]ocation:[[:space:]]*\([^[:space:]]*\).*/\1/p' "$WORK/headers" | tail -n 1; }
csrf_token() { sed -n 's/.*<meta name="csrf-token" content="\([^"]*\)".*/\1/p' "$WORK/body" | head -n 1; }

# What was answered, for a FAIL line: the status, or curl's reason when nothing answered.
got() {
  if [ "$STATUS" = 000 ]; then printf 'no answer: %s' "$(head -c 200 "$WORK/curl-error")"; else printf 'got %s' "$STATUS"; fi
}

# finish: the summary line, and the exit status the caller's caller sees.
finish() {
  if [ "$FAILURES" -gt 0 ]; then
    printf '%d of %d checks failed against %s\n' "$FAILURES" "$CHECKS" "$BASE_URL"
    exit 1
  fi
  printf 'all %d checks passed against %s\n' "$CHECKS" "$BASE_URL"
}

# need_base_url USAGE "$@": BASE_URL from the first argument, without a trailing slash.
need_base_url() {
  if [ -z "${2:-}" ]; then
    printf 'usage: %s\n' "$1" >&2
    exit 2
  fi
  BASE_URL=${2%/}
}

# expect_status DESCRIPTION CODE: PASS when the last request answered CODE; the FAIL line says
# what came back instead.
expect_status() {
  if status_is "$2"; then pass "$1"; else fail "$1 ($(got))"; fi
}
