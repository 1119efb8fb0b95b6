#!/usr/bin/env bash
# Dump DATABASE_URL (pg_dump, custom format) into BACKUP_DIR as insta-connect-<UTC time>.dump,
# then delete all but the newest BACKUP_KEEP dumps. Restore one with scripts/restore.sh.
# Run daily by insta-connect-backup.timer, which reads DATABASE_URL from the env file.
# Environment: DATABASE_URL (required), BACKUP_DIR (default $VAR_DIR/backups, VAR_DIR defaulting
# to ./var), BACKUP_KEEP (default 14), PG_BIN (directory of pg_dump; default: PATH).
set -euo pipefail
# shellcheck source=lib/pg.sh
. "$(dirname "$0")/lib/pg.sh"
split_database_url

backup_dir=${BACKUP_DIR:-${VAR_DIR:-./var}/backups}
keep=${BACKUP_KEEP:-14}
if ! [[ $keep =~ ^[1-9][0-9]*$ ]]; then
  echo "BACKUP_KEEP must be a whole number of at least 1, got '$keep'" >&2
  exit 2
fi
mkdir -p "$backup_dir"
chmod 700 "$backup_dir"

target="$backup_dir/insta-connect-$(date -u +%Y%m%dT%H%M%SZ).dump"
partial="$target.partial"
# Written under another name first: a dump cut short never looks like a finished one.
"$(pg_tool pg_dump)" --format=custom --file="$partial" "$DB_URL"
mv "$partial" "$target"
echo "backup: wrote $target ($(du -h "$target" | cut -f1))"

# Newest first by name (the names sort by time); everything after the first $keep goes.
mapfile -t dumps < <(find "$backup_dir" -maxdepth 1 -name 'insta-connect-*.dump' -printf '%f\n' | sort -r)
for old in "${dumps[@]:$keep}"; do
  rm -f -- "${backup_dir:?}/$old"
  echo "backup: removed $backup_dir/$old (keeping the newest $keep)"
done
