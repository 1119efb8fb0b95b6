#!/usr/bin/env bash
# Install or upgrade Insta Connect on a Debian VPS. Idempotent: run it again after every change.
#
# From your machine, over SSH (ships this checkout to the host, then installs there as root):
#   scripts/deploy.sh --host root@vps.example.com --domain connect.example.com [--email you@example.com]
# On the VPS itself, as root, from a checkout:
#   scripts/deploy.sh --local --domain connect.example.com [--email you@example.com]
# Options:
#   --dry-run      print every step and command; change nothing, connect to nothing
#   --only STEP    run one step (see STEPS below), e.g. --only units after editing a unit
#   --render DIR   write the units and the nginx site as they would be installed into DIR, and stop
#   --email EMAIL  get a Let's Encrypt certificate for --domain (certbot, HTTP-01 via nginx);
#                  without it nginx serves a self-signed certificate
# Environment (all optional):
#   META_APP_ID, META_APP_SECRET, TIKTOK_CLIENT_KEY, TIKTOK_CLIENT_SECRET: written into the env
#     file when set (otherwise set them there by hand; the migrate step waits for the Meta pair)
#   APP_DIR (/opt/insta-connect), ETC_DIR (/etc/insta-connect), APP_USER (insta-connect),
#   DB_NAME and DB_USER (insta_connect), PROCESSOR_MODE (follow: the follow-mode service; timer:
#   the one-minute and five-minute timers instead), SSH_OPTS (extra options for ssh)
#   WEBHOOK_MTLS_CA_FILE: the CA file of Meta's webhook client certificates on the host; nginx then
#     verifies them (optional mutual TLS) and WEBHOOK_REQUIRE_MTLS=1 makes the app insist on them
# Generated secrets (SECRET_KEY, TOKEN_ENCRYPTION_KEYS, META_VERIFY_TOKEN, the database password)
# are written once into $ETC_DIR/insta-connect.env and never replaced by a later run.
set -euo pipefail

STEPS=(packages user code venv secrets database units migrate nginx tls start verify)
SOURCE_DIR=$(cd "$(dirname "$0")/.." && pwd)

APP_DIR=${APP_DIR:-/opt/insta-connect}
ETC_DIR=${ETC_DIR:-/etc/insta-connect}
APP_USER=${APP_USER:-insta-connect}
DB_NAME=${DB_NAME:-insta_connect}
DB_USER=${DB_USER:-insta_connect}
PROCESSOR_MODE=${PROCESSOR_MODE:-follow}
SYSTEMD_DIR=/etc/systemd/system
STATE_DIR=/var/lib/insta-connect
ACME_ROOT=/var/www/insta-connect-acme
ENV_FILE="$ETC_DIR/insta-connect.env"
# Settings handed from the operator's environment to the env file (and over SSH to the host).
PASSED_SETTINGS=(META_APP_ID META_APP_SECRET TIKTOK_CLIENT_KEY TIKTOK_CLIENT_SECRET WEBHOOK_REQUIRE_MTLS)
JOB_TIMERS=(refresh-tokens refresh-tiktok sync-account-data monitor-tokens sync-templates prune backup)

DRY_RUN=0
MODE=""
HOST=""
DOMAIN=""
EMAIL=""
ONLY=""
RENDER_DIR=""

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
  exit "${1:-0}"
}

die() {
  printf 'deploy: %s\n' "$*" >&2
  exit 1
}

# Printing ------------------------------------------------------------------------------------

step_number=0
step() {
  step_number=$((step_number + 1))
  printf '\n==> step %d: %s: %s\n' "$step_number" "$1" "$2"
}

show() {
  local word line=""
  for word in "$@"; do
    # <placeholders> stand for something not worth quoting (a rendered file, an SQL script).
    if [[ $word == \<*\> ]]; then line+=" $word"; else line+=" $(printf '%q' "$word")"; fi
  done
  printf '    $%s\n' "$line"
}

# run COMMAND...: print it; run it unless this is a dry run.
run() {
  show "$@"
  [ "$DRY_RUN" = 1 ] || "$@"
}

# probe COMMAND...: a read-only question about the host. A dry run asks nothing and answers "no",
# so it prints what a fresh host would get.
probe() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '    ? %s\n' "$*"
    return 1
  fi
  "$@" >/dev/null 2>&1
}

note() { printf '    %s\n' "$*"; }

# Files -----------------------------------------------------------------------------------------

# render FILE: a file of deployment/ as installed here (paths, user and domain substituted).
render() {
  local mtls=(-e "/^ *#mtls /d")
  if [ -n "${WEBHOOK_MTLS_CA_FILE:-}" ]; then
    mtls=(-e "s|^\( *\)#mtls |\1|" -e "s#/etc/insta-connect/tls/meta-client-ca.pem#$WEBHOOK_MTLS_CA_FILE#g")
  fi
  sed "${mtls[@]}" -e "s#/opt/insta-connect#$APP_DIR#g" \
    -e "s#^User=insta-connect\$#User=$APP_USER#" -e "s#^Group=insta-connect\$#Group=$APP_USER#" \
    -e "s#insta-connect\\.example\\.com#${DOMAIN:-insta-connect.example.com}#g" "$1"
}

# install_rendered SOURCE DEST: render SOURCE into DEST (root-owned, mode 0644).
install_rendered() {
  show install -m 0644 "<rendered $1>" "$2"
  [ "$DRY_RUN" = 1 ] && return 0
  render "$1" >"$2.tmp"
  chmod 0644 "$2.tmp"
  mv "$2.tmp" "$2"
}

unit_files() {
  local f
  for f in "$SOURCE_DIR"/deployment/systemd/*.service "$SOURCE_DIR"/deployment/systemd/*.timer; do
    printf '%s\n' "$f"
  done
}

render_all() {
  local dir=$1 f
  mkdir -p "$dir/systemd/insta-connect-.service.d" "$dir/nginx"
  while read -r f; do render "$f" >"$dir/systemd/$(basename "$f")"; done < <(unit_files)
  render "$SOURCE_DIR/deployment/systemd/insta-connect-.service.d/hardening.conf" \
    >"$dir/systemd/insta-connect-.service.d/hardening.conf"
  render "$SOURCE_DIR/deployment/nginx/insta-connect.conf" >"$dir/nginx/insta-connect.conf"
  printf 'rendered the units into %s/systemd and the nginx site into %s/nginx\n' "$dir" "$dir"
}

# The env file ----------------------------------------------------------------------------------

env_get() {
  [ -f "$ENV_FILE" ] || return 0
  sed -n "s/^$1=//p" "$ENV_FILE" | tail -n 1
}

# env_set KEY VALUE: replace or append KEY, keeping the file's mode and owner. The value goes
# through the environment, never a command line, and is never printed.
env_set() {
  local tmp="$ENV_FILE.tmp"
  install -m 0640 -o root -g "$APP_USER" /dev/null "$tmp"
  KEY=$1 VALUE=$2 awk '
    index($0, ENVIRON["KEY"] "=") == 1 { if (!done) print ENVIRON["KEY"] "=" ENVIRON["VALUE"]; done = 1; next }
    { print }
    END { if (!done) print ENVIRON["KEY"] "=" ENVIRON["VALUE"] }
  ' "$ENV_FILE" >>"$tmp"
  mv "$tmp" "$ENV_FILE"
}

# env_default KEY GENERATOR...: set KEY from the generator's output only when it has no value yet.
env_default() {
  local key=$1
  shift
  if [ "$DRY_RUN" = 1 ]; then
    if [ "$1" = print_value ]; then
      note "set $key=$2 in $ENV_FILE if it has no value yet"
    else
      note "set $key in $ENV_FILE from \`$*\` if it has no value yet"
    fi
    return 0
  fi
  if [ -n "$(env_get "$key")" ]; then
    note "$key: kept"
  else
    env_set "$key" "$("$@")"
    note "$key: generated"
  fi
}

database_url_for_local_server() {
  printf 'postgresql://%s:%s@127.0.0.1:5432/%s' "$DB_USER" "$(openssl rand -hex 24)" "$DB_NAME"
}

print_value() { printf '%s' "$1"; }

# The steps -------------------------------------------------------------------------------------

step_packages() {
  step packages "Debian packages: Python, PostgreSQL, nginx, openssl, curl, rsync${EMAIL:+, certbot}"
  local packages=(python3 python3-venv postgresql nginx openssl curl rsync ca-certificates)
  [ -n "$EMAIL" ] && packages+=(certbot)
  run apt-get update -qq
  run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}"
}

step_user() {
  step user "the system user $APP_USER (no login shell, no home of its own)"
  if probe id -u "$APP_USER"; then
    note "$APP_USER exists"
  else
    run adduser --system --group --home "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$APP_USER"
  fi
}

step_code() {
  step code "the code in $APP_DIR, owned by root so the service cannot change it"
  if [ "$SOURCE_DIR" = "$APP_DIR" ]; then
    note "running from $APP_DIR itself; nothing to copy"
    return 0
  fi
  run mkdir -p "$APP_DIR"
  run rsync -a --delete --chown=root:root --chmod=go-w --exclude=/.venv --exclude=/var \
    --exclude=/.git --exclude=/.env --exclude=__pycache__ --exclude=/.pytest_cache \
    "$SOURCE_DIR/" "$APP_DIR/"
}

step_venv() {
  step venv "the virtualenv $APP_DIR/.venv with requirements.txt, bytecode compiled ahead"
  if probe test -x "$APP_DIR/.venv/bin/python"; then
    note "virtualenv exists"
  else
    run python3 -m venv "$APP_DIR/.venv"
  fi
  run "$APP_DIR/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$APP_DIR/requirements.txt"
  # The units set PYTHONDONTWRITEBYTECODE (the code is read-only to them), so compile it now.
  run "$APP_DIR/.venv/bin/python" -m compileall -q -x '/\.venv/' "$APP_DIR"
}

step_secrets() {
  step secrets "$ENV_FILE: generated secrets kept across runs, settings from your environment"
  run install -d -m 0750 -o root -g "$APP_USER" "$ETC_DIR"
  if probe test -f "$ENV_FILE"; then
    note "$ENV_FILE exists"
  else
    run install -m 0640 -o root -g "$APP_USER" "$SOURCE_DIR/deployment/insta-connect.env.example" "$ENV_FILE"
  fi
  env_default APP_ENV print_value production
  env_default PUBLIC_BASE_URL print_value "https://$DOMAIN"
  env_default TRUSTED_PROXY_COUNT print_value 1
  env_default SECRET_KEY openssl rand -hex 32
  env_default TOKEN_ENCRYPTION_KEYS openssl rand -base64 32
  env_default META_VERIFY_TOKEN openssl rand -hex 24
  env_default DATABASE_URL database_url_for_local_server
  local name
  for name in "${PASSED_SETTINGS[@]}"; do
    [ -n "${!name:-}" ] || continue
    if [ "$DRY_RUN" = 1 ]; then
      note "set $name in $ENV_FILE from your environment"
    else
      env_set "$name" "${!name}"
      note "$name: set from your environment"
    fi
  done
}

step_database() {
  step database "PostgreSQL role $DB_USER and database $DB_NAME (created if missing, password from the env file)"
  local url pattern='^postgresql://([a-z0-9_]+):([A-Za-z0-9._~-]+)@(127\.0\.0\.1|localhost)(:[0-9]+)?/([a-z0-9_]+)$'
  if [ "$DRY_RUN" = 1 ]; then
    note "read DATABASE_URL from $ENV_FILE; for 127.0.0.1 or localhost:"
    show runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres "<create role and database if missing, set the password>"
    return 0
  fi
  url=$(env_get DATABASE_URL)
  if ! [[ $url =~ $pattern ]]; then
    note "DATABASE_URL is not user:password@127.0.0.1/name in plain letters and digits; create that database yourself"
    return 0
  fi
  run systemctl enable --now postgresql.service
  show runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres "<create role and database if missing, set the password>"
  # The password goes in on stdin, never on a command line. From /: psql starts in the caller's
  # directory, and postgres may not enter it (over SSH that is /root: "could not change directory").
  (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres) <<SQL
\\set db_user '${BASH_REMATCH[1]}'
\\set db_password '${BASH_REMATCH[2]}'
\\set db_name '${BASH_REMATCH[5]}'
SELECT format('CREATE ROLE %I LOGIN', :'db_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'db_user') \\gexec
ALTER ROLE :"db_user" WITH LOGIN PASSWORD :'db_password';
SELECT format('CREATE DATABASE %I OWNER %I', :'db_name', :'db_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db_name') \\gexec
SQL
}

step_units() {
  step units "systemd units into $SYSTEMD_DIR, with the shared hardening drop-in"
  local f
  run install -d -m 0755 "$SYSTEMD_DIR/insta-connect-.service.d"
  install_rendered "$SOURCE_DIR/deployment/systemd/insta-connect-.service.d/hardening.conf" \
    "$SYSTEMD_DIR/insta-connect-.service.d/hardening.conf"
  while read -r f; do install_rendered "$f" "$SYSTEMD_DIR/$(basename "$f")"; done < <(unit_files)
  # Units earlier versions installed and this one no longer ships (the five-minute retry timer
  # only repeated the one-minute drain, which takes retries as they fall due).
  f=insta-connect-retry-webhooks.timer
  if probe test -e "$SYSTEMD_DIR/$f"; then
    run systemctl disable --now "$f"
    run rm -f "$SYSTEMD_DIR/$f"
  fi
  run systemctl daemon-reload
}

step_migrate() {
  step migrate "apply pending migrations (insta-connect-migrate.service)"
  if [ "$DRY_RUN" = 0 ] && { [ -z "$(env_get META_APP_ID)" ] || [ -z "$(env_get META_APP_SECRET)" ]; }; then
    die "set META_APP_ID and META_APP_SECRET in $ENV_FILE (docs/meta-app-setup.md says where to find them), then run deploy.sh again; everything so far is kept"
  fi
  note "needs META_APP_ID and META_APP_SECRET in $ENV_FILE"
  run systemctl start insta-connect-migrate.service
}

step_nginx() {
  step nginx "the nginx site for $DOMAIN (HTTP to HTTPS, TLS, proxy to 127.0.0.1:8000)"
  run install -d -m 0755 "$ACME_ROOT"
  run install -d -m 0750 "$ETC_DIR/tls"
  if probe test -e "$ETC_DIR/tls/fullchain.pem"; then
    note "a certificate is in place"
  else
    note "no certificate yet: a self-signed one lets nginx start"
    run openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=$DOMAIN" \
      -keyout "$ETC_DIR/tls/privkey.pem" -out "$ETC_DIR/tls/fullchain.pem"
  fi
  install_rendered "$SOURCE_DIR/deployment/nginx/insta-connect.conf" /etc/nginx/sites-available/insta-connect.conf
  run ln -sfn ../sites-available/insta-connect.conf /etc/nginx/sites-enabled/insta-connect.conf
  run nginx -t -q
  run systemctl enable nginx.service
  run systemctl reload-or-restart nginx.service
}

step_tls() {
  step tls "a Let's Encrypt certificate for $DOMAIN"
  if [ -z "$EMAIL" ]; then
    note "skipped: no --email given; nginx keeps its self-signed certificate"
    return 0
  fi
  local live="/etc/letsencrypt/live/$DOMAIN"
  if probe test -e "$live/fullchain.pem"; then
    note "certificate exists; certbot's timer renews it"
  else
    run certbot certonly --webroot -w "$ACME_ROOT" -d "$DOMAIN" --email "$EMAIL" --agree-tos \
      --non-interactive --deploy-hook "systemctl reload nginx"
  fi
  run ln -sfn "$live/fullchain.pem" "$ETC_DIR/tls/fullchain.pem"
  run ln -sfn "$live/privkey.pem" "$ETC_DIR/tls/privkey.pem"
  run systemctl reload nginx.service
}

step_start() {
  step start "enable and (re)start the services and timers (processor: $PROCESSOR_MODE mode)"
  local timers=() name
  for name in "${JOB_TIMERS[@]}"; do timers+=("insta-connect-$name.timer"); done
  run systemctl enable --now insta-connect-web.service "${timers[@]}"
  # HUP: gunicorn starts workers on the new code, then retires the old ones; no request is dropped.
  # But the new workers inherit the master's environment, read when it started: a changed env file
  # (a rotated META_APP_SECRET) reaches gunicorn only by a restart. "$ENV_FILE.started" holds the
  # checksum of the env file the running services started with.
  local env_sum="" started="$ENV_FILE.started"
  [ -f "$ENV_FILE" ] && env_sum=$(sha256sum <"$ENV_FILE" | cut -d' ' -f1)
  if [ -n "$env_sum" ] && [ -f "$started" ] && [ "$(cat "$started")" = "$env_sum" ]; then
    run systemctl reload insta-connect-web.service
  else
    note "$ENV_FILE changed since insta-connect-web started: restarting it, since a reload keeps the old environment"
    run systemctl restart insta-connect-web.service
  fi
  # Background jobs (the template sync queued when a WhatsApp account connects) run on new code.
  run systemctl enable insta-connect-jobs-worker.service
  run systemctl restart insta-connect-jobs-worker.service
  if [ "$PROCESSOR_MODE" = timer ]; then
    run systemctl disable --now insta-connect-processor.service
    run systemctl enable --now insta-connect-process-webhooks.timer
  else
    run systemctl disable --now insta-connect-process-webhooks.timer
    run systemctl enable insta-connect-processor.service
    run systemctl restart insta-connect-processor.service
  fi
  # Replies (SPEC 16): the sender runs in follow mode whatever the processor's mode.
  run systemctl enable insta-connect-sender.service
  run systemctl restart insta-connect-sender.service
  # The processor, the jobs worker and the sender were restarted above; the timers' jobs start afresh each time.
  note "insta-connect-processor, insta-connect-jobs-worker and insta-connect-sender restarted: they read $ENV_FILE anew"
  if [ "$DRY_RUN" = 0 ] && [ -n "$env_sum" ]; then printf '%s\n' "$env_sum" >"$started"; fi
}

step_verify() {
  local bind
  bind=$(env_get GUNICORN_BIND)
  bind=${bind:-127.0.0.1:8000}
  step verify "scripts/quick-verify.sh against gunicorn on $bind"
  run curl --silent --output /dev/null --retry 15 --retry-connrefused --retry-delay 1 "http://$bind/healthz"
  run "$APP_DIR/scripts/quick-verify.sh" "http://$bind"
  note "from your machine: scripts/quick-verify.sh https://$DOMAIN, scripts/test-webhooks.sh https://$DOMAIN APP_SECRET VERIFY_TOKEN"
}

# Modes -----------------------------------------------------------------------------------------

preflight() {
  if [ "$DRY_RUN" = 1 ]; then
    note "? running as root, on Debian, with systemd 246 or newer (for the insta-connect-.service.d drop-in)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "run as root (or use --host root@...)"
  [ -f /etc/debian_version ] || die "this installs on Debian (or a derivative); /etc/debian_version is missing"
  local version
  version=$(systemctl --version | awk 'NR == 1 { print $2 }')
  [ "${version%%.*}" -ge 246 ] || die "systemd $version is too old: the shared hardening drop-in needs 246 or newer"
}

deploy_local() {
  printf 'Insta Connect: %s on this machine for %s%s\n' "$([ -n "$ONLY" ] && echo "step $ONLY" || echo install)" \
    "$DOMAIN" "$([ "$DRY_RUN" = 1 ] && echo ' (dry run: nothing is changed)')"
  preflight
  local name
  for name in "${STEPS[@]}"; do
    if [ -z "$ONLY" ] || [ "$ONLY" = "$name" ]; then "step_$name"; fi
  done
  printf '\ndone%s\n' "$([ "$DRY_RUN" = 1 ] && echo ' (dry run)')"
}

# The script the host runs: exports of the settings you passed, then deploy.sh --local.
remote_script() {
  local redact=$1 name value incoming="$APP_DIR.incoming"
  for name in "${PASSED_SETTINGS[@]}" APP_DIR ETC_DIR APP_USER DB_NAME DB_USER PROCESSOR_MODE WEBHOOK_MTLS_CA_FILE; do
    [ -n "${!name:-}" ] || continue
    value=${!name}
    if [ "$redact" = 1 ] && [[ $name == *SECRET* ]]; then value="<from your environment>"; fi
    printf 'export %s=%q\n' "$name" "$value"
  done
  local args=(--local --domain "$DOMAIN")
  [ -n "$EMAIL" ] && args+=(--email "$EMAIL")
  [ -n "$ONLY" ] && args+=(--only "$ONLY")
  printf 'exec bash %q' "$incoming/scripts/deploy.sh"
  printf ' %q' "${args[@]}"
  printf '\n'
}

deploy_remote() {
  local incoming="$APP_DIR.incoming" ssh_cmd=(ssh)
  # shellcheck disable=SC2206  # SSH_OPTS is a list of options, split on purpose
  [ -n "${SSH_OPTS:-}" ] && ssh_cmd+=($SSH_OPTS)
  printf 'Insta Connect: deploy to %s for %s%s\n' "$HOST" "$DOMAIN" "$([ "$DRY_RUN" = 1 ] && echo ' (dry run: nothing is sent)')"
  step ship "this checkout to $HOST:$incoming"
  run "${ssh_cmd[@]}" "$HOST" "rm -rf $(printf '%q' "$incoming") && mkdir -p $(printf '%q' "$incoming")"
  printf '    $ tar -C %q --exclude=./.venv --exclude=./var --exclude=./.git -czf - . | %s %q tar -C %q -xzf -\n' \
    "$SOURCE_DIR" "${ssh_cmd[*]}" "$HOST" "$incoming"
  if [ "$DRY_RUN" = 0 ]; then
    tar -C "$SOURCE_DIR" --exclude=./.venv --exclude=./var --exclude=./.git --exclude=__pycache__ -czf - . |
      "${ssh_cmd[@]}" "$HOST" "tar -C $(printf '%q' "$incoming") -xzf -"
  fi
  step install "deploy.sh --local on $HOST, as root (script on stdin, so secrets stay off command lines)"
  remote_script 1 | sed 's/^/    | /'
  show "${ssh_cmd[@]}" "$HOST" bash -s
  if [ "$DRY_RUN" = 1 ]; then
    printf '\nthen, on %s:\n' "$HOST"
    DRY_RUN=1 deploy_local
  else
    remote_script 0 | "${ssh_cmd[@]}" "$HOST" bash -s
  fi
}

# Arguments -------------------------------------------------------------------------------------

while [ $# -gt 0 ]; do
  case $1 in
    --dry-run) DRY_RUN=1 ;;
    --local) MODE=local ;;
    --host) HOST=${2:?--host needs USER@HOST}; MODE=remote; shift ;;
    --domain) DOMAIN=${2:?--domain needs a name}; shift ;;
    --email) EMAIL=${2:?--email needs an address}; shift ;;
    --only) ONLY=${2:?--only needs a step}; shift ;;
    --render) RENDER_DIR=${2:?--render needs a directory}; shift ;;
    -h | --help) usage 0 ;;
    *) printf 'deploy: unknown argument %s\n\n' "$1" >&2; usage 2 ;;
  esac
  shift
done

[[ $DOMAIN =~ ^[A-Za-z0-9.-]+$ ]] || die "--domain is required (a host name such as connect.example.com)"
[[ $APP_DIR == /* && $APP_DIR != *'#'* ]] || die "APP_DIR must be an absolute path"
[[ $APP_USER =~ ^[a-z_][a-z0-9_-]*$ ]] || die "APP_USER must be a plain user name"
if [ -n "$ONLY" ] && [[ " ${STEPS[*]} " != *" $ONLY "* ]]; then
  die "--only takes one of: ${STEPS[*]}"
fi
case $PROCESSOR_MODE in follow | timer) ;; *) die "PROCESSOR_MODE must be follow or timer" ;; esac

if [ -n "$RENDER_DIR" ]; then
  render_all "$RENDER_DIR"
elif [ "$MODE" = local ]; then
  deploy_local
elif [ "$MODE" = remote ]; then
  deploy_remote
else
  die "say where: --host USER@HOST (over SSH) or --local (on this machine); --help for more"
fi
