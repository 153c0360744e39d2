"""Which events a subscription hears: what it asked for (its event types and optional
filter), and what its organisation may be told at all."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict, Field

from services.notify.models import WebhookSubscription
from shared.auth import oversees
from shared.events import DestinationKind, Priority
from shared.text import ACCEPTED_EARLIER, CheckedText


class SubscriptionFilter(CheckedText):
    """Every criterion given must hold. A criterion about a field an event does not
    carry (a status event has no priority) does not exclude that event: the partner
    keeps hearing how referrals it was told about move on."""

    model_config = ConfigDict(extra="forbid")

    destination_kinds: list[DestinationKind] | None = Field(default=None, min_length=1)
    priorities: list[Priority] | None = Field(default=None, min_length=1)
    min_level: int | None = Field(default=None, ge=1, le=5, strict=True)

    def matches(self, data: Mapping[str, object]) -> bool:
        """Whether an event's data passes this filter."""
        destination = data.get("destination")
        kind = destination.get("kind") if isinstance(destination, Mapping) else None
        if self.destination_kinds is not None and kind is not None:
            if kind not in self.destination_kinds:
                return False
        priority = data.get("priority")
        if self.priorities is not None and priority is not None:
            if priority not in self.priorities:
                return False
        level = data.get("level")
        if self.min_level is not None and isinstance(level, int):
            if level < self.min_level:
                return False
        return True


def wants(subscription: WebhookSubscription, event_type: str, data: dict[str, object]) -> bool:
    """Whether the subscription asked for this event (its types and optional filter)."""
    if event_type not in subscription.event_types:
        return False
    if subscription.event_filter:
        stored = SubscriptionFilter.model_validate(
            subscription.event_filter, context=ACCEPTED_EARLIER
        )
        return stored.matches(data)
    return True


def may_receive(subscription: WebhookSubscription, data: dict[str, object]) -> bool:
    """Whether a subscription's organisation may be told about this referral event.

    The hub (and administrators) hear about every referral; any other partner only
    about referrals addressed to it or raised by it, and Encompass alerts about notices
    addressed to it.
    """
    if oversees(subscription.client_kind):
        return True
    destination = data.get("destination")
    parties = {data.get("referrer_organisation"), data.get("recipient_organisation")}
    if isinstance(destination, dict):
        parties.add(destination.get("organisation"))
    return subscription.organisation in parties
