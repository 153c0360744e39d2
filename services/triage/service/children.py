"""A child's chronology across sources, and practitioners' verdicts on its matches.

The chronology answers "which referrals belong together": every referral counted as
this child (matching's SAME), every referral of a child who is perhaps this one
(POSSIBLE: recorded as another child, never counted), and every referral a
practitioner split from the child, each with what was decided and how surely it is
this child's (the outcome and its doubts, as `matching.judge` gives them today). It
holds no names and no dates of birth: the report, read through intake's claim check
and recorded there, is where the personal data is. Each read is still recorded with
the reader's id (`shared.privacy.audit_read`): which referrals belong to one child is
itself about the child.

Who reads it: those who oversee (the hub, administrators). Triage does not learn where
a referral went (routing does), so it cannot tell which organisation received one of
the child's referrals; to everyone else the child does not exist (404), as another
organisation's referral does not.

A verdict (`give_verdict`) is a hub practitioner's, never a system's key's:

- confirm: the referral is this child's. A POSSIBLE referral moves into the child (its
  decision, and the identity its report added to the index), so it is counted in
  later decisions; a counted one stays, its link now certain.
- split: the referral is not this child's. A counted referral moves out to a subject
  of its own (never to another child: merging two children is worse than missing a
  link, and nothing but a practitioner's confirm joins it to anyone); a POSSIBLE one
  stays where it is.

Either way the verdict is recorded (`MatchVerdict`) against the identity the report
named the child by and the child's identities as they stood, and fed back to matching
(`verdicts_among`, read as each later report is resolved): a split pair is never
merged again, a confirmed pair counts as the same child. Reports that only repeated
the referral's details stay where they are. A verdict never decides a past referral
again: decisions stand as they were made, and later reports follow the verdicts.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from services.triage import repository
from services.triage.matching import (
    NO_VERDICTS,
    Identity,
    Match,
    Outcome,
    Verdict,
    Verdicts,
    judge,
    transposed,
)
from services.triage.models import MatchVerdict, Subject, TriageDecision
from services.triage.policy import ThresholdPolicy
from services.triage.schemas import (
    ChildOfReferral,
    ChildView,
    ChronologyEntry,
    MatchVerdictView,
    MatchView,
)
from shared.auth import Principal
from shared.privacy import audit_read
from shared.problems import NotFound, Problem
from shared.uow import UnitOfWork

# The resource a read of a chronology is recorded under.
AUDITED = "child"
SOURCE_KINDS = frozenset({"police", "school"})
_RANK = {Outcome.SAME: 2, Outcome.POSSIBLE: 1, Outcome.DIFFERENT: 0}
_WORDS: dict[Outcome, Literal["same", "possible", "different"]] = {
    Outcome.SAME: "same",
    Outcome.POSSIBLE: "possible",
    Outcome.DIFFERENT: "different",
}
# The strongest judgement of one identity of a referral (or, for None, of any identity
# of another child) against the child's other identities.
Best = Callable[[str | None, Iterable[Identity]], Match | None]


def _identity(row: Any) -> Identity:
    """A stored identity (a `SubjectIdentity` or a row of its table) as matching sees it."""
    return Identity(row.given_name, row.family_name, row.date_of_birth, row.postcode, row.upn)


async def verdicts_among(uow: UnitOfWork, identity_ids: Sequence[str]) -> Verdicts:
    """The practitioners' verdicts that bear on matching a report against these
    identities (referral ids of `SubjectIdentity` rows), for `matching.resolve`.

    A verdict is looked up by the identity it was given on: that identity is among the
    candidates whenever the verdict can apply (a report naming the child exactly so
    shares its date of birth). Nothing is read when there are no candidates, so a new
    child's report costs no statement more."""
    if not identity_ids:
        return NO_VERDICTS
    given = await repository.verdicts_on(uow, identity_ids)
    if not given:
        return NO_VERDICTS
    ids = {v.identity_id for v in given} | {o for v in given for o in v.other_identity_ids}
    named = {
        row.referral_id: _identity(row)
        for row in await repository.identities_by_id(await uow.connection(), sorted(ids))
    }
    return Verdicts.given(
        (named[v.identity_id], named[other], Verdict(v.verdict))
        for v in given
        for other in v.other_identity_ids
        if v.identity_id in named and other in named
    )


def _readable(principal: Principal) -> None:
    if not principal.oversees:
        raise NotFound("Child")


async def child_of(*, uow: UnitOfWork, referral_id: str) -> ChildOfReferral:
    """The child a referral is counted as now, to open their chronology."""
    row = await repository.decision(uow.session, referral_id)
    if row is None:
        raise NotFound("Triage decision")
    return ChildOfReferral(referral_id=referral_id, subject_id=row.subject_key)


async def chronology(
    *, uow: UnitOfWork, policy: ThresholdPolicy, principal: Principal, subject_id: str
) -> ChildView:
    """The child's chronology for one who oversees (404 to anyone else), the read
    recorded with the reader's id in the same unit."""
    _readable(principal)
    view = (await _chronology(uow, policy, subject_id)).view
    audit_read(
        uow.session,
        principal,
        resource=AUDITED,
        resource_id=subject_id,
        shown=view.model_dump(mode="json"),
        at=uow.now(),
    )
    return view


async def give_verdict(
    *,
    uow: UnitOfWork,
    policy: ThresholdPolicy,
    principal: Principal,
    subject_id: str,
    referral_id: str,
    verdict: Literal["confirm", "split"],
    rationale: str,
) -> ChildView:
    """Record a practitioner's confirm or split of one referral's link to this child,
    move the referral as the verdict says (see the module's docstring), and return the
    chronology as it now stands. Only a person gives one; the referral must be in the
    child's chronology, and there must be a link to judge (a report that holds the
    child's only record has none)."""
    if not principal.is_person or principal.person_id is None:
        raise Problem(
            403,
            "A practitioner must decide",
            "Confirming or splitting a match is a practitioner's judgement: a system's "
            "key cannot give one.",
            type="person-required",
        )
    _readable(principal)
    session = uow.session
    known = await _chronology(uow, policy, subject_id)
    if referral_id not in {entry.referral_id for entry in known.view.referrals}:
        raise NotFound("Referral in this child's chronology")
    row = await repository.decision(session, referral_id, lock=True)
    if row is None:
        raise NotFound("Triage decision")
    own = await repository.identity(session, referral_id)
    named_by = own
    if named_by is None:
        # A report that repeated its child's details added no identity: it is the one
        # its child is known by, when there is only one.
        theirs = await repository.identities_of(session, [row.subject_key])
        if len(theirs) != 1:
            raise Problem(
                409,
                "Which record is unclear",
                "This report named the child exactly as an earlier report of the same "
                "child did, and that child is known by several records: give the verdict "
                "on the earlier report whose details it repeats.",
                type="verdict-record-unclear",
            )
        named_by = theirs[0]
    others = sorted(i for i in known.own if i != named_by.referral_id)
    if not others:
        raise Problem(
            409,
            "Nothing to judge",
            "This report holds the only record the child is known by: there is no link "
            "to confirm or split.",
            type="verdict-nothing-to-judge",
        )
    now = uow.now()
    to: str | None = None
    if verdict == "confirm" and row.subject_key != subject_id:
        to = subject_id
    elif verdict == "split" and row.subject_key == subject_id:
        to = split_key(subject_id, referral_id)
        if await session.get(Subject, to) is None:
            session.add(Subject(key=to, household_key=None, created_at=now))
    if to is not None:
        row.subject_key = to
        if own is not None:
            own.subject_key = to
    session.add(
        MatchVerdict(
            id="mv_" + uuid.uuid4().hex[:20],
            subject_key=subject_id,
            referral_id=referral_id,
            identity_id=named_by.referral_id,
            other_identity_ids=others,
            verdict=verdict,
            rationale=rationale,
            by_person_id=principal.person_id,
            by_name=principal.name,
            at=now,
        )
    )
    await session.flush()
    return (await _chronology(uow, policy, subject_id)).view


def split_key(subject_id: str, referral_id: str) -> str:
    """The subject a referral split from a child becomes: its own, pseudonymous as any
    key, and the same however often it is split from that child."""
    material = f"{subject_id}|{referral_id}|split".encode()
    return "sub_" + hashlib.sha256(material).hexdigest()[:32]


@dataclass(frozen=True)
class _Known:
    view: ChildView
    own: frozenset[str]  # the child's identities (referral ids)


async def _chronology(uow: UnitOfWork, policy: ThresholdPolicy, subject_id: str) -> _Known:
    """The chronology of one child, judged with every verdict given on the identities
    involved."""
    session = uow.session
    if await session.get(Subject, subject_id) is None:
        raise NotFound("Child")
    own = await repository.identities_of(session, [subject_id])
    given = await repository.verdicts_given(session, subject_id)
    dobs = {i.date_of_birth for i in own}
    dobs |= {d for d in (transposed(dob) for dob in dobs) if d is not None}
    alike = (
        await repository.identities_alike(
            session, dobs=sorted(dobs), upns=sorted({i.upn for i in own if i.upn})
        )
        if own
        else []
    )
    named = {i.referral_id: (i.subject_key, _identity(i)) for i in [*own, *alike]}
    moved = [v.referral_id for v in given if v.referral_id not in named]
    for row in await repository.identities_by_id(await uow.connection(), moved):
        named[row.referral_id] = (row.subject_key, _identity(row))
    verdicts = await verdicts_among(uow, sorted(named))
    mine = {ref: identity for ref, (key, identity) in named.items() if key == subject_id}

    def best(ref: str | None, candidates: Iterable[Identity]) -> Match | None:
        """The strongest judgement of the identity `ref` (or, for None, of any of the
        candidates' other subject) against the child's other identities."""
        found: Match | None = None
        for theirs in candidates:
            for key, identity in mine.items():
                if key == ref:
                    continue
                match = judge(theirs, identity, verdicts)
                if found is None or (_RANK[match.outcome], match.score) > (
                    _RANK[found.outcome],
                    found.score,
                ):
                    found = match
        return found

    by_key: dict[str, list[Identity]] = {}
    for key, identity in named.values():
        if key != subject_id:
            by_key.setdefault(key, []).append(identity)
    of_key = {key: best(None, identities) for key, identities in by_key.items()}
    possible = [
        key for key, m in of_key.items() if m is not None and m.outcome is not Outcome.DIFFERENT
    ]
    latest = {v.referral_id: v for v in given}
    decisions = await repository.decisions_about(
        session, subject_keys=[subject_id, *sorted(possible)], referral_ids=sorted(latest)
    )
    entries = [
        entry
        for row in decisions
        if (entry := _entry(row, subject_id, policy, named, of_key, best, latest)) is not None
    ]
    entries.sort(key=lambda e: (e.received_at, e.referral_id), reverse=True)
    return _Known(ChildView(subject_id=subject_id, referrals=entries), frozenset(mine))


def _entry(
    row: TriageDecision,
    subject_id: str,
    policy: ThresholdPolicy,
    named: dict[str, tuple[str, Identity]],
    of_key: dict[str, Match | None],
    best: Best,
    latest: dict[str, MatchVerdict],
) -> ChronologyEntry | None:
    """One referral as the chronology shows it; None for a referral of a child who is
    not this one and on which no verdict was given here."""
    counted = row.subject_key == subject_id
    said = latest.get(row.referral_id)
    view: MatchView | None
    if counted:
        if row.referral_id in named:
            match = best(row.referral_id, [named[row.referral_id][1]])
            view = _match_view(match) if match is not None else None
        else:
            view = MatchView(
                outcome="same",
                doubts=[],
                score=None,
                reason="named the child exactly as an earlier report of this child did",
            )
    else:
        match = of_key.get(row.subject_key)
        if (match is None or match.outcome is Outcome.DIFFERENT) and said is None:
            return None
        view = _match_view(match, elsewhere=True) if match is not None else None
    names = {spec.level: spec.name for spec in policy.levels}
    return ChronologyEntry(
        referral_id=row.referral_id,
        received_at=row.received_at,
        reported_at=row.reported_at,
        source_kind=row.source_kind if row.source_kind in SOURCE_KINDS else "other",
        level=row.level,
        level_name=names.get(row.level, row.level_name),
        priority=row.priority,
        concern_codes=list(row.concern_codes),
        counted=counted,
        match=view,
        verdict=(
            MatchVerdictView.model_validate(said, from_attributes=True)
            if said is not None
            else None
        ),
    )


def _match_view(match: Match, *, elsewhere: bool = False) -> MatchView:
    """A judgement as the chronology shows it; a referral recorded as another child is
    at most POSSIBLE (as `matching.resolve` says: never counted)."""
    outcome = match.outcome
    reason = match.reason
    if elsewhere and outcome is Outcome.SAME:
        outcome, reason = Outcome.POSSIBLE, f"{reason}; recorded as another child"
    return MatchView(
        outcome=_WORDS[outcome],
        doubts=list(match.doubts),
        score=round(match.score, 3),
        reason=reason,
    )
