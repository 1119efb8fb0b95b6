# shellcheck shell=bash
# Shared by backup.sh and restore.sh (sourced, not run): which PostgreSQL client binaries to use,
# and DATABASE_URL split so the password travels in PGPASSWORD, not on a command line that any
# local user could read in `ps`.

# pg_tool NAME: PG_BIN/NAME when PG_BIN is set (a client matching the server's major version),
# otherwise NAME from PATH.
pg_tool() { printf '%s' "${PG_BIN:+${PG_BIN%/}/}$1"; }

# split_database_url: DATABASE_URL without its password into DB_URL; the password, percent-decoded,
# into the exported PGPASSWORD (left as it is when the URL carries none).
# shellcheck disable=SC2034  # DB_URL is read by the scripts that source this file
split_database_url() {
  if [ -z "${DATABASE_URL:-}" ]; then
    echo "DATABASE_URL is not set" >&2
    exit 2
  fi
  local pattern='^([a-z]+://[^:/@]+):([^@]*)@(.*)$'
  if [[ $DATABASE_URL =~ $pattern ]]; then
    DB_URL="${BASH_REMATCH[1]}@${BASH_REMATCH[3]}"
    local encoded=${BASH_REMATCH[2]}
    encoded=${encoded//\\/\\\\}
    PGPASSWORD=$(printf '%b' "${encoded//%/\\x}")
    export PGPASSWORD
  else
    DB_URL=$DATABASE_URL
  fi
}
