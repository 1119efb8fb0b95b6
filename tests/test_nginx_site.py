"""deployment/nginx/insta-connect.conf as deploy.sh installs it: nginx accepts it with a throwaway
certificate, and a real nginx with it in front of gunicorn redirects to HTTPS, proxies with the
forwarded headers the app trusts (TRUSTED_PROXY_COUNT=1), serves static files and refuses bodies
over the receiver's 5 MiB."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

from tests.support.deploy import fake_install_dir, render_deployment, require_tool, run_script
from tests.support.live import ROOT, Gunicorn, app_env, free_port

pytestmark = pytest.mark.slow  # starts nginx in front of the app

DOMAIN = "localhost"


def _certificate(directory):
    require_tool("openssl", "openssl")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={DOMAIN}",
         "-addext", f"subjectAltName=DNS:{DOMAIN}", "-keyout", str(directory / "privkey.pem"),
         "-out", str(directory / "fullchain.pem")],
        check=True, capture_output=True)
    return directory / "fullchain.pem"


def _site(tmp_path, *, http_port=80, https_port=443, upstream="127.0.0.1:8000") -> str:
    """The rendered site with its certificate and log paths moved into tmp_path (and ports, if asked)."""
    app_dir = fake_install_dir(tmp_path)
    site = (render_deployment(tmp_path, app_dir, domain=DOMAIN) / "nginx" / "insta-connect.conf").read_text()
    site = site.replace("/etc/insta-connect/tls/", f"{tmp_path}/").replace("/var/log/nginx/", f"{tmp_path}/")
    site = site.replace("server 127.0.0.1:8000", f"server {upstream}")
    site = re.sub(r"listen 80;", f"listen 127.0.0.1:{http_port};", site)
    site = re.sub(r"listen 443 ssl", f"listen 127.0.0.1:{https_port} ssl", site)
    return re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", site)


def _main_config(tmp_path, site: str):
    (tmp_path / "site.conf").write_text(site)
    config = tmp_path / "nginx.conf"
    temp_paths = "\n".join(f"  {kind}_temp_path {tmp_path}/{kind};" for kind in
                           ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    # Workers run as www-data, which may not enter the test's temporary directories.
    user = "user root;" if os.geteuid() == 0 else ""
    config.write_text(f"""
{user}
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
  include /etc/nginx/mime.types;
{temp_paths}
  include {tmp_path}/site.conf;
}}
""")
    return config


def _wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nginx exited before listening"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nginx did not listen on {port} within {timeout}s")


def _nginx(*args, tmp_path):
    tool = require_tool("nginx", "nginx")
    return [tool, "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), *args]


def test_the_site_passes_nginx_t_with_a_throwaway_certificate(tmp_path):
    _certificate(tmp_path)
    config = _main_config(tmp_path, _site(tmp_path))
    result = subprocess.run(_nginx("-t", "-c", str(config), tmp_path=tmp_path), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr and "test is successful" in result.stderr
    assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr


def test_nginx_t_rejects_the_site_without_its_certificate(tmp_path):
    config = _main_config(tmp_path, _site(tmp_path))
    result = subprocess.run(_nginx("-t", "-c", str(config), tmp_path=tmp_path), capture_output=True, text=True)
    assert result.returncode != 0 and "fullchain.pem" in result.stderr


@pytest.fixture
def proxied(settings, tmp_path):
    """gunicorn as the web unit runs it (TRUSTED_PROXY_COUNT=1) behind nginx with the site."""
    ca = _certificate(tmp_path)
    web = Gunicorn(app_env(settings, TRUSTED_PROXY_COUNT="1"), workers=1, log_path=tmp_path / "gunicorn.log")
    http_port, https_port = free_port(), free_port()
    config = _main_config(tmp_path, _site(tmp_path, http_port=http_port, https_port=https_port,
                                          upstream=f"127.0.0.1:{web.port}"))
    nginx = subprocess.Popen(_nginx("-c", str(config), "-g", "daemon off;", tmp_path=tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(https_port, nginx)
        yield {"http": f"http://{DOMAIN}:{http_port}", "https": f"https://{DOMAIN}:{https_port}", "ca": str(ca),
               "access_log": tmp_path / "insta-connect.access.log", "gunicorn_log": tmp_path / "gunicorn.log"}
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(15)
        web.stop()


def test_plain_http_is_sent_to_https(proxied):
    answer = requests.get(proxied["http"] + "/auth/login?next=/", allow_redirects=False, timeout=5)
    assert answer.status_code == 301
    assert answer.headers["Location"] == f"https://{DOMAIN}/auth/login?next=/"


def test_quick_verify_and_the_account_flow_pass_through_nginx_over_tls(proxied):
    env = {"PATH": "/usr/bin:/bin", "CURL_CA_BUNDLE": proxied["ca"]}
    for script in ("quick-verify.sh", "test-auth-simple.sh"):
        result = run_script(script, proxied["https"], env=env)
        assert result.returncode == 0, result.stdout + result.stderr
    health = requests.get(proxied["https"] + "/healthz", verify=proxied["ca"], timeout=5)
    assert health.headers["Strict-Transport-Security"].startswith("max-age=")


def test_the_request_id_nginx_logs_is_the_one_the_app_answers_and_logs(proxied):
    answer = requests.get(proxied["https"] + "/", verify=proxied["ca"], allow_redirects=False, timeout=5)
    assert answer.status_code == 302
    request_id = answer.headers["X-Request-ID"]
    deadline = time.monotonic() + 5
    while f"rid={request_id}" not in proxied["access_log"].read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert f"rid={request_id}" in proxied["access_log"].read_text()
    assert f"[{request_id}]" in proxied["gunicorn_log"].read_text()


def test_a_forged_x_forwarded_for_does_not_escape_the_login_limit(proxied):
    """nginx appends the address it saw and the app trusts one hop, so the client's own header is ignored."""
    browser = requests.Session()
    page = browser.get(proxied["https"] + "/auth/login", verify=proxied["ca"], timeout=5)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)
    statuses = []
    for attempt in range(6):
        answer = browser.post(proxied["https"] + "/auth/login", verify=proxied["ca"], timeout=10, allow_redirects=False,
                              headers={"X-Forwarded-For": f"198.51.100.{attempt}",
                                       # Over HTTPS, Flask-WTF wants a same-origin Referer: this also
                                       # shows the app sees the https scheme and the host nginx forwarded.
                                       "Referer": proxied["https"] + "/auth/login"},
                              data={"csrf_token": token, "email": "nobody@example.com", "password": "wrong password"})
        statuses.append(answer.status_code)
    assert statuses == [401] * 5 + [429]


def test_static_files_come_from_nginx_and_big_bodies_are_refused(proxied):
    css = requests.get(proxied["https"] + "/static/app.css", verify=proxied["ca"], timeout=5)
    assert css.status_code == 200
    assert css.content == (ROOT / "webhook_app" / "static" / "app.css").read_bytes()
    assert "X-Request-ID" not in css.headers  # nginx answered; the app never saw it
    assert css.headers["Cache-Control"] == "max-age=604800"
    too_big = requests.post(proxied["https"] + "/webhook", data=b"x" * (5 * 1024 * 1024 + 1),
                            headers={"Content-Type": "application/json"}, verify=proxied["ca"], timeout=15)
    assert too_big.status_code == 413


# ---- optional mutual TLS for the receivers (SPEC 7) ----------------------------------------------

META_CN = "client.webhooks.fbclientcerts.com"


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def _client_certificates(directory):
    """A CA standing in for Meta's, a client certificate of Meta's name, one of another name, one of another CA."""
    require_tool("openssl", "openssl")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN=Test {ca}",
                 "-keyout", str(directory / f"{ca}.key"), "-out", str(directory / f"{ca}.pem"))
    for name, cn, ca in (("meta", META_CN, "ca"), ("impostor", "client.example.com", "ca"),
                         ("foreign", META_CN, "other-ca")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/O=Meta/CN={cn}",
                 "-keyout", str(directory / f"{name}.key"), "-out", str(directory / f"{name}.csr"))
        _openssl("x509", "-req", "-in", str(directory / f"{name}.csr"), "-CA", str(directory / f"{ca}.pem"),
                 "-CAkey", str(directory / f"{ca}.key"), "-CAcreateserial", "-days", "1",
                 "-out", str(directory / f"{name}.pem"))
    return {name: (str(directory / f"{name}.pem"), str(directory / f"{name}.key"))
            for name in ("meta", "impostor", "foreign")}


def _site_with_mtls(tmp_path, **ports) -> str:
    os.environ["WEBHOOK_MTLS_CA_FILE"] = str(tmp_path / "ca.pem")
    try:
        return _site(tmp_path, **ports)
    finally:
        del os.environ["WEBHOOK_MTLS_CA_FILE"]


def test_mutual_tls_lines_are_rendered_only_with_a_ca_file(tmp_path):
    (tmp_path / "plain").mkdir()
    plain = _site(tmp_path / "plain")
    assert "ssl_verify_client" not in plain and "#mtls" not in plain
    _certificate(tmp_path)
    _client_certificates(tmp_path)
    site = _site_with_mtls(tmp_path)
    assert f"ssl_client_certificate {tmp_path}/ca.pem;" in site and "ssl_verify_client optional;" in site
    result = subprocess.run(_nginx("-t", "-c", str(_main_config(tmp_path, site)), tmp_path=tmp_path),
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_with_mutual_tls_only_metas_verified_certificate_delivers(settings, tmp_path, sql):
    from tests.support.webhooks import ig_messages, sign

    server_ca = _certificate(tmp_path)
    clients = _client_certificates(tmp_path)
    web = Gunicorn(app_env(settings, TRUSTED_PROXY_COUNT="1", WEBHOOK_REQUIRE_MTLS="1"), workers=1,
                   log_path=tmp_path / "gunicorn.log")
    http_port, https_port = free_port(), free_port()
    config = _main_config(tmp_path, _site_with_mtls(tmp_path, http_port=http_port, https_port=https_port,
                                                    upstream=f"127.0.0.1:{web.port}"))
    nginx = subprocess.Popen(_nginx("-c", str(config), "-g", "daemon off;", tmp_path=tmp_path),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"https://{DOMAIN}:{https_port}"

    def post(mid, cert=None, headers=None):
        body = json.dumps(ig_messages("ig-1", [mid])).encode()
        return requests.post(base + "/webhook", data=body, cert=cert, verify=str(server_ca), timeout=10,
                             headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body),
                                      **(headers or {})})

    try:
        _wait_for_port(https_port, nginx)
        assert post("with-metas-certificate", cert=clients["meta"]).status_code == 200
        assert post("no-certificate").status_code == 403
        assert post("forged-headers", headers={"X-Client-Verify": "SUCCESS", "X-Client-CN": META_CN}).status_code == 403
        assert post("another-name", cert=clients["impostor"]).status_code == 403
        assert post("another-ca", cert=clients["foreign"]).status_code in (400, 403)
        # Browsers without a certificate still reach the rest of the app.
        assert requests.get(base + "/healthz", verify=str(server_ca), timeout=10).status_code == 200
    finally:
        nginx.send_signal(signal.SIGQUIT)
        nginx.wait(15)
        web.stop()
    stored = [mid for (mid,) in sql("SELECT payload->'messaging'->0->'message'->>'mid' FROM webhook_events")]
    assert stored == ["with-metas-certificate"]
