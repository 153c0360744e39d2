"""Queue emails: a MASH practitioner who opted in is emailed, over real SMTP to an
aiosmtpd server on the loopback address, when the statutory example lands in their
queue and when its deadline is near, once each, with nothing about the child; what to
send is a pure decision, and an email is remembered only once the server took it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import select

from services.apps import embedded_app
from services.console.loops import ALERTS, LOOPS, queue_alert_loop
from services.console.mail import QueueAlertMail, compose, deadline_text
from services.console.models import Person, QueueAlert
from services.console.service import alerts
from services.console.service.alerts import Waiting, alerts_due, send_queue_alerts, waiting_for
from services.console.settings import ConsoleSettings
from shared.clock import Clock
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from shared.working_time import WorkingWeek
from tests.services.conftest import Signpost, bearer
from tests.services.console.conftest import START, csrf_of, person, signed_in_client
from tests.services.console.test_pages import statutory_report
from tests.services.intake.conftest import example
from tests.services.routing.conftest import eventually

MASH = "demoshire-mash"
NEAR = timedelta(hours=2)
# The demo area's week (nine to five, Monday to Friday, England and Wales).
WEEK = WorkingWeek()


# ---------------------------------------------------------------- a real SMTP server


@dataclass
class Inbox:
    """What an aiosmtpd server on 127.0.0.1 received (its handler runs in the server's
    own thread; a list append is safe across it)."""

    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self) -> list[EmailMessage]:
        parsed = []
        for envelope in self.envelopes:
            raw = envelope.original_content or b""
            message = message_from_bytes(raw, policy=policy.default)
            assert isinstance(message, EmailMessage)
            parsed.append(message)
        return parsed


class MailServer:
    """An SMTP server on a free loopback port, started and stopped by the test."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self.inbox = Inbox()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def mail_server() -> Any:
    server = MailServer()
    yield server
    server.stop()


async def signpost_mailing_to(
    tmp_path: Path, server: MailServer, **overrides: object
) -> AsyncIterator[Signpost]:
    """The embedded app with the one clock stopped at START, its console's mail server
    the given one."""
    settings = embedded_settings(
        tmp_path / "var",
        auth_cache_seconds=0,
        console_smtp_host="127.0.0.1",
        console_smtp_port=server.port,
        console_public_url="https://console.demoshire.example",
        **overrides,
    )
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


@pytest.fixture
async def sp(tmp_path: Path, mail_server: MailServer) -> AsyncIterator[Signpost]:
    async for signpost in signpost_mailing_to(tmp_path, mail_server):
        yield signpost


def console(sp: Signpost) -> ServiceContext:
    ctx: ServiceContext = sp.app.state.runtimes["console"].ctx
    return ctx


async def opted_in(sp: Signpost, email: str, *, name: str = "Robin Ash") -> str:
    """A MASH practitioner who asked for queue emails on the preferences page."""
    person_id = await person(sp, email, MASH, "mash_practitioner", name=name)
    browser = await signed_in_client(sp, email)
    try:
        page = await browser.get("/console/preferences")
        saved = await browser.post(
            "/console/preferences", data={"csrf": csrf_of(page.text), "email_alerts": "yes"}
        )
        assert saved.status_code == 303
    finally:
        await browser.aclose()
    return person_id


async def as_routing_sees_it(sp: Signpost, referral_id: str) -> dict[str, Any]:
    token = sp.person(MASH, "mash_practitioner")
    answer = await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    routing: dict[str, Any] = answer.json()
    return routing


async def alerts_recorded(sp: Signpost) -> list[tuple[str, str, str]]:
    async with console(sp).db.session() as session:
        rows = (await session.exec(select(QueueAlert))).all()
    return sorted((r.person_id, r.referral_id, r.kind) for r in rows)


def child_data() -> list[str]:
    """What the statutory example says about the child, in the forms an email could
    carry it."""
    report = example("statutory-report.json")
    child = report["child"]
    born = child["date_of_birth"]
    year, month, day = born.split("-")
    return [
        child["given_name"],
        child["family_name"],
        born,
        f"{day}/{month}/{year}",
        child["address"]["postcode"],
        report["narrative"],
        *(concern["detail"] for concern in report["concerns"]),
        *(concern["code"] for concern in report["concerns"]),
    ]


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return f"{message['Subject']}\n{body.get_content()}"


# ---------------------------------------------------------------- the whole round trip


async def test_an_opted_in_person_is_emailed_once_on_arrival_and_once_near_the_deadline(
    sp: Signpost, mail_server: MailServer
) -> None:
    mail_server.start()
    mash = await opted_in(sp, "duty@mash.example")
    await person(sp, "quiet@mash.example", MASH, "mash_practitioner", name="Kim Vale")
    referral_id = await statutory_report(sp)
    routing = await as_routing_sees_it(sp, referral_id)
    rag = routing["priority"].capitalize()

    first = await send_queue_alerts(ctx=console(sp))

    assert (first.sent, first.mail_error, first.queue_error) == (1, None, None)
    [arrived] = mail_server.inbox.messages
    assert arrived["To"] == "duty@mash.example"
    assert [e.rcpt_tos for e in mail_server.inbox.envelopes] == [["duty@mash.example"]]
    assert arrived["Subject"] == f"Signpost: a referral is waiting ({rag})"
    text = text_of(arrived)
    assert f"RAG rating: {rag}" in text
    assert "Respond by: Monday 30 November 2026, 13:00 UK time, 4 h 00 min left" in text
    assert f"https://console.demoshire.example/console/referrals/{referral_id}" in text
    raw = mail_server.inbox.envelopes[0].original_content or b""
    for said in child_data():
        assert said not in text and said.encode() not in raw, said
    assert await alerts_recorded(sp) == [(mash, referral_id, "arrived")]

    again = await send_queue_alerts(ctx=console(sp))
    assert again.sent == 0 and len(mail_server.inbox.envelopes) == 1

    sp.clock.advance(hours=2, minutes=30)  # 11:30: the 13:00 deadline is 1 h 30 min off
    near = await send_queue_alerts(ctx=console(sp))
    later = await send_queue_alerts(ctx=console(sp))

    assert (near.sent, later.sent) == (1, 0)
    deadline = mail_server.inbox.messages[1]
    assert deadline["Subject"] == f"Signpost: a deadline is near ({rag})"
    assert "13:00 UK time, 1 h 30 min left" in text_of(deadline)
    assert {m["To"] for m in mail_server.inbox.messages} == {"duty@mash.example"}
    assert await alerts_recorded(sp) == sorted(
        [(mash, referral_id, "arrived"), (mash, referral_id, "deadline")]
    )


async def test_every_page_of_the_queue_is_read_so_no_waiting_referral_goes_unemailed(
    sp: Signpost, mail_server: MailServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail_server.start()
    monkeypatch.setattr(alerts, "QUEUE_PAGE", 1)  # routing lists one referral a page
    await opted_in(sp, "duty@mash.example")
    referrals = {await statutory_report(sp, reference=f"ST-{n}") for n in range(3)}

    sent = await send_queue_alerts(ctx=console(sp))

    assert (sent.sent, sent.queue_error) == (3, None)
    emailed = {
        text_of(m).split("/console/referrals/")[1].split()[0] for m in mail_server.inbox.messages
    }
    assert emailed == referrals


async def test_an_email_the_mail_server_did_not_take_is_sent_in_the_next_round(
    sp: Signpost, mail_server: MailServer
) -> None:
    mash = await opted_in(sp, "duty@mash.example")
    referral_id = await statutory_report(sp)

    down = await send_queue_alerts(ctx=console(sp))  # nothing listens on the port yet

    assert down.sent == 0 and isinstance(down.mail_error, OSError)
    assert await alerts_recorded(sp) == []

    mail_server.start()
    up = await send_queue_alerts(ctx=console(sp))

    assert (up.sent, up.mail_error) == (1, None)
    assert len(mail_server.inbox.envelopes) == 1
    assert await alerts_recorded(sp) == [(mash, referral_id, "arrived")]


async def test_people_who_did_not_opt_in_or_whose_account_is_disabled_get_nothing(
    sp: Signpost, mail_server: MailServer
) -> None:
    mail_server.start()
    await person(sp, "quiet@mash.example", MASH, "mash_practitioner")
    disabled = await opted_in(sp, "gone@mash.example")
    async with console(sp).units.begin() as uow:
        gone = await uow.session.get(Person, disabled)
        assert gone is not None
        gone.disabled_at = uow.now()
        uow.session.add(gone)
    await statutory_report(sp)

    round_ = await send_queue_alerts(ctx=console(sp))

    assert round_.sent == 0 and mail_server.inbox.envelopes == []
    assert await alerts_recorded(sp) == []


async def test_the_loop_sends_queue_emails_by_itself(
    tmp_path: Path, mail_server: MailServer
) -> None:
    assert (ALERTS, queue_alert_loop) in LOOPS
    mail_server.start()
    async for sp in signpost_mailing_to(tmp_path, mail_server, console_alert_interval_seconds=0.05):
        await opted_in(sp, "duty@mash.example")
        referral_id = await statutory_report(sp)

        async def told() -> bool:
            return len(mail_server.inbox.envelopes) >= 1

        await eventually(told)
        await asyncio.sleep(0.2)  # a few more rounds: still the one email
        assert len(mail_server.inbox.envelopes) == 1
        assert referral_id in text_of(mail_server.inbox.messages[0])


async def test_the_preferences_page_says_nothing_of_a_missing_mail_server_when_there_is_one(
    sp: Signpost,
) -> None:
    await person(sp, "duty@mash.example", MASH, "mash_practitioner")
    browser = await signed_in_client(sp, "duty@mash.example")
    try:
        page = await browser.get("/console/preferences")
    finally:
        await browser.aclose()
    assert page.status_code == 200 and "no mail server" not in page.text


# ---------------------------------------------------------------- what is owed (pure)


def waiting(
    referral_id: str, hours_left: float | None, priority: str = "amber", *, now: datetime = START
) -> Waiting:
    due = None if hours_left is None else now + timedelta(hours=hours_left)
    return Waiting(referral_id=referral_id, priority=priority, respond_by=due)


def kinds(due: list[QueueAlertMail]) -> list[tuple[str, str]]:
    return [(alert.referral_id, alert.kind) for alert in due]


def test_a_new_referral_is_owed_its_arrival_email_only_while_its_deadline_is_far() -> None:
    due = alerts_due([waiting("ref_a", 4)], set(), now=START, near=NEAR, week=WEEK)
    assert kinds(due) == [("ref_a", "arrived")]


def test_a_referral_near_or_past_its_deadline_is_owed_the_deadline_email() -> None:
    queue = [waiting("ref_far", 5), waiting("ref_near", 2), waiting("ref_late", -1)]
    sent = {("ref_far", "arrived"), ("ref_near", "arrived"), ("ref_late", "arrived")}
    due = alerts_due(queue, sent, now=START, near=NEAR, week=WEEK)
    assert kinds(due) == [("ref_late", "deadline"), ("ref_near", "deadline")]


def test_a_referral_found_late_is_owed_both_emails_and_the_soonest_deadline_comes_first() -> None:
    queue = [waiting("ref_none", None), waiting("ref_soon", 1), waiting("ref_later", 3)]
    due = alerts_due(queue, set(), now=START, near=NEAR, week=WEEK)
    assert kinds(due) == [
        ("ref_soon", "arrived"),
        ("ref_soon", "deadline"),
        ("ref_later", "arrived"),
        ("ref_none", "arrived"),
    ]


def test_near_is_counted_in_working_time_and_round_the_clock_for_red() -> None:
    friday = START - timedelta(days=2, hours=17)  # Friday 27 November, 16:00
    monday_ten = START + timedelta(hours=1)  # 66 hours on, two of them working hours
    queue = [
        Waiting("ref_amber", "amber", monday_ten),
        Waiting("ref_red", "red", monday_ten),
    ]
    sent = {("ref_amber", "arrived"), ("ref_red", "arrived")}
    assert kinds(alerts_due(queue, sent, now=friday, near=NEAR, week=WEEK)) == [
        ("ref_amber", "deadline")
    ]


def test_nothing_already_emailed_is_owed_again() -> None:
    sent = {("ref_a", "arrived"), ("ref_a", "deadline")}
    assert alerts_due([waiting("ref_a", -3)], sent, now=START, near=NEAR, week=WEEK) == []


def test_only_referrals_waiting_for_the_persons_organisation_are_their_queue() -> None:
    def listed(referral_id: str, status: str, organisation: str | None) -> dict[str, Any]:
        return {
            "referral_id": referral_id,
            "status": status,
            "priority": "red",
            "respond_by": "2026-11-30T13:00:00Z",
            "destination": {"kind": "mash", "organisation": organisation},
        }

    queue = waiting_for(
        MASH,
        [
            listed("ref_ours", "requested", MASH),
            listed("ref_accepted", "accepted", MASH),
            listed("ref_theirs", "requested", "demoshire-families"),
            listed("ref_universal", "requested", None),
        ],
    )
    assert queue == [Waiting("ref_ours", "red", START + timedelta(hours=4))]


# ---------------------------------------------------------------- the email (pure)


def test_the_email_holds_the_rag_the_uk_deadline_and_the_link_and_nothing_else() -> None:
    settings = ConsoleSettings(
        console_public_url="https://console.demoshire.example/",
        console_mail_from="Signpost <alerts@demoshire.example>",
    )
    summer = START.replace(month=7, day=6)  # a Monday in British Summer Time
    [alert] = alerts_due(
        [waiting("ref_01", 4, now=summer)], set(), now=summer, near=NEAR, week=WEEK
    )
    message = compose(alert, to="duty@mash.example", settings=settings, now=summer)
    body = message.get_content()
    assert message["Subject"] == "Signpost: a referral is waiting (Amber)"
    assert message["From"] == "Signpost <alerts@demoshire.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@demoshire.example>")
    assert message.get_content_type() == "text/plain"
    assert "RAG rating: Amber" in body
    assert "Respond by: Monday 6 July 2026, 14:00 UK time, 4 h 00 min left" in body
    assert "https://console.demoshire.example/console/referrals/ref_01\n" in body
    assert "https://console.demoshire.example/console/preferences" in body


def test_the_deadline_email_says_whether_the_deadline_is_near_or_has_passed() -> None:
    settings = ConsoleSettings()
    queue = [waiting("ref_near", 1.5, "red"), waiting("ref_late", -0.25, "red")]
    sent = {("ref_near", "arrived"), ("ref_late", "arrived")}
    late, near = (
        compose(alert, to="a@b.example", settings=settings, now=START)
        for alert in alerts_due(queue, sent, now=START, near=NEAR, week=WEEK)
    )
    assert near["Subject"] == "Signpost: a deadline is near (Red)"
    assert "is near its deadline" in near.get_content()
    assert "1 h 30 min left (round the clock)" in near.get_content()
    assert late["Subject"] == "Signpost: a deadline has passed (Red)"
    assert "overdue by 15 min (round the clock)" in late.get_content()


def test_a_referral_without_a_deadline_says_so() -> None:
    [alert] = alerts_due([waiting("ref_01", None)], set(), now=START, near=NEAR, week=WEEK)
    assert deadline_text(alert) == "no deadline"
