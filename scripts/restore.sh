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

# The dump as SQL first (a dump that cannot be read stops here, before anything is touched); then one
# transaction, so a restore that fails part-way leaves the database as it was. Partitioned tables
# (webhook_events, migration 0121) go first, whole: pg_restore --clean drops each partition's key on
# its own, which PostgreSQL refuses for a key that its parent's key owns.
script=$(mktemp)
trap 'rm -f "$script"' EXIT
"$(pg_tool pg_restore)" --clean --if-exists --no-owner --no-privileges --file="$script" "$1"
{
  cat <<'SQL'
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_class c
             WHERE c.relkind = 'p' AND c.relnamespace = 'public'::regnamespace AND NOT c.relispartition LOOP
        EXECUTE format('DROP TABLE %s CASCADE', r.t);
    END LOOP;
END $$;
SQL
  cat "$script"
} | "$(pg_tool psql)" --no-psqlrc --quiet --single-transaction -v ON_ERROR_STOP=1 --dbname="$DB_URL" >/dev/null
echo "restore: $1 restored into the database"
