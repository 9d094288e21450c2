"""driveItem JSON the way Graph shapes it, for GET, children and delta (checklist 2, 16-18, 23).

Personal and business differ in small ways that clients trip over, so both are rendered:
business folders have no cTag, and business delta omits cTag on creates and modifies too
(graph-api.md §2.2 and §13, from the Graph delta remarks); in delta, personal tombstones lose
``size`` and business tombstones lose ``name``; personal delta reports ``childCount`` 0 for
every folder. Business delta never carries ``parentReference.path``, as documented (17); the
personal service has been seen to send it (``"/drive/root:"``) and clients read it, so personal
delta does unless ``delta_parent_path`` is off. The root carries ``fileSystemInfo`` like every
other item: real roots do, and a client reading it there must not find it missing.
"""

from __future__ import annotations

from typing import Any

from onemount.fakegraph.drive import FakeDrive, Item

_ZERO_QXH = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
_DOWNLOAD_URL = "@microsoft.graph.downloadUrl"


def parse_select(query: dict[str, str]) -> frozenset[str] | None:
    """``$select`` (or ``select``) as a set of property names; None when not given (9)."""
    value = query.get("$select", query.get("select"))
    if value is None:
        return None
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def render_item(
    drive: FakeDrive,
    item: Item,
    *,
    origin: str,
    select: frozenset[str] | None = None,
    in_delta: bool = False,
) -> dict[str, Any]:
    """The JSON of ``item``; ``origin`` is where download URLs point (``http://host:port``)."""
    business = drive.options.mode == "business"
    data = _tombstone(drive, item, business) if item.deleted else _live(drive, item, in_delta)
    if not item.deleted and item.is_file and (select is None or _DOWNLOAD_URL in select):
        data[_DOWNLOAD_URL] = f"{origin}/dl/{drive.download_token(item)}"
    if select is not None:
        data = {k: v for k, v in data.items() if k == "id" or k in select}
    return data


def _live(drive: FakeDrive, item: Item, in_delta: bool) -> dict[str, Any]:
    business = drive.options.mode == "business"
    data: dict[str, Any] = {
        "id": item.id,
        "name": item.name,
        "eTag": item.etag,
        "size": item.size,
        "createdDateTime": item.created,
        "lastModifiedDateTime": item.modified,
        "parentReference": _parent(drive, item, with_path=not in_delta or _delta_path(drive)),
    }
    if not (business and (item.is_folder or in_delta)):
        data["cTag"] = item.ctag  # business: never on folders, and not in delta at all (§2.2)
    if item.kind == "root":
        data["root"] = {}
    if item.is_folder:
        count = 0 if in_delta and not business else drive.child_count(item.id)
        data["folder"] = {"childCount": count}
    data["fileSystemInfo"] = {
        "createdDateTime": item.fs_created,
        "lastModifiedDateTime": item.fs_modified,
    }
    if item.is_file:
        hashes = {"quickXorHash": item.qxh}
        if item.sha256:
            hashes["sha256Hash"] = item.sha256
        data["file"] = {"mimeType": item.mime, "hashes": hashes}
    if item.kind == "package":
        data["package"] = {"type": "oneNote"}
    return data


def _tombstone(drive: FakeDrive, item: Item, business: bool) -> dict[str, Any]:
    """A deleted entry: no cTag; personal drops size, business drops name (16)."""
    data: dict[str, Any] = {
        "id": item.id,
        "deleted": {"state": "deleted"} if business else {},
        "parentReference": _parent(drive, item, with_path=False),
    }
    if business:
        data.update(size=0, createdDateTime="0001-01-01T00:00:00Z")
        data["lastModifiedDateTime"] = "0001-01-01T00:00:00Z"
    else:
        data["name"] = item.name
        data["lastModifiedDateTime"] = item.modified
    if item.is_file:
        data["file"] = {"hashes": {"quickXorHash": _ZERO_QXH}}
    elif item.is_folder:
        data["folder"] = {"childCount": 0}
    return data


def _delta_path(drive: FakeDrive) -> bool:
    return drive.options.mode == "personal" and drive.options.delta_parent_path


def _parent(drive: FakeDrive, item: Item, *, with_path: bool) -> dict[str, Any]:
    reference: dict[str, Any] = {"driveId": drive.drive_id, "driveType": drive.options.mode}
    if item.parent_id is None:
        return reference  # the root has no parentReference.id (2)
    reference["id"] = item.parent_id
    if with_path:
        parent = drive.get(item.parent_id, include_deleted=True)
        parent_path = drive.path_of(parent)
        reference["path"] = "/drive/root:" + (f"/{parent_path}" if parent_path else "")
    return reference
