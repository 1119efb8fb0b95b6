"""Credentials: 0060 moves every token out of the account tables intact, one status rule everywhere, no orphans."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone

import bcrypt
import psycopg2
import pytest

from tests.support.live import AuthActions, Browser, LiveServer, consent, with_database
from tests.support.rows import plant_credential
from webhook_app import create_app
from webhook_app.db.migrations import migrate, migration_files
from webhook_app.tokens import credentials, refresh
from webhook_app.tokens.vault import Vault

OLD_DB = "ic_old_shape"
LIFECYCLE = ("access_token_ciphertext", "access_token_key_id", "expires_at", "status", "status_reason")


@pytest.fixture
def old_shape_db(pg_admin_url, tmp_path):
    """A database migrated up to 0050 (tokens still on the account tables), and a folder holding up to 0060."""
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    for path in migration_files():
        if path.name[:4] <= "0060":   # later migrations are other tests' business
            shutil.copy(path, new)
        if path.name[:4] < "0060":
            shutil.copy(path, old)
    admin = psycopg2.connect(pg_admin_url)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {OLD_DB} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {OLD_DB}")
    url = with_database(pg_admin_url, OLD_DB)
    migrate(url, old)
    yield url, new
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {OLD_DB} WITH (FORCE)")
    admin.close()


def _run(url, statement, params=None):
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def _seed_old_shape(url, vault: Vault) -> dict:
    """One account of every kind written the old way; returns the plaintext tokens and the expected statuses."""
    now = datetime.now(timezone.utc)
    sealed = {name: vault.seal(f"token-{name}") for name in
              ("meta_a", "page_a", "meta_b", "page_b", "page_c", "ig_login", "wa_expired", "tt_access", "tt_refresh")}

    def seal(name):
        return (sealed[name].ciphertext, sealed[name].key_id) if name else (None, None)

    user = _run(url, "INSERT INTO users (email, password_hash) VALUES ('owner@example.com', %s) RETURNING id",
                (bcrypt.hashpw(b"correct horse", bcrypt.gensalt(4)).decode(),))[0][0]
    meta = {}
    for key, status, expires in (("a", "active", now + timedelta(days=30)),
                                 ("b", "needs_reauth", now + timedelta(days=20))):
        meta[key] = _run(url, "INSERT INTO meta_accounts (user_id, meta_user_id, name, access_token_ciphertext, "
                              "access_token_key_id, scopes, expires_at, data_access_expires_at, status, status_reason, "
                              "last_refreshed_at, refresh_claimed_until) "
                              "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                         (user, f"fb-{key}", f"Login {key}", *seal(f"meta_{key}"), ["pages_show_list"], expires,
                          now + timedelta(days=80), status, "Refused." if status == "needs_reauth" else None,
                          now - timedelta(days=2), now + timedelta(minutes=5) if key == "a" else None))[0][0]
    pages, page_ig = {}, {}
    # Page c: debug_token found its Instagram account's token (the Page's) dead, and flagged only the account.
    for key, login, page_status, ig_status in (("a", "a", "active", "active"),
                                               ("b", "b", "needs_reauth", "needs_reauth"),
                                               ("c", "a", "active", "needs_reauth")):
        pages[key] = _run(url, "INSERT INTO pages (user_id, meta_account_id, page_id, name, access_token_ciphertext, "
                               "access_token_key_id, status, status_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                               "RETURNING id", (user, meta[login], f"page-{key}", f"Page {key}", *seal(f"page_{key}"),
                                                page_status, "Refused." if page_status != "active" else None))[0][0]
        page_ig[key] = _run(url, "INSERT INTO instagram_accounts (user_id, page_id, ig_user_id, username, token_kind, "
                                 "status, status_reason) VALUES (%s, %s, %s, %s, 'page', %s, %s) RETURNING id",
                            (user, pages[key], f"ig-{key}", f"page.{key}", ig_status,
                             "Refused." if ig_status != "active" else None))[0][0]
    ig_login = _run(url, "INSERT INTO instagram_accounts (user_id, ig_user_id, username, token_kind, "
                         "access_token_ciphertext, access_token_key_id, expires_at, last_refreshed_at) "
                         "VALUES (%s, 'ig-login', 'login.only', 'instagram_login', %s, %s, %s, %s) RETURNING id",
                    (user, *seal("ig_login"), now + timedelta(days=3), now - timedelta(days=30)))[0][0]
    wa_expired = _run(url, "INSERT INTO whatsapp_accounts (user_id, waba_id, name, access_token_ciphertext, "
                           "access_token_key_id, scopes, expires_at) "
                           "VALUES (%s, 'waba-1', 'Expired WA', %s, %s, %s, %s) "
                           "RETURNING id", (user, *seal("wa_expired"), ["whatsapp_business_messaging"],
                                            now - timedelta(days=1)))[0][0]
    wa_empty = _run(url, "INSERT INTO whatsapp_accounts (user_id, waba_id, name, status) "
                         "VALUES (%s, 'waba-2', 'No token WA', 'inactive') RETURNING id", (user,))[0][0]
    tiktok = _run(url, "INSERT INTO tiktok_accounts (user_id, open_id, display_name, scopes, access_token_ciphertext, "
                       "access_token_key_id, expires_at, refresh_token_ciphertext, refresh_token_key_id, "
                       "refresh_expires_at, last_refreshed_at) "
                       "VALUES (%s, 'tt-1', 'Tok', %s, %s, %s, %s, %s, %s, %s, %s) "
                       "RETURNING id", (user, ["user.info.basic"], *seal("tt_access"), now - timedelta(hours=1),
                                        *seal("tt_refresh"), now + timedelta(days=100), now - timedelta(hours=3)))[0][0]
    # What Meta / TikTok said a minute ago, so token health answers from its cache.
    for kind, row_id, expires in (("meta", meta["a"], now + timedelta(days=30)),
                                  ("meta", meta["b"], now + timedelta(days=20)),
                                  ("instagram", page_ig["a"], None), ("instagram", page_ig["b"], None),
                                  ("instagram", page_ig["c"], None),
                                  ("instagram", ig_login, now + timedelta(days=3)),
                                  ("whatsapp", wa_expired, now - timedelta(days=1)), ("whatsapp", wa_empty, None),
                                  ("tiktok", tiktok, now + timedelta(days=100))):
        _run(url, "INSERT INTO token_health (user_id, account_kind, account_id, is_valid, expires_at, checked_at) "
                  "VALUES (%s, %s, %s, true, %s, now() - interval '1 minute')", (user, kind, row_id, expires))
    return {
        "user": user, "meta": meta, "pages": pages,
        "tokens": {("meta", meta["a"]): "token-meta_a", ("meta", meta["b"]): "token-meta_b",
                   ("page", pages["a"]): "token-page_a", ("page", pages["b"]): "token-page_b",
                   ("page", pages["c"]): "token-page_c",
                   ("instagram", ig_login): "token-ig_login", ("whatsapp", wa_expired): "token-wa_expired",
                   ("tiktok", tiktok): "token-tt_access"},
        # What GET /api/accounts and GET /api/token-health both showed for these rows before 0060.
        "statuses": {f"meta-{meta['a']}": "active", f"meta-{meta['b']}": "needs_reauth",
                     f"instagram-{page_ig['a']}": "active", f"instagram-{page_ig['b']}": "needs_reauth",
                     f"instagram-{page_ig['c']}": "needs_reauth",
                     f"instagram-{ig_login}": "expiring", f"whatsapp-{wa_expired}": "needs_reauth",
                     f"whatsapp-{wa_empty}": "inactive", f"tiktok-{tiktok}": "active"},
        "page_reached": [page_ig["a"], page_ig["b"], page_ig["c"]], "tiktok": tiktok,
    }


_OLD_LIFECYCLE = {
    "meta": ("meta_accounts", "scopes, last_refreshed_at, refresh_claimed_until, data_access_expires_at, "
                              "NULL::timestamptz, NULL::bytea"),
    "page": ("pages", "'{}'::text[], NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, "
                      "NULL::bytea"),
    "instagram": ("instagram_accounts", "'{}'::text[], last_refreshed_at, refresh_claimed_until, NULL::timestamptz, "
                                        "NULL::timestamptz, NULL::bytea"),
    "whatsapp": ("whatsapp_accounts", "scopes, last_refreshed_at, refresh_claimed_until, NULL::timestamptz, "
                                      "NULL::timestamptz, NULL::bytea"),
    "tiktok": ("tiktok_accounts", "scopes, last_refreshed_at, refresh_claimed_until, NULL::timestamptz, "
                                  "refresh_expires_at, refresh_token_ciphertext"),
}


def _old_rows(url) -> dict:
    rows = {}
    for kind, (table, extra) in _OLD_LIFECYCLE.items():
        where = " WHERE access_token_ciphertext IS NOT NULL OR token_kind = 'instagram_login'" \
            if kind == "instagram" else ""
        for row in _run(url, f"SELECT id, {', '.join(LIFECYCLE)}, {extra} FROM {table}{where}"):
            rows[(kind, row[0])] = tuple(bytes(v) if isinstance(v, memoryview) else v for v in row[1:])
    return rows


def _new_rows(url) -> dict:
    return {(r[0], r[1]): tuple(bytes(v) if isinstance(v, memoryview) else v for v in r[2:])
            for r in _run(url, f"SELECT kind, account_id, {', '.join(LIFECYCLE)}, scopes, last_refreshed_at, "
                               "refresh_claimed_until, data_access_expires_at, refresh_expires_at, "
                               "refresh_token_ciphertext FROM credentials")}


def _statuses(browser) -> tuple[dict, dict]:
    listed = {a["id"]: a["status"] for a in browser.api("GET", "/api/accounts").json()["accounts"]}
    health = {a["id"]: a["status"] for a in browser.api("GET", "/api/token-health").json()["accounts"]}
    return listed, health


def test_0060_moves_every_token_and_its_lifecycle_out_of_the_account_tables(old_shape_db, settings):
    url, with_0060 = old_shape_db
    vault = Vault(settings.token_encryption_keys)
    seeded = _seed_old_shape(url, vault)
    before = _old_rows(url)

    assert migrate(url, with_0060) == ["0060_credentials.sql"]

    # Every credential carried over, column for column; the Page-reached Instagram accounts got none.
    after = _new_rows(url)
    # Page c now carries its Instagram account's flag: the account shows its Page's credential.
    page_c = ("page", seeded["pages"]["c"])
    before[page_c] = before[page_c][:3] + ("needs_reauth", "Refused.") + before[page_c][5:]
    assert after == before and len(after) == 9
    assert not any(kind == "instagram" and row_id in seeded["page_reached"] for kind, row_id in after)
    # Every token still opens with the vault (TikTok: its refresh token too).
    for (kind, row_id), plaintext in seeded["tokens"].items():
        ciphertext, key_id = _run(url, "SELECT access_token_ciphertext, access_token_key_id FROM credentials "
                                       "WHERE kind = %s AND account_id = %s", (kind, row_id))[0]
        assert vault.open(ciphertext, key_id) == plaintext
    refresh_token = _run(url, "SELECT refresh_token_ciphertext, refresh_token_key_id FROM credentials "
                              "WHERE kind = 'tiktok'")[0]
    assert vault.open(*refresh_token) == "token-tt_refresh"
    # The account tables hold no token or lifecycle column any more.
    leftovers = _run(url, "SELECT table_name, column_name FROM information_schema.columns "
                          "WHERE table_name IN ('meta_accounts', 'pages', 'instagram_accounts', 'whatsapp_accounts', "
                          "'tiktok_accounts') AND column_name = ANY(%s)",
                     (["access_token_ciphertext", "refresh_token_ciphertext", "expires_at", "status",
                       "refresh_claimed_until", "last_refreshed_at"],))
    assert leftovers == []

    # The screens show what they showed before (on the whole schema: the app runs with every migration).
    migrate(url)
    app = create_app(settings.with_overrides(database_url=url))
    live = LiveServer(app).start()
    try:
        browser = Browser(live.url)
        assert AuthActions(browser).login().status_code == 302
        listed, health = _statuses(browser)
        assert listed == seeded["statuses"] and health == seeded["statuses"]
        banners = {b["id"] for b in refresh.reauth_banners(app.extensions["database"], seeded["user"])}
        assert banners == {k for k, v in seeded["statuses"].items() if v == "needs_reauth"}
        # The Page-reached Instagram account opens its Page's token.
        ig = app.extensions["database"].one("get_instagram_account", id=seeded["page_reached"][0],
                                            user_id=seeded["user"])
        assert credentials.open_token(vault, ig) == "token-page_a"
    finally:
        live.stop()
        app.extensions["database"].close()


# ---- one status rule -----------------------------------------------------------------------------

def _meta_login(sql, settings, sandbox, name: str, *, lifetime_days: float, **columns) -> str:
    owner = sandbox.state.default_meta_user()
    token = sandbox.state.issue_token("user_long", owner.id, ["pages_show_list"], lifetime=lifetime_days * 86400)
    row_id = sql("INSERT INTO meta_accounts (user_id, meta_user_id, name) SELECT id, %s, %s FROM users RETURNING id",
                 (f"fb-{name}", name))[0][0]
    plant_credential(sql, settings, "meta", row_id, token.value, "long_lived_user",
                     expires_at=f"now() + interval '{lifetime_days * 86400} seconds'", **columns)
    return f"meta-{row_id}"


@pytest.mark.sandbox
def test_accounts_token_health_and_banners_agree_on_every_case_of_the_rule(auth, browser, sandbox, sql, settings,
                                                                         db):
    auth.register()
    user_id = sql("SELECT id FROM users")[0][0]
    expected = {
        _meta_login(sql, settings, sandbox, "Active", lifetime_days=30): "active",
        _meta_login(sql, settings, sandbox, "Expiring", lifetime_days=3): "expiring",
        _meta_login(sql, settings, sandbox, "Flagged", lifetime_days=30, status="'needs_reauth'",
                    status_reason="'Refused.'"): "needs_reauth",
        _meta_login(sql, settings, sandbox, "Expired", lifetime_days=-1): "needs_reauth",
    }
    # A WhatsApp account whose token is gone.
    wa = sql("INSERT INTO whatsapp_accounts (user_id, waba_id, name) SELECT id, 'waba-none', 'No token' FROM users "
             "RETURNING id")[0][0]
    plant_credential(sql, settings, "whatsapp", wa, None, "long_lived_user")
    expected[f"whatsapp-{wa}"] = "inactive"
    # TikTok: the 2-hour access token has lapsed, the refresh token has months left.
    tiktok_user = sandbox.state.default_tiktok_user()
    access = sandbox.state.issue_token("tiktok_access", tiktok_user.open_id, ["user.info.basic"], lifetime=7200)
    sandbox.state.expire_tokens(value=access.value)
    refresh_token = sandbox.state.issue_token("tiktok_refresh", tiktok_user.open_id, ["user.info.basic"],
                                              lifetime=180 * 86400)
    tt = sql("INSERT INTO tiktok_accounts (user_id, open_id, display_name) SELECT id, %s, 'Tok' FROM users "
             "RETURNING id", (tiktok_user.open_id,))[0][0]
    sealed = Vault(settings.token_encryption_keys).seal(refresh_token.value)
    plant_credential(sql, settings, "tiktok", tt, access.value, "tiktok",
                     expires_at="now() - interval '1 minute'", refresh_expires_at="now() + interval '180 days'",
                     refresh_token_ciphertext=f"'\\x{sealed.ciphertext.hex()}'::bytea",
                     refresh_token_key_id=f"'{sealed.key_id}'")
    expected[f"tiktok-{tt}"] = "active"

    listed_first = {a["id"]: a["status"] for a in browser.api("GET", "/api/accounts").json()["accounts"]}
    listed, health = _statuses(browser)  # token health asks Meta / TikTok, then the list is read again
    banners = {b["id"] for b in refresh.reauth_banners(db, user_id, settings.token_refresh_window_days)}
    page = browser.get("/").text

    assert listed_first == expected and listed == expected and health == expected
    assert banners == {k for k, v in expected.items() if v == "needs_reauth"}
    for account_id, status in expected.items():
        assert (f'data-reauth="{account_id}"' in page) == (status == "needs_reauth"), account_id
    # open_token follows the same rule: no token for an account that must be reconnected or has none.
    for row in credentials.accounts_of(db, user_id):
        status = expected[f"{row['kind']}-{row['id']}"]
        if status in ("needs_reauth", "inactive"):
            with pytest.raises(credentials.TokenUnavailable):
                credentials.open_token(Vault(settings.token_encryption_keys), row)
        else:
            assert credentials.open_token(Vault(settings.token_encryption_keys), row)


# ---- no orphans ------------------------------------------------------------------------------------

@pytest.mark.sandbox
def test_disconnecting_an_account_deletes_its_credential(auth, browser, sandbox, sql, settings):
    auth.register()
    for path in ("/connect/meta", "/connect/whatsapp", "/connect/tiktok"):
        assert consent(browser, path).status_code == 302
    ig = sql("INSERT INTO instagram_accounts (user_id, ig_user_id, username, token_kind) "
             "SELECT id, 'ig-login', 'login.only', 'instagram_login' FROM users RETURNING id")[0][0]
    plant_credential(sql, settings, "instagram", ig, "IGAA-login-token", "instagram_login",
                     expires_at="now() + interval '50 days'")
    kinds = dict(sql("SELECT kind, count(*) FROM credentials GROUP BY kind"))
    assert kinds == {"meta": 1, "page": 2, "instagram": 1, "whatsapp": 1, "tiktok": 1}

    for account in browser.api("GET", "/api/accounts").json()["accounts"]:
        if account["kind"] != "instagram" or account["details"].get("token_kind") == "instagram_login":
            assert browser.api("DELETE", f"/api/accounts/{account['id']}").status_code == 200, account

    assert sql("SELECT count(*) FROM credentials") == [(0,)]
    assert sql("SELECT count(*) FROM meta_accounts") + sql("SELECT count(*) FROM pages") == [(0,), (0,)]
