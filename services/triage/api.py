"""Triage's REST API: a referral's threshold decision explained, and practitioner
overrides. Hub practitioners (and admins) only: the decision draws on the child's
and the household's history, which the referrer is not entitled to see. And the
threshold policy's versions: drafted, simulated, approved by a second person from a
future time (the hub and administrators, `policy:simulate` and `policy:approve`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse

from services.triage import service
from services.triage.deadlines import week_of
from services.triage.policy import ThresholdPolicy
from services.triage.schemas import (
    ChildOfReferral,
    ChildView,
    DecisionNote,
    MatchVerdictRequest,
    OverrideRequest,
    OverrideRequestView,
    PolicyApproval,
    PolicyPeriod,
    PolicySimulationCreate,
    PolicySimulationDetail,
    PolicySimulationView,
    PolicyVersionList,
    PolicyVersionView,
    PolicyView,
    RefusalNote,
    TriageView,
    WorkingWeekView,
)
from services.triage.service import children, measures, policies
from services.triage.service.policies import PolicySchedule
from shared.auth import Principal, authenticate
from shared.measures import Period, measures_router, period_of
from shared.problems import PROBLEM_JSON, Problem
from shared.runtime import context_of, unit_of_work
from shared.simulation import NDJSON
from shared.uow import UnitOfWork, UnitsOfWork

router = APIRouter(prefix="/v1", tags=["triage"])


async def _policy(request: Request) -> ThresholdPolicy:
    return service.policy_of(context_of(request, "triage"))


def _hub_only(*scopes: str, detail: str = "Triage decisions are for hub practitioners.") -> Any:
    """A dependency: the caller's key (or person) holds one of `scopes` and belongs to
    the hub (or is an admin); `detail` says who the routes are for."""
    # One scope is declared to authenticate (and in the OpenAPI); of several, any will do.
    required = list(scopes) if len(scopes) == 1 else []

    # The scope check as a default: a string annotation cannot name the closure's scope.
    async def overseer(principal: Principal = Security(authenticate, scopes=required)) -> Principal:
        if not any(principal.has(scope) for scope in scopes):
            holder = "This person's roles lack" if principal.is_person else "This key lacks"
            raise Problem(
                403,
                "Forbidden",
                f"{holder} the scope {' or '.join(scopes)}.",
                type="missing-scope",
                missing_scopes=list(scopes),
            )
        if not principal.oversees:
            raise Problem(403, "Forbidden", detail, type="hub-only")
        return principal

    return Depends(overseer)


Policy = Annotated[ThresholdPolicy, Depends(_policy)]
UoW = Annotated[UnitOfWork, Depends(unit_of_work("triage"), scope="function")]
HubRead = Annotated[Principal, _hub_only("referrals:read")]
HubOverride = Annotated[Principal, _hub_only("triage:override")]


@router.get(
    "/referrals/{referral_id}/triage",
    response_model=TriageView,
    summary="A referral's threshold decision, explained, with any practitioner overrides",
)
async def get_triage(referral_id: str, principal: HubRead, policy: Policy, uow: UoW) -> TriageView:
    return await service.decision_of(uow=uow, policy=policy, referral_id=referral_id)


@router.post(
    "/referrals/{referral_id}/triage/override",
    status_code=201,
    response_model=TriageView | OverrideRequestView,
    responses={202: {"model": OverrideRequestView, "description": "Waiting for approval"}},
    summary="Raise or lower a referral's level, with a recorded rationale",
    description=(
        "Keeps the policy's decision and records the override beside it, with its "
        "rationale and, when given, its `reason_code` (an unknown code is a 422); the referral "
        "is triaged again (a new revision of referral.triaged) so routing decides again "
        "(201, the decision as it now stands). Lowering a referral from the statutory "
        "level takes a second person: the answer is 202 with the request waiting for "
        "their approval (`Location`), and nothing changes until they approve it."
    ),
)
async def override_triage(
    referral_id: str,
    body: OverrideRequest,
    principal: HubOverride,
    policy: Policy,
    uow: UoW,
    response: Response,
) -> TriageView | OverrideRequestView:
    answer = await service.change_level(
        uow=uow,
        policy=policy,
        principal=principal,
        referral_id=referral_id,
        level=body.level,
        rationale=body.rationale.strip(),
        reason_code=body.reason_code,
    )
    if isinstance(answer, OverrideRequestView):
        response.status_code = 202
        response.headers["Location"] = _request_url(answer)
    return answer


def _request_url(request: OverrideRequestView) -> str:
    return f"/v1/referrals/{request.referral_id}/triage/override-requests/{request.id}"


@router.get(
    "/referrals/{referral_id}/triage/override-requests",
    response_model=list[OverrideRequestView],
    summary="The requests to lower a referral from the statutory level, oldest first",
)
async def list_override_requests(
    referral_id: str, principal: HubRead, uow: UoW
) -> list[OverrideRequestView]:
    return await service.override_requests(uow=uow, referral_id=referral_id)


@router.get(
    "/referrals/{referral_id}/triage/override-requests/{request_id}",
    response_model=OverrideRequestView,
    summary="One request to lower a referral from the statutory level",
)
async def get_override_request(
    referral_id: str, request_id: str, principal: HubRead, uow: UoW
) -> OverrideRequestView:
    return await service.override_request(uow=uow, referral_id=referral_id, request_id=request_id)


@router.post(
    "/referrals/{referral_id}/triage/override-requests/{request_id}/approve",
    response_model=OverrideRequestView,
    summary="Approve another practitioner's request to lower the statutory level",
    description=(
        "A second person (never a system's key, never the requester) approves: the "
        "override is made in their name with the requester's rationale, as any override "
        "is. A request the decision has moved on from is stale (409)."
    ),
)
async def approve_override_request(
    referral_id: str,
    request_id: str,
    body: DecisionNote,
    principal: HubOverride,
    policy: Policy,
    uow: UoW,
) -> OverrideRequestView:
    return await service.approve_request(
        uow=uow,
        policy=policy,
        principal=principal,
        referral_id=referral_id,
        request_id=request_id,
        note=body.note.strip(),
    )


@router.post(
    "/referrals/{referral_id}/triage/override-requests/{request_id}/refuse",
    response_model=OverrideRequestView,
    summary="Refuse another practitioner's request to lower the statutory level, saying why",
)
async def refuse_override_request(
    referral_id: str, request_id: str, body: RefusalNote, principal: HubOverride, uow: UoW
) -> OverrideRequestView:
    return await service.refuse_request(
        uow=uow,
        principal=principal,
        referral_id=referral_id,
        request_id=request_id,
        note=body.note.strip(),
    )


@router.post(
    "/referrals/{referral_id}/triage/override-requests/{request_id}/withdraw",
    response_model=OverrideRequestView,
    summary="Withdraw your own request to lower the statutory level",
)
async def withdraw_override_request(
    referral_id: str, request_id: str, body: DecisionNote, principal: HubOverride, uow: UoW
) -> OverrideRequestView:
    return await service.withdraw_request(
        uow=uow,
        principal=principal,
        referral_id=referral_id,
        request_id=request_id,
        note=body.note.strip(),
    )


# ---- a child's chronology, and practitioners' verdicts on its matches ---------------

# Who may read a child's chronology is the service's to say (those who oversee; 404 to
# anyone else, as another organisation's referral is).
ChildReader = Annotated[Principal, Security(authenticate, scopes=["referrals:read"])]
AnyCaller = Annotated[Principal, Security(authenticate)]


@router.get(
    "/referrals/{referral_id}/child",
    response_model=ChildOfReferral,
    summary="The child a referral is counted as, to open their chronology",
)
async def child_of_referral(referral_id: str, principal: HubRead, uow: UoW) -> ChildOfReferral:
    return await children.child_of(uow=uow, referral_id=referral_id)


@router.get(
    "/children/{subject_id}",
    response_model=ChildView,
    summary="A child's chronology across sources, with each match's confidence (recorded)",
    description=(
        "The referrals counted as this child, those only perhaps about them, and those a "
        "practitioner split from them, newest first: what was decided and how surely "
        "each is this child's. No names or dates of birth. For the hub; 404 to anyone "
        "else. Each read is recorded with the reader's id."
    ),
)
async def get_child(subject_id: str, principal: ChildReader, policy: Policy, uow: UoW) -> ChildView:
    return await children.chronology(
        uow=uow, policy=policy, principal=principal, subject_id=subject_id
    )


@router.post(
    "/children/{subject_id}/matches",
    status_code=201,
    response_model=ChildView,
    summary="Confirm or split a referral's link to this child, with a recorded rationale",
    description=(
        "A hub practitioner's verdict (a person, never a system's key): confirm counts a "
        "possible referral as this child's; split takes a referral out of the child (it "
        "becomes a child of its own). Later reports are matched with the verdict; past "
        "decisions stand. Answers the chronology as it now stands."
    ),
)
async def give_match_verdict(
    subject_id: str, body: MatchVerdictRequest, principal: HubOverride, policy: Policy, uow: UoW
) -> ChildView:
    return await children.give_verdict(
        uow=uow,
        policy=policy,
        principal=principal,
        subject_id=subject_id,
        referral_id=body.referral_id,
        verdict=body.verdict,
        rationale=body.rationale.strip(),
    )


@router.get(
    "/working-week",
    response_model=WorkingWeekView,
    summary="The area's working week: when working-hours deadlines run",
    description="From the active threshold policy: the working day, the working weekdays, "
    "whose bank holidays and the area's own closure days. The same calendar decides "
    "triage's working-hours deadlines; the console counts working time left by it. Any "
    "key or person may read it (it holds nothing about anyone).",
)
async def get_working_week(principal: AnyCaller, policy: Policy) -> WorkingWeekView:
    week = week_of(policy)
    return WorkingWeekView(
        policy=PolicyView(id=policy.id, version=policy.version),
        calendar=week.division,
        timezone=policy.working_hours.timezone,
        opens=f"{week.opens:%H:%M}",
        closes=f"{week.closes:%H:%M}",
        weekdays=sorted(week.weekdays),
        closed_days=sorted(day.isoformat() for day in week.closed_days),
    )


# ---- threshold policy versions: drafted, simulated, approved from a future time --------

_POLICIES_FOR = "Threshold policy versions are for the hub and administrators."
PolicySimulate = Annotated[Principal, _hub_only("policy:simulate", detail=_POLICIES_FOR)]
PolicyApprove = Annotated[Principal, _hub_only("policy:approve", detail=_POLICIES_FOR)]
PolicyWithdraw = Annotated[
    Principal, _hub_only("policy:simulate", "policy:approve", detail=_POLICIES_FOR)
]


async def _schedule(request: Request) -> PolicySchedule:
    return service.schedule_of(context_of(request, "triage"))


async def _units(request: Request) -> UnitsOfWork:
    return context_of(request, "triage").units


Schedule = Annotated[PolicySchedule, Depends(_schedule)]
# Units of work for what runs after the route returns (a streamed answer).
Units = Annotated[UnitsOfWork, Depends(_units)]


class NdjsonResponse(StreamingResponse):
    media_type = NDJSON


def _period(body: PolicyPeriod) -> Period:
    """The body's period, checked as the measures' query is: a 422 naming `from` or `to`
    when either is not a UK date, the period is empty or longer than five years."""
    try:
        return period_of(body.from_, body.to)
    except RequestValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"][1:])} for error in exc.errors()]
        ) from None


def _version_url(version_id: str) -> str:
    return f"/v1/policy-versions/{version_id}"


@router.post(
    "/policy-versions",
    status_code=201,
    response_model=PolicyVersionView,
    summary="Draft a threshold policy version",
    description=(
        "The body is the policy document (the JSON of a policy file). It is checked as "
        "`signpost policy check` checks a file: a policy that is not valid or not sound "
        "is a 422 whose `errors` name each `field` at fault. Its `id` and `version` must "
        "be new: a version drafted before, or the file policy's own (TRIAGE_POLICY_PATH), "
        "is a 409. The draft decides nothing until it is simulated and a second person "
        "approves it. Scope `policy:simulate`; the drafter is the caller."
    ),
)
async def draft_policy_version(
    document: Annotated[
        dict[str, Any],
        Body(description="The threshold policy document, as a policy file holds it."),
    ],
    principal: PolicySimulate,
    schedule: Schedule,
    uow: UoW,
    response: Response,
) -> PolicyVersionView:
    view = await policies.draft(uow=uow, principal=principal, schedule=schedule, document=document)
    response.headers["Location"] = _version_url(view.id)
    return view


@router.get(
    "/policy-versions",
    response_model=PolicyVersionList,
    summary="The threshold policy versions, newest first, and the one in force now",
    description=(
        "Every drafted version with its state and whether it is in force, the file "
        "policy (the base, in force until an approved version's time comes) and the "
        "policy in force now. Scope `policy:simulate`."
    ),
)
async def list_policy_versions(
    principal: PolicySimulate, schedule: Schedule, uow: UoW
) -> PolicyVersionList:
    return await policies.versions(uow=uow, schedule=schedule)


@router.get(
    "/policy-versions/{version_id}",
    response_model=PolicyVersionView,
    summary="A threshold policy version, with its document, audit trail and simulations",
)
async def get_policy_version(
    version_id: str, principal: PolicySimulate, uow: UoW
) -> PolicyVersionView:
    return await policies.version(uow=uow, version_id=version_id)


_EXAMPLE_LINES = (
    '{"about":{"version_id":"pol_0a1b2c3d4e5f6a7b8c9d","draft_policy":"demoshire@2027.1",'
    '"live_policy":"demoshire@2026.11","top_level":4,"weight_changes":{"domestic_abuse":[4,6]},'
    '"from":"2026-09-01","to":"2026-10-01","start":"2026-08-31T23:00:00+00:00"}}\n'
    '{"referral_id":"ref_01","received_at":"2026-09-02T10:00:00+00:00",'
    '"decided_at":"2026-09-02T10:00:01+00:00","stored":{"level":2,"priority":"green",'
    '"destination":"","decide_by":null,"score":4,"rules":[],"factors":["domestic_abuse"],'
    '"explanation":""},"draft":{"level":3,"priority":"amber","destination":"",'
    '"decide_by":null,"score":6,"rules":[],"factors":["domestic_abuse"],"explanation":""},'
    '"concern_codes":["domestic_abuse"],"age_years":8,"postcode_district":"EX1",'
    '"suspected_codes":[],"in_period":true}\n'
)


@router.post(
    "/policy-versions/{version_id}/redecide",
    response_class=NdjsonResponse,
    summary="Decide a period's referrals again with a version, beside what was decided (read only)",
    description=(
        "The triage half of a threshold policy simulation (the console's; `signpost "
        'simulate` does the same from the databases). The body is `{"from", "to"}`, '
        "UK dates (`to` exclusive), as the partnership measures take them. The answer is "
        f'NDJSON (`{NDJSON}`): line 1 is `{{"about": {{...}}}}` (the version\'s and the '
        "live policy's tags, the live policy's top level, each weight the version "
        "changes as `[live, draft]`, the period and its `start` as an instant); then one "
        "line per referral as stored and as the version decides it, in the order triage "
        "decided them, the earlier referrals the period's history needs included with "
        "`in_period` false. Post the lines after the first to routing's `POST "
        "/v1/simulations/reroute`. Nothing is written and no event is sent. Scope "
        "`policy:simulate`."
    ),
    response_description="What is simulated, then one line per referral",
    responses={
        200: {
            "content": {
                NDJSON: {
                    "schema": {"type": "string", "description": "NDJSON lines"},
                    "example": _EXAMPLE_LINES,
                }
            }
        },
        404: {
            "description": "No such policy version",
            "content": {PROBLEM_JSON: {"schema": {"type": "object"}}},
        },
    },
)
async def redecide_policy_version(
    version_id: str,
    body: PolicyPeriod,
    principal: PolicySimulate,
    live: Policy,
    units: Units,
    uow: UoW,
) -> NdjsonResponse:
    lines = await policies.redecide(
        uow=uow, units=units, live=live, version_id=version_id, period=_period(body)
    )
    return NdjsonResponse(lines)


@router.post(
    "/policy-versions/{version_id}/simulations",
    status_code=201,
    response_model=PolicySimulationView,
    summary="Record a simulation of a draft version, for its approver to see",
    description=(
        "The summary the console computed (`redecide` here, `reroute` at routing, "
        "summed by `shared.simulation.Difference`), with its period (`from`, `to`: UK "
        "dates) and the directory version the referrals were routed by. Recorded with "
        "the version, with who ran it, as the act `simulated`; only a draft is simulated "
        "for approval (409 otherwise). Scope `policy:simulate`."
    ),
)
async def record_policy_simulation(
    version_id: str,
    body: PolicySimulationCreate,
    principal: PolicySimulate,
    uow: UoW,
    response: Response,
) -> PolicySimulationView:
    view = await policies.record_simulation(
        uow=uow,
        principal=principal,
        version_id=version_id,
        period=_period(body),
        directory_version=body.directory_version,
        summary=body.summary.model_dump(mode="json", by_alias=True),
    )
    response.headers["Location"] = f"{_version_url(version_id)}/simulations/{view.id}"
    return view


@router.get(
    "/policy-versions/{version_id}/simulations/{simulation_id}",
    response_model=PolicySimulationDetail,
    summary="A recorded simulation of a version, with its summary",
)
async def get_policy_simulation(
    version_id: str, simulation_id: str, principal: PolicySimulate, uow: UoW
) -> PolicySimulationDetail:
    return await policies.simulation(uow=uow, version_id=version_id, simulation_id=simulation_id)


@router.post(
    "/policy-versions/{version_id}/approve",
    response_model=PolicyVersionView,
    summary="Approve a simulated draft to take effect from a future time",
    description=(
        "A second person approves: a person (never a system's key), not the one who "
        "drafted it (403), with `policy:approve`. The version must be a draft (409), "
        "`simulation_id` one of its recorded simulations, the one the approver saw "
        "(422), and `activates_at` more than 60 seconds from now (422): every triage "
        "replica reads the approved versions again within that time, so all decide "
        "with the new version from the same moment. From `activates_at`, referrals "
        "received are decided with it."
    ),
)
async def approve_policy_version(
    version_id: str,
    body: PolicyApproval,
    principal: PolicyApprove,
    schedule: Schedule,
    uow: UoW,
) -> PolicyVersionView:
    return await policies.approve(
        uow=uow,
        principal=principal,
        schedule=schedule,
        version_id=version_id,
        simulation_id=body.simulation_id,
        activates_at=body.activates_at,
    )


@router.post(
    "/policy-versions/{version_id}/withdraw",
    response_model=PolicyVersionView,
    summary="Withdraw a draft, or an approved version that has not taken effect",
    description=(
        "By the one who drafted it or an approver (`policy:approve`); `policy:simulate` "
        "or `policy:approve`. A version in force (or that has been) stays on the record: "
        "409; draft and approve a new one to replace it. The body, optional, is "
        '`{"note"}`, kept with the act.'
    ),
)
async def withdraw_policy_version(
    version_id: str,
    principal: PolicyWithdraw,
    schedule: Schedule,
    uow: UoW,
    body: DecisionNote | None = None,
) -> PolicyVersionView:
    return await policies.withdraw(
        uow=uow,
        principal=principal,
        schedule=schedule,
        version_id=version_id,
        note=body.note.strip() if body else "",
    )


router.include_router(measures_router("triage", UoW, measures.measures, policy=Policy))
