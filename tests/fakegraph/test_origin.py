"""Links behind a proxy: every absolute URL the fake hands out (download, upload, next and delta
links, the 410's Location, the notification URL, the identity platform's discovery) uses the
scheme and host the client used, from ``X-Forwarded-Proto``/``X-Forwarded-Host``, or an explicit
``public_url``; without either, the request's own."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from onemount.fakegraph import build, serve_in_thread
from tests.fakegraph.conftest import DELTA, DOWNLOAD_URL, Api, child_url, ok
from tests.graph.fake import RunningFake

PUBLIC = "https://graph.microsoft.com"

# The ways a proxy in front of the fake says what the client used.
_FORWARDED = {
    "proto and host": {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "graph.microsoft.com"},
    "proto and Host": {"X-Forwarded-Proto": "https", "Host": "graph.microsoft.com"},
    "a chain": {"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "graph.microsoft.com, p"},
}


def links(api: Api, headers: dict[str, str]) -> dict[str, str]:
    """One link of each kind the fake writes, asked for with ``headers``."""
    file = api.drive.get(api.file("f.txt", b"data")["id"])
    api.file("g.txt", b"more")
    get = api.http.get

    def one(path: str, key: str, **params: str) -> str:
        link: str = ok(get(path, headers=headers, params=params or None))[key]
        return link

    cursor = urlsplit(api.cursor())  # on this server, whatever origin the link names
    expired_cursor = f"{api.fake.origin}{cursor.path}?{cursor.query}"
    api.admin("POST", "/expire-delta")
    redirect = get(f"/me/drive/items/{file.id}/content", headers=headers)
    return {
        "downloadUrl": one(f"/me/drive/items/{file.id}", DOWNLOAD_URL),
        "content redirect": redirect.headers["location"],
        "uploadUrl": ok(
            api.http.post(
                child_url(api.root_id, "t.bin", "/createUploadSession"), json={}, headers=headers
            )
        )["uploadUrl"],
        "children nextLink": one("/me/drive/root/children", "@odata.nextLink", **{"$top": "1"}),
        "delta nextLink": one(DELTA, "@odata.nextLink", **{"$top": "1"}),
        "deltaLink": one(DELTA, "@odata.deltaLink", token="latest"),
        "410 Location": get(expired_cursor, headers=headers).headers["location"],
        "notificationUrl": one("/me/drive/root/subscriptions/socketIo", "notificationUrl"),
        "discovery": httpx.get(
            f"{api.fake.origin}/common/v2.0/.well-known/openid-configuration", headers=headers
        ).json()["token_endpoint"],
    }


@pytest.mark.parametrize("headers", _FORWARDED.values(), ids=_FORWARDED.keys())
def test_links_follow_the_forwarded_scheme_and_host(api: Api, headers: dict[str, str]) -> None:
    for kind, link in links(api, headers).items():
        assert link.startswith(PUBLIC + "/"), (kind, link)


def test_an_explicit_public_url_wins(tmp_path: Path) -> None:
    """``build(public_url=…)`` (``serve --public-url``) is used whatever the headers say."""
    fake = build(tmp_path, public_url="https://files.example:8443/")
    with (
        serve_in_thread(fake.asgi()) as origin,
        httpx.Client(base_url=f"{origin}/v1.0") as http,
    ):
        http.headers["Authorization"] = f"Bearer {fake.authority.issue_static_token()}"
        api = Api(RunningFake(fake, origin, ""), http, httpx.Client())
        forged = {"X-Forwarded-Proto": "http", "X-Forwarded-Host": "elsewhere"}
        for kind, link in links(api, forged).items():
            assert link.startswith("https://files.example:8443/"), (kind, link)
    fake.drive.close()


def test_without_a_proxy_links_are_the_servers_own_and_work(api: Api) -> None:
    """The same links, asked for directly, point at the server and serve what they name."""
    found = links(api, {})
    for kind, link in found.items():
        assert link.startswith(api.fake.origin + "/"), (kind, link)
    follow: dict[str, Callable[[str], httpx.Response]] = {
        "downloadUrl": api.bare.get,
        "content redirect": api.bare.get,
        "children nextLink": api.http.get,
        "delta nextLink": api.http.get,
        "410 Location": api.http.get,
    }
    for kind, fetch in follow.items():
        assert fetch(found[kind]).status_code == 200, kind
    assert api.bare.get(found["downloadUrl"]).content == b"data"
    assert urlsplit(found["uploadUrl"]).path.startswith("/up/")
