#!/usr/bin/env bash
# The webhook receivers as Meta sees them (SPEC 7): the verification handshake, and signed,
# unsigned, wrongly signed and non-JSON deliveries on /webhook and /webhooks/whatsapp.
# Each signed delivery is a real, stored event for an id no account owns (verify-<time>-<n>), kept
# and counted as "owner unknown" like any other.
# Usage: scripts/test-webhooks.sh BASE_URL APP_SECRET [VERIFY_TOKEN]
# APP_SECRET is META_APP_SECRET; it is handed to openssl on its command line, so run this from a
# machine where nobody else can list your processes.
set -uo pipefail
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_base_url "$(basename "$0") BASE_URL APP_SECRET [VERIFY_TOKEN]" "$@"
if [ -z "${2:-}" ]; then
  printf 'usage: %s BASE_URL APP_SECRET [VERIFY_TOKEN]\n' "$(basename "$0")" >&2
  exit 2
fi
APP_SECRET=$2
VERIFY_TOKEN=${3:-}
RUN_ID="verify-$(date +%s)-$RANDOM"

# sign FILE SECRET: the X-Hub-Signature-256 value Meta would send for those exact bytes.
sign() {
  printf 'sha256=%s' "$(openssl dgst -sha256 -hmac "$2" <"$1" | sed 's/^.*= *//')"
}

# deliver PATH FILE [SIGNATURE]: POST the file's bytes as Meta does, signed when a signature is given.
deliver() {
  local headers=(-H 'Content-Type: application/json')
  [ -n "${3:-}" ] && headers+=(-H "X-Hub-Signature-256: $3")
  request POST "$1" "${headers[@]}" --data-binary "@$2"
}

envelope() {
  printf '{"object":"%s","entry":[{"id":"%s","time":%s,"changes":[{"field":"verify_script","value":{"run":"%s"}}]}]}' \
    "$1" "$RUN_ID-$2" "$(date +%s)" "$RUN_ID"
}

handshake() {
  local path=$1 token=$2 challenge=$3
  request GET "$path" -G --data-urlencode hub.mode=subscribe --data-urlencode "hub.verify_token=$token" \
    --data-urlencode "hub.challenge=$challenge"
}

for path in /webhook /webhooks/whatsapp; do
  if [ -n "$VERIFY_TOKEN" ]; then
    challenge="challenge-$RANDOM$RANDOM"
    handshake "$path" "$VERIFY_TOKEN" "$challenge"
    if status_is 200 && body_is "$challenge"; then
      pass "GET $path handshake with the verify token echoes the challenge"
    else
      fail "GET $path handshake with the verify token echoes the challenge ($(got): $(head -c 80 "$WORK/body" | tr -s '\n' ' '))"
    fi
  else
    printf 'SKIP  GET %s handshake (no VERIFY_TOKEN given)\n' "$path"
  fi
  handshake "$path" "wrong-$VERIFY_TOKEN-$RANDOM" "challenge-$RANDOM"
  expect_status "GET $path handshake with a wrong verify token: 403" 403
done

object_for() { if [ "$1" = /webhooks/whatsapp ]; then echo whatsapp_business_account; else echo page; fi; }
n=0
for path in /webhook /webhooks/whatsapp; do
  n=$((n + 1))
  envelope "$(object_for "$path")" "$n" >"$WORK/event.json"
  deliver "$path" "$WORK/event.json" "$(sign "$WORK/event.json" "$APP_SECRET")"
  expect_status "POST $path signed with the app secret: 200" 200
done

envelope page unsigned >"$WORK/unsigned.json"
deliver /webhook "$WORK/unsigned.json"
expect_status "POST /webhook without a signature: 401" 401

envelope page forged >"$WORK/forged.json"
deliver /webhook "$WORK/forged.json" "$(sign "$WORK/forged.json" "not-$APP_SECRET")"
expect_status "POST /webhook signed with another secret: 401" 401

deliver /webhook "$WORK/event.json" "$(sign "$WORK/event.json" "$APP_SECRET")"
expect_status "POST /webhooks/whatsapp's delivery again on /webhook (a duplicate): 200" 200

printf '{"hello":"world"}' >"$WORK/not-envelope.json"
deliver /webhook "$WORK/not-envelope.json" "$(sign "$WORK/not-envelope.json" "$APP_SECRET")"
expect_status "POST /webhook signed JSON that is not a Meta envelope: 400" 400

printf 'this is not JSON' >"$WORK/not-json.txt"
deliver /webhook "$WORK/not-json.txt" "$(sign "$WORK/not-json.txt" "$APP_SECRET")"
expect_status "POST /webhook signed but not JSON: 400" 400

finish
