#!/usr/bin/env bash
# Is the deployment up? Health with the database, the login page with its CSRF token, the
# security headers, and login required where it should be. Read-only: it changes nothing.
# Usage: scripts/quick-verify.sh BASE_URL     (e.g. https://connect.example.com)
set -uo pipefail
# shellcheck source=lib/checks.sh
. "$(dirname "$0")/lib/checks.sh"
need_base_url "$(basename "$0") BASE_URL" "$@"

csp_forbids_inline_script() {
  local csp
  csp=$(grep -i '^Content-Security-Policy:' "$WORK/headers")
  [[ $csp == *script-src* && $csp != *unsafe-inline* ]]
}

request GET /healthz
expect_status "GET /healthz answers 200" 200
check "GET /healthz reports status ok" body_has '"status": *"ok"'
check "GET /healthz reports the database ok" body_has '"database": *"ok"'
check "GET /healthz is JSON" header_has Content-Type 'application/json'

request GET /auth/login
expect_status "GET /auth/login answers 200" 200
check "the login page carries a CSRF token in <meta name=\"csrf-token\">" test -n "$(csrf_token)"
check "header Content-Security-Policy, with script-src and no inline script" csp_forbids_inline_script
check "header X-Frame-Options" header_has X-Frame-Options 'DENY|SAMEORIGIN'
check "header X-Content-Type-Options: nosniff" header_has X-Content-Type-Options nosniff
check "header Referrer-Policy" header_has Referrer-Policy
check "header X-Request-ID (the id the logs carry)" header_has X-Request-ID

request GET /
if status_is 302 && [[ $(location) == */auth/login* ]]; then
  pass "GET / sends an anonymous visitor to the login page"
else
  fail "GET / sends an anonymous visitor to the login page ($(got), Location: $(location))"
fi

request GET /auth/status
expect_status "GET /auth/status answers 200" 200
check "GET /auth/status says nobody is logged in" body_has '"authenticated": *false'

finish
