"""``onemount auth`` as a user runs it: real processes against the fake authority."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.auth.conftest import CLIENT_ID, AuthorityServer


def cli_env(server: AuthorityServer, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        XDG_CONFIG_HOME=str(home),
        ONEMOUNT_CA_BUNDLE=str(server.tls.cert),
        ONEMOUNT_AUTHORITY=server.tenant_url,
    )
    env.pop("ONEMOUNT_CLIENT_ID", None)
    return env


def onemount(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "onemount", "auth", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_login_status_logout(authority_server: AuthorityServer, tmp_path: Path) -> None:
    env = cli_env(authority_server, tmp_path)
    assert onemount(env, "status").returncode == 1

    login = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "onemount",
            "auth",
            "login",
            "--device-code",
            "--client-id",
            CLIENT_ID,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Play the user: wait until the CLI has asked for a code, then approve it.
        deadline = time.monotonic() + 60
        while not authority_server.authority.pending_user_codes():
            assert login.poll() is None, login.communicate()
            assert time.monotonic() < deadline, "the CLI never requested a device code"
            time.sleep(0.05)
        (code,) = authority_server.authority.pending_user_codes()
        authority_server.authority.approve_device_code(code)
        out, err = login.communicate(timeout=60)
    finally:
        login.kill()
    assert login.returncode == 0, err
    assert code in out  # the user was shown the code to enter
    assert "Signed in as fake.user@example.com" in out

    status = onemount(env, "status")
    assert status.returncode == 0, status.stderr
    assert "fake.user@example.com (Fake User)" in status.stdout
    assert "(mode 0600)" in status.stdout
    assert "Access token expires:" in status.stdout

    assert onemount(env, "logout").returncode == 0
    assert onemount(env, "status").returncode == 1


def test_login_without_client_id_explains(
    authority_server: AuthorityServer, tmp_path: Path
) -> None:
    result = onemount(cli_env(authority_server, tmp_path), "login")
    assert result.returncode == 1
    assert "no client id" in result.stderr
    assert "docs/auth.md" in result.stderr


def test_client_id_from_config_file(authority_server: AuthorityServer, tmp_path: Path) -> None:
    """A client id in config.toml is used; a wrong authority fails cleanly, not with a trace."""
    (tmp_path / "onemount").mkdir()
    (tmp_path / "onemount" / "config.toml").write_text(f'[auth]\nclient_id = "{CLIENT_ID}"\n')
    env = cli_env(authority_server, tmp_path)
    env["ONEMOUNT_AUTHORITY"] = f"{authority_server.base_url}/no/such/tenant/path"
    result = onemount(env, "login")
    assert result.returncode == 1
    assert "onemount auth login:" in result.stderr
    assert "Traceback" not in result.stderr
