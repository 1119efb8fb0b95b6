#!/usr/bin/env bash
# Restore a dump made by backup.sh into DATABASE_URL, replacing what is there. The database must
# exist (deploy.sh's database step creates it; or `createdb`); stop the app and the processor
# first so nothing writes while it is replaced:
#   systemctl stop insta-connect-web insta-connect-processor
#   sudo -u insta-connect env DATABASE_URL=... scripts/restore.sh /var/lib/insta-connect/backups/insta-connect-....dump
#   systemctl start insta-connect-migrate insta-connect-web insta-connect-processor
# Environment: DATABASE_URL (required), PG_BIN (directory of pg_restore; default: PATH).
set -euo pipefail
# shellcheck source=lib/pg.sh
. "$(dirname "$0")/lib/pg.sh"

if [ $# -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: $(basename "$0") DUMP_FILE   (a file written by scripts/backup.sh)" >&2
  exit 2
fi
split_database_url

# One transaction: a restore that fails part-way leaves the database as it was.
"$(pg_tool pg_restore)" --clean --if-exists --no-owner --no-privileges --single-transaction \
  --exit-on-error --dbname="$DB_URL" "$1"
echo "restore: $1 restored into the database"
