"""Who the client is behind a reverse proxy: ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when
the connection comes from one of ``KEHU_TRUSTED_PROXIES`` (empty by default: the headers are ignored).

The client is the right-most address of ``X-Forwarded-For`` that is not itself a trusted proxy: each proxy appends
the address it saw, so everything left of the first untrusted hop may have been written by the client. The
middleware puts that address into the request's ``client`` and the forwarded scheme into its ``scheme``, so
throttling, logging and the ``Secure`` cookie flag all see the same answer.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["ForwardedFor", "client_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in proxies)


def client_address(peer: str, forwarded_for: str | None, proxies: Sequence[Network]) -> tuple[str, bool]:
    """The client's address and whether the request came through a trusted proxy.

    Parameters
    ----------
    peer
        The address of the TCP connection's other end.
    forwarded_for
        The ``X-Forwarded-For`` header(s), comma-joined (``None`` when absent).
    proxies
        The trusted proxies.

    Returns
    -------
    tuple
        ``(address, proxied)``: ``peer`` itself and ``False`` unless ``peer`` is a trusted proxy; else the
        right-most untrusted address of the header (the left-most when all are trusted; ``peer`` when the header
        is missing) and ``True``. A malformed entry stops the walk: the last trusted hop is then the client.
    """
    if not _trusted(peer, proxies):
        return peer, False
    client = peer
    for hop in reversed([h.strip() for h in (forwarded_for or "").split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not _trusted(hop, proxies):
            break
    return client, True


class ForwardedFor:
    """Rewrites the ASGI scope's ``client`` (and ``scheme`` from ``X-Forwarded-Proto``) for requests from trusted
    proxies; leaves every other request as it came."""

    def __init__(self, app: ASGIApp, *, proxies: Sequence[Network]) -> None:
        self.app = app
        self.proxies = tuple(proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.proxies and scope.get("client"):
            peer, port = scope["client"]
            headers: dict[str, str] = {}
            for key, value in scope.get("headers", ()):
                if key in (b"x-forwarded-for", b"x-forwarded-proto"):
                    name = key.decode("latin-1")
                    headers[name] = (
                        f"{headers[name]},{value.decode('latin-1')}" if name in headers else value.decode("latin-1")
                    )
            client, proxied = client_address(str(peer), headers.get("x-forwarded-for"), self.proxies)
            if proxied:
                scope = dict(scope)
                scope["client"] = (client, port)
                proto = headers.get("x-forwarded-proto", "").split(",")[-1].strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
        await self.app(scope, receive, send)
