"""The Microsoft Graph client: every byte and every change of onemount crosses it.

* :class:`GraphClient` (:mod:`.client`): items, children, delta, download, upload, mutations.
* :mod:`.errors`: the typed outcomes (NotFound, NameConflict, PreconditionFailed, Throttled,
  Offline, AuthRequired, ResyncRequired, QuotaExceeded, InvalidName, ...).
* :mod:`.items`: the validated, frozen views of Graph's JSON (:class:`DriveItem`, ...).
* :class:`Connectivity` (:mod:`.connectivity`): the client's reports run through the declared
  connectivity machine.

docs/graph-client.md describes the API, the retry and throttle policy and the error taxonomy.
"""

from onemount.graph.client import GraphClient
from onemount.graph.config import GRAPH_URL, GraphConfig
from onemount.graph.connectivity import Connectivity
from onemount.graph.download import Downloaded
from onemount.graph.errors import (
    AuthRequired,
    GraphError,
    HashMismatch,
    InvalidName,
    MalformedResponse,
    NameConflict,
    NotFound,
    Offline,
    PreconditionFailed,
    QuotaExceeded,
    RangeNotSatisfiable,
    ResyncRequired,
    ServerError,
    Throttled,
)
from onemount.graph.items import Drive, DriveItem, ItemKind, Quota, RejectedItem, RemoteRef
from onemount.graph.outcomes import NullListener, OutcomeListener
from onemount.graph.paging import Page, Pages
from onemount.graph.policy import RetryPolicy
from onemount.graph.sessions import JsonSessionStore, SessionRecord, SessionStore
from onemount.graph.subscriptions import SocketIoSubscription
from onemount.graph.tokens import StaticToken, TokenProvider
from onemount.graph.upload import FileTimes, NewItem, Replace, UploadTarget

__all__ = [
    "GRAPH_URL",
    "AuthRequired",
    "Connectivity",
    "Downloaded",
    "Drive",
    "DriveItem",
    "FileTimes",
    "GraphClient",
    "GraphConfig",
    "GraphError",
    "HashMismatch",
    "InvalidName",
    "ItemKind",
    "JsonSessionStore",
    "MalformedResponse",
    "NameConflict",
    "NewItem",
    "NotFound",
    "NullListener",
    "Offline",
    "OutcomeListener",
    "Page",
    "Pages",
    "PreconditionFailed",
    "Quota",
    "QuotaExceeded",
    "RangeNotSatisfiable",
    "RejectedItem",
    "RemoteRef",
    "Replace",
    "ResyncRequired",
    "RetryPolicy",
    "ServerError",
    "SessionRecord",
    "SessionStore",
    "SocketIoSubscription",
    "StaticToken",
    "Throttled",
    "TokenProvider",
    "UploadTarget",
]
