"""The monitoring files in deploy/ (Prometheus alerting rules and scrape config, the
Grafana dashboard, the pods' scrape annotations) parse, say what an operator needs,
and name only series that a real scrape of Signpost's /metrics serves: the dashboard
and the alerts cannot drift from the code."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.apps import embedded_app
from shared.clock import Clock
from shared.settings import embedded_settings
from tests.e2e.harness import free_port, report
from tests.services.conftest import Signpost, bearer
from tests.shared.test_metrics import START, Scrape, example, post_reports, routed, until

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "signpost-dashboard.json"
COMPOSE = ROOT / "docker-compose.yml"
K8S = ROOT / "deploy" / "k8s"
# A series Prometheus records itself for every target it scrapes, not one Signpost serves.
PROMETHEUS_OWN = {"up"}
# PromQL's words that are not series names (functions, aggregations, keywords).
PROMQL_WORDS = {
    "abs",
    "and",
    "avg",
    "bool",
    "by",
    "clamp_min",
    "count",
    "delta",
    "deriv",
    "group_left",
    "group_right",
    "histogram_quantile",
    "ignoring",
    "increase",
    "irate",
    "max",
    "min",
    "offset",
    "on",
    "or",
    "rate",
    "sum",
    "unless",
    "without",
}
DURATION = re.compile(r"^\d+[smhd]$")


def series_in(expr: str) -> set[str]:
    """The series names a PromQL expression reads: what is left once strings, label
    matchers, ranges, grouping clauses, numbers and PromQL's own words are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"(?<![A-Za-z_:])\d+(\.\d+)?([eE][+-]?\d+)?", "", expr)
    return set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr)) - PROMQL_WORDS


def test_series_in_reads_only_the_series_names_of_an_expression() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, service) (rate(a_bucket{x="rate(b)"}[5m])))'
        " / on (service) group_left max without (topic) (c_total) > 1e3 and d"
    )
    assert series_in(expr) == {"a_bucket", "c_total", "d"}


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    """(panel title, expr) of every query of every panel."""
    document = json.loads(DASHBOARD.read_text())
    return [
        (panel["title"], target["expr"])
        for panel in document["panels"]
        for target in panel.get("targets", [])
    ]


def test_every_alert_says_what_it_watches_for_how_long_how_bad_and_in_a_sentence() -> None:
    rules = alert_rules()
    assert rules
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names are unique"
    for rule in rules:
        assert set(rule) == {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["expr"].strip() and series_in(rule["expr"]), rule["alert"]
        assert DURATION.match(str(rule["for"])), rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


def test_the_alerts_the_service_needs_are_there() -> None:
    watched = {name for rule in alert_rules() for name in series_in(rule["expr"])}
    assert {
        "signpost_dlq_depth",
        "signpost_outbox_oldest_age_seconds",
        "signpost_consumer_lag",
        "signpost_routing_statutory_past_deadline",
        "signpost_notify_encompass_notices_at_risk",
    } <= watched
    by_name = {rule["alert"]: rule for rule in alert_rules()}
    assert "> 60" in by_name["SignpostOutboxNotPublishing"]["expr"]
    assert "delta(signpost_consumer_lag[10m])" in by_name["SignpostConsumerLagGrowing"]["expr"]
    for critical in ("SignpostStatutoryReferralPastDeadline", "SignpostEncompassNoticeMissed"):
        assert by_name[critical]["labels"]["severity"] == "critical"


def test_the_dashboard_is_a_grafana_dashboard_with_a_query_in_every_panel() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["uid"] == "signpost" and document["title"] == "Signpost"
    assert isinstance(document["schemaVersion"], int)
    [datasource] = document["templating"]["list"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    for panel in document["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert series_in(target["expr"]), panel["title"]
            assert target["datasource"]["uid"] == "${datasource}"
    titles = " ".join(title.lower() for title, _ in dashboard_exprs())
    for topic in (
        "request rate",
        "server errors",
        "request latency",
        "consumer lag",
        "outbox",
        "dlq",
        "deliveries pending",
        "deliveries parked",
        "triage decision latency",
        "routing decision latency",
        "encompass",
        "statutory",
    ):
        assert topic in titles, topic
    exprs = " ".join(expr for _, expr in dashboard_exprs())
    for quantile in ("0.5", "0.9", "0.99"):
        assert f"histogram_quantile({quantile}, " in exprs


def test_prometheus_scrapes_every_signpost_process_of_the_compose_stack() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    for rules in config["rule_files"]:
        assert (PROMETHEUS.parent / rules).is_file()
    [job] = config["scrape_configs"]
    assert job["job_name"] == "signpost"  # as SignpostTargetDown reads it
    assert job["metrics_path"] == "/metrics"
    targets = {t for group in job["static_configs"] for t in group["targets"]}
    compose = yaml.safe_load(COMPOSE.read_text())
    serving = {
        name
        for name, service in compose["services"].items()
        if (service.get("command") or [None])[0] == "serve"
    }
    assert serving == {"intake", "triage", "routing", "notify", "console"}
    # Each serves on 8000 inside its container (`serve NAME --port 8000`).
    for name in serving:
        command = compose["services"][name]["command"]
        assert command[command.index("--port") + 1] == "8000"
    assert targets == {f"{name}:8000" for name in serving}


def test_every_k8s_pod_is_annotated_for_scraping_on_its_http_port() -> None:
    deployments = [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "Deployment"
    ]
    assert len(deployments) == 5
    for deployment in deployments:
        template = deployment["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        [container] = template["spec"]["containers"]
        [port] = [p for p in container["ports"] if p["name"] == "http"]
        assert annotations == {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(port["containerPort"]),
            "prometheus.io/path": "/metrics",
        }, deployment["metadata"]["name"]


@pytest.fixture
async def sp(tmp_path: Path) -> AsyncIterator[Signpost]:
    settings = embedded_settings(tmp_path / "var", auth_cache_seconds=0, webhook_allow_private=True)
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


async def test_every_series_the_alerts_and_the_dashboard_read_is_served(sp: Signpost) -> None:
    """After traffic (reports decided and routed, a subscription, a 5xx-free API), a real
    scrape serves every series the rules and the panels name."""
    hub = await sp.key("hub", "demoshire-hub", "subscriptions:write")
    created = await sp.client.post(
        "/v1/subscriptions",
        headers=bearer(hub),
        json={
            "url": f"http://127.0.0.1:{free_port()}/hooks",
            "event_types": ["org.signpost.referral.routed.v1"],
        },
    )
    assert created.status_code == 201, created.text
    before = await until(sp, lambda s: True)
    bodies = [report(i, organisation="demo-police") for i in range(3)]
    await post_reports(sp, [*bodies, example("police-domestic-abuse-report.json")])
    got: Scrape = await until(
        sp,
        lambda s: routed(before, 4)(s) and bool(s.series("signpost_consumer_lag")),
    )
    served = got.names()

    missing = {
        f"{where}: {name}"
        for where, expr in [
            *((f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()),
            *((f"panel {title!r}", expr) for title, expr in dashboard_exprs()),
        ]
        for name in series_in(expr)
        if name not in served and name not in PROMETHEUS_OWN
    }
    assert not missing, "named but not served:\n" + "\n".join(sorted(missing))
