"""The seam between a campaign and whatever delivers its messages.

A :class:`Channel` takes one :class:`Message` and returns the provider's id for it, or raises. The service layer
picks the channel (SMTP e-mail, a webhook, a file) and calls :func:`deliver` for the treatment arm only;
:class:`RecordingChannel` is the fake that tests use.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Channel", "Delivery", "Message", "RecordingChannel", "deliver"]


@dataclass(frozen=True)
class Message:
    """One message to one customer."""

    campaign_id: int
    customer_id: int
    to: str | None  # e-mail address, phone, or None when the channel needs none
    subject: str
    body: str

    @property
    def idempotency_key(self) -> str:
        """The same message always has the same key (``campaign:ID:customer:ID``)."""
        return f"campaign:{self.campaign_id}:customer:{self.customer_id}"


class Channel(Protocol):
    """Delivers messages."""

    name: str

    def send(self, message: Message) -> str:
        """Deliver ``message``; return the provider's id; raise on failure."""
        ...


@dataclass
class RecordingChannel:
    """A channel that keeps what it was given (for tests and dry runs)."""

    name: str = "recording"
    sent: list[Message] = field(default_factory=list)

    def send(self, message: Message) -> str:
        self.sent.append(message)
        return f"recorded-{len(self.sent)}"


@dataclass(frozen=True)
class Delivery:
    """What happened to one message."""

    customer_id: int
    ok: bool
    provider_id: str | None
    error: str | None


def deliver(channel: Channel, messages: Iterable[Message]) -> Iterator[Delivery]:
    """Send each message; a failure is reported and does not stop the others."""
    for message in messages:
        try:
            yield Delivery(message.customer_id, True, channel.send(message), None)
        except Exception as exc:  # a channel's own error types are unknown here; the message says what failed
            yield Delivery(message.customer_id, False, None, f"{type(exc).__name__}: {exc}")
