"""Where a webhook may point: public addresses only, unless ``KEHU_WEBHOOK_ALLOW`` lists the host, the address or
its range.

A webhook URL of ``KEHU_WEBHOOKS`` is a request Kehu's server makes on someone's behalf. Pointed at the server
itself (loopback), the cloud's metadata service (link-local ``169.254.169.254``) or the office network (private
ranges), it would turn the message channel into a way into places its users cannot reach. So the host is resolved
and *every* address it resolves to must be global (not loopback, private, link-local, shared, reserved, multicast
or unspecified; an IPv4 address inside IPv6 counts as itself) or be allowed by the setting. The check runs when a
playbook, campaign or digest choosing the webhook is saved, and again before each send (DNS may have changed).
Redirects are not followed at send time, so an allowed host cannot bounce the request elsewhere.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kehu.config import Settings
from kehu.errors import ValidationError
from kehu.playbooks.model import MessageAction, Playbook

__all__ = ["WebhookTargetError", "check_webhook_url", "playbook_problems", "problems_of", "resolve_host"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]


class WebhookTargetError(ValidationError):
    """A webhook URL points where webhooks may not go (or cannot be resolved); ``retryable`` for a failed look-up
    (the name may resolve later)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), as text."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def _kind(ip: Address) -> str | None:
    """What kind of non-public address ``ip`` is, or ``None`` for a public one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, test in (
        ("unspecified", ip.is_unspecified), ("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
        ("private", ip.is_private), ("multicast", ip.is_multicast), ("reserved", ip.is_reserved),
    ):  # fmt: skip
        if test:
            return kind
    return None if ip.is_global else "non-public"


def _allowed(ip: Address, host: str, allow: Sequence[str]) -> bool:
    for item in allow:
        if item == host:
            return True
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            continue
        plain = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped else ip
        if plain.version == net.version and plain in net:
            return True
    return False


def check_webhook_url(url: str, allow: Sequence[str], *, name: str, resolver: Resolver | None = None) -> list[str]:
    """Check that webhook ``name``'s ``url`` may be requested; returns the addresses it resolves to.

    Parameters
    ----------
    url
        The webhook's URL (``http`` or ``https``).
    allow
        ``KEHU_WEBHOOK_ALLOW``: host names, addresses and CIDR ranges webhooks may reach although not public.
    name
        The webhook's name (a key of ``KEHU_WEBHOOKS``), for the message.
    resolver
        ``(host, port) -> addresses``; default :func:`resolve_host` (tests pass a fake).

    Raises
    ------
    WebhookTargetError
        Not an http(s) URL with a host, a host that does not resolve (``retryable``), or an address that is not
        public and not allowed — the message names the webhook, the host, the address and its kind.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookTargetError(f"webhook {name}: {parts.scheme or '?'}://… is not an http(s) URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise WebhookTargetError(f"webhook {name}: the URL's port is not a number from 0 to 65535") from None
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = list((resolver or resolve_host)(host, port))
        except (OSError, UnicodeError) as exc:
            raise WebhookTargetError(f"webhook {name}: host {host} cannot be resolved ({exc})", retryable=True) from exc
    if not addresses:
        raise WebhookTargetError(f"webhook {name}: host {host} resolves to no address", retryable=True)
    for text in addresses:
        ip = ipaddress.ip_address(text)
        kind = _kind(ip)
        if kind is not None and not _allowed(ip, host, allow):
            raise WebhookTargetError(
                f"webhook {name}: {host} is {text}, a {kind} address; webhooks may only reach public addresses "
                f"unless KEHU_WEBHOOK_ALLOW lists the host, the address or its range"
            )
    return addresses


def problems_of(webhooks: Sequence[str], settings: Settings, *, resolver: Resolver | None = None) -> dict[str, str]:
    """For webhook names chosen somewhere (a playbook, a campaign, a digest): ``{name: message}`` of those whose
    URL may not be requested (unknown names are left to the caller's own check)."""
    out = {}
    for name in webhooks:
        url = settings.webhooks.get(name)
        if url:
            try:
                check_webhook_url(url, settings.webhook_allow_list, name=name, resolver=resolver)
            except WebhookTargetError as exc:
                out[name] = str(exc)
    return out


def playbook_problems(pb: Playbook, settings: Settings, file: str | None = None) -> list[dict[str, Any]]:
    """A problem (``file``, ``line``, ``field``, ``message``) for each webhook message of the playbook whose webhook's
    URL may not be requested."""
    chosen = [(i, j, a.webhook) for i, r in enumerate(pb.rules) for j, a in enumerate(r.then)
              if isinstance(a, MessageAction) and a.channel == "webhook" and a.webhook]  # fmt: skip
    refused = problems_of(sorted({w for _i, _j, w in chosen}), settings)
    name = file if file is not None else Path(pb.path).name
    return [{"file": name, "line": 0, "field": f"rules[{i}].then[{j}].message.webhook", "message": refused[w]}
            for i, j, w in chosen if w in refused]  # fmt: skip
