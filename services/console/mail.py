"""Queue emails: composing one and handing it to the council's mail server.

An email goes to a person's mailbox, which the console cannot protect the way it
protects its pages: so it says only that something waits or nears its deadline, the
referral's RAG rating, its deadline and a link to the console (where the person signs
in to read the rest). No name, no date of birth, no address, no concern: nothing about
the child or the family. Plain text, so no mail client fetches anything for it.

Sent with aiosmtplib to CONSOLE_SMTP_HOST: TLS from the start (CONSOLE_SMTP_TLS) or
STARTTLS (CONSOLE_SMTP_STARTTLS), certificates checked, and a login when
CONSOLE_SMTP_USERNAME is set. A failure raises for the caller to log and retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Literal
from zoneinfo import ZoneInfo

import aiosmtplib

from services.console.queue_view import Deadline
from services.console.settings import ConsoleSettings

AlertKind = Literal["arrived", "deadline"]

# Deadlines are written in the time people in the UK read on their clocks.
UK = ZoneInfo("Europe/London")
# How long a mail server may take to answer before the round gives up on it.
SMTP_TIMEOUT_SECONDS = 15.0


@dataclass(frozen=True)
class QueueAlertMail:
    """What one queue email is about: never more than this. `standing` is how its
    deadline stands, in the queue page's words (`queue_view.deadline`)."""

    kind: AlertKind
    referral_id: str
    priority: str  # the RAG rating: red, amber, green or blue
    respond_by: datetime | None
    standing: Deadline | None


def mail_configured(settings: ConsoleSettings) -> bool:
    """Whether the console has a mail server to send queue emails through."""
    return bool(settings.console_smtp_host.strip())


def referral_link(settings: ConsoleSettings, referral_id: str) -> str:
    return f"{settings.console_public_url.rstrip('/')}/console/referrals/{referral_id}"


def subject_of(alert: QueueAlertMail) -> str:
    rag = alert.priority.capitalize()
    if alert.kind == "arrived":
        return f"Signpost: a referral is waiting ({rag})"
    if _missed(alert):
        return f"Signpost: a deadline has passed ({rag})"
    return f"Signpost: a deadline is near ({rag})"


def deadline_text(alert: QueueAlertMail) -> str:
    """The deadline in UK time, and the time left as the queue counts it (working time,
    or round the clock for red)."""
    if alert.respond_by is None:
        return "no deadline"
    at = alert.respond_by.astimezone(UK)
    when = f"{at:%A} {at.day} {at:%B %Y}, {at:%H:%M} UK time"
    return f"{when}, {alert.standing.left}" if alert.standing is not None else when


def compose(
    alert: QueueAlertMail, *, to: str, settings: ConsoleSettings, now: datetime
) -> EmailMessage:
    """The email telling `to` about one referral in their queue (see the module's
    docstring for what it may hold)."""
    if alert.kind == "arrived":
        opening = "A referral has landed in your queue in Signpost."
    elif _missed(alert):
        opening = "A referral in your queue has passed its deadline."
    else:
        opening = "A referral in your queue is near its deadline."
    body = "\n".join(
        [
            opening,
            "",
            f"RAG rating: {alert.priority.capitalize()}",
            f"Respond by: {deadline_text(alert)}",
            "",
            "Open it in the console (you will be asked to sign in):",
            referral_link(settings, alert.referral_id),
            "",
            "This email holds no details of the child or the family: read them in the console.",
            "You get these emails because you asked for them; to stop them, untick the box at",
            f"{settings.console_public_url.rstrip('/')}/console/preferences",
        ]
    )
    message = EmailMessage()
    message["Subject"] = subject_of(alert)
    message["From"] = settings.console_mail_from
    message["To"] = to
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=_domain_of(settings.console_mail_from))
    # Mail systems should not answer an automatic notice with an out-of-office reply.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body + "\n")
    return message


async def send(message: EmailMessage, settings: ConsoleSettings) -> None:
    """Hand `message` to the mail server; raises (aiosmtplib.SMTPException, OSError)
    when it was not accepted."""
    password = settings.console_smtp_password.get_secret_value()
    await aiosmtplib.send(
        message,
        hostname=settings.console_smtp_host.strip(),
        port=settings.console_smtp_port,
        username=settings.console_smtp_username or None,
        password=password if settings.console_smtp_username else None,
        use_tls=settings.console_smtp_tls,
        start_tls=settings.console_smtp_starttls,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def _missed(alert: QueueAlertMail) -> bool:
    return alert.standing is not None and alert.standing.signal == "missed"


def _domain_of(mail_from: str) -> str:
    """The sender's domain, for the Message-ID (not this machine's name, which a lookup
    would find slowly and which says nothing the recipient needs)."""
    return parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
