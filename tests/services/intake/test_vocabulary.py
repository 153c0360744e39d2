"""The concern vocabulary v2 at the front door: served with its version and a strong
ETag (a school MIS revalidates and gets a 304), and every code it adds accepted in a
report and in a CSV batch row."""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from typing import Any

from services.intake.schemas import VocabularyDocument
from shared.report import vocabulary
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example, school_key
from tests.services.intake.test_batch import CSV_HEADER


def codes_of(document: dict[str, Any]) -> set[str]:
    return {str(c["code"]) for c in document["concerns"]}


V1 = json.loads(resources.files("shared.data").joinpath("concerns-v1.json").read_text())
NEW_CODES = sorted(codes_of(vocabulary()) - codes_of(V1))


async def test_the_vocabulary_is_v2_with_a_strong_etag(signpost: Signpost) -> None:
    r = await signpost.client.get("/v1/vocabulary")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == vocabulary()
    assert r.json()["version"] == "2026-12-v2"
    assert r.headers["etag"] == f'"{hashlib.sha256(r.content).hexdigest()}"'  # strong: no W/
    # No personal data: a cache may keep it, revalidating with the ETag.
    assert r.headers["cache-control"] == "no-cache"


async def test_a_matching_if_none_match_is_304_with_no_body(signpost: Signpost) -> None:
    etag = (await signpost.client.get("/v1/vocabulary")).headers["etag"]
    for if_none_match in (etag, f"W/{etag}", f'"stale", {etag}', "*"):
        r = await signpost.client.get("/v1/vocabulary", headers={"If-None-Match": if_none_match})
        assert r.status_code == 304, if_none_match
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert r.headers["cache-control"] == "no-cache"
    for if_none_match in ('"stale"', etag.strip('"'), ""):
        r = await signpost.client.get("/v1/vocabulary", headers={"If-None-Match": if_none_match})
        assert r.status_code == 200, if_none_match
        assert r.json()["version"] == "2026-12-v2"


def test_v2_adds_the_kcsie_and_working_together_categories() -> None:
    assert set(NEW_CODES) >= {
        "radicalisation", "private_fostering", "forced_marriage", "honour_based_abuse",
        "child_on_child_sexual_violence", "child_on_child_sexual_harassment",
        "nude_image_sharing_aggravated", "nude_image_sharing_experimental", "online_abuse",
        "sextortion", "child_missing_education", "serious_violence", "modern_slavery",
        "unaccompanied_asylum_seeking_child", "homeless_16_17", "sexual_activity_under_13",
        "child_in_court_system", "disability_or_send",
    }  # fmt: skip


async def test_a_report_with_each_new_code_is_accepted(signpost: Signpost) -> None:
    key = await signpost.key("police", "demo-police", "reports:write")
    for i, code in enumerate(NEW_CODES):
        body = example("police-report.json")
        body["source"]["reference"] = f"DC-V2-{i}"
        body["concerns"] = [{"code": code}]
        r = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
        assert r.status_code == 202, (code, r.text)


async def test_a_csv_batch_row_with_each_new_code_is_accepted(signpost: Signpost) -> None:
    key = await school_key(signpost)
    rows = "".join(
        f"CPOMS-V2-{i},2026-11-26T15:05:00Z,Leo,Sample,2014-09-02,EX4 6PX,{code},"
        "G878200125010,Jo Teacher,DSL,dsl@demo-primary.sch.uk,81.5,0\n"
        for i, code in enumerate(NEW_CODES)
    )
    r = await signpost.client.post(
        "/v1/reports/batch",
        content=(CSV_HEADER + rows).encode(),
        headers={**bearer(key), "content-type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["errors"] == []
    assert [a["row"] for a in answer["accepted"]] == list(range(len(NEW_CODES)))


async def test_the_openapi_document_describes_the_vocabulary_exactly_as_served(
    signpost: Signpost,
) -> None:
    served = (await signpost.client.get("/v1/vocabulary")).json()
    # Every field of every code is one the documented schema names (extra is refused).
    document = VocabularyDocument.model_validate(served)
    assert document.version == "2026-12-v2"
    assert {c.code: c.pathway for c in document.concerns if c.pathway} == {
        "radicalisation": "prevent",
        "private_fostering": "private_fostering",
        "child_missing_education": "children_missing_education",
    }
    openapi = (await signpost.client.get("/openapi.json")).json()
    answer = openapi["paths"]["/v1/vocabulary"]["get"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VocabularyDocument"
    }
    assert "2026-12-v2" in answer["description"]
