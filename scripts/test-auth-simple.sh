#!/usr/bin/env bash
# The account flow a user goes through, end to end: register a throwaway account, status before
# and after, log out, a wrong password refused, the right one accepted, log out again.
# It leaves one account named verify-<time>-<random>@example.invalid behind on the server.
# Usage: scripts/test-auth-simple.sh BASE_URL
set -uo pipefail
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_base_url "$(basename "$0") BASE_URL" "$@"

EMAIL="verify-$(date +%s)-$RANDOM@example.invalid"
PASSWORD="pw-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
TOKEN=""

# A page's CSRF token, as the browser has it: every form post needs the current one.
fresh_token() {
  request GET "$1"
  TOKEN=$(csrf_token)
}

status_says() {
  request GET /auth/status
  body_has "$1"
}

post_form() {
  local path=$1
  shift
  # A browser's Referer: over HTTPS the app's CSRF check wants one from the same origin.
  local fields=(--referer "$BASE_URL$path" --data-urlencode "csrf_token=$TOKEN")
  local field
  for field in "$@"; do fields+=(--data-urlencode "$field"); done
  request POST "$path" "${fields[@]}"
}

redirected_to() { status_is 302 && [[ $(location) == *"$1" ]]; }

fresh_token /auth/register
check "GET /auth/register gives a CSRF token" test -n "$TOKEN"
check "before: /auth/status says nobody is logged in" status_says '"authenticated": *false'

post_form /auth/register "email=$EMAIL" "password=$PASSWORD"
if redirected_to /; then pass "register $EMAIL: 302 to /"; else fail "register $EMAIL: 302 to / ($(got))"; fi
check "after registering: /auth/status names $EMAIL" status_says "\"email\": *\"$EMAIL\""

fresh_token /
post_form /auth/logout
if redirected_to /auth/login; then pass "log out: 302 to /auth/login"; else fail "log out: 302 to /auth/login ($(got))"; fi
check "after logging out: /auth/status says nobody is logged in" status_says '"authenticated": *false'

fresh_token /auth/login
post_form /auth/login "email=$EMAIL" "password=wrong-$PASSWORD"
expect_status "log in with a wrong password: 401" 401
check "after the wrong password: still nobody logged in" status_says '"authenticated": *false'

fresh_token /auth/login
post_form /auth/login "email=$EMAIL" "password=$PASSWORD"
if redirected_to /; then pass "log in with the right password: 302 to /"; else fail "log in with the right password: 302 to / ($(got))"; fi
check "after logging in: /auth/status names $EMAIL" status_says "\"email\": *\"$EMAIL\""

fresh_token /
post_form /auth/logout
expect_status "log out again: 302" 302
check "finally: nobody logged in" status_says '"authenticated": *false'

finish
