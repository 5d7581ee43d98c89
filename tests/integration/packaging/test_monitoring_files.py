"""packaging/: the alert rules pass promtool, and every metric the rules and the dashboard use is
one the daemons really export (collected from their /metrics at run time, configured
against the Twitch and YouTube stand-ins, so the check follows the daemons as they grow)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.processes import REPO, DaemonProcess, base_env
from tests.standins.helix import HelixStandin
from tests.standins.irc import TwitchIrcStandin
from tests.standins.youtube import YouTubeStandIn
from vodtender.runtime.config import OPTIONS_BY_ENV, parse_addr

PROMETHEUS = REPO / "packaging" / "prometheus"
RULES = PROMETHEUS / "vodtender-rules.yml"
DASHBOARD = REPO / "packaging" / "grafana" / "vodtender-dashboard.json"
DAEMONS = ("poller", "downloader", "uploader", "chat", "recorder", "web")
ADDR_OPTIONS = {daemon: f"{daemon.upper()}_HTTP_ADDR" for daemon in DAEMONS} | {"web": "WEB_ADDR"}
# Series the rules may use that no vodtender daemon exports: Prometheus's own per-target
# `up`, and node_exporter's file-system sizes for the disk alert.
FOREIGN = {"up", "node_filesystem_avail_bytes", "node_filesystem_size_bytes"}
PROMQL_WORDS = {
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "offset",
    "bool",
    "le",
    "time",
    "max",
    "min",
    "sum",
    "rate",
    "increase",
    "clamp_min",
    "histogram_quantile",
    "min_over_time",
}

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool missing (make deps)")


def promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["promtool", *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120)


@needs_promtool
def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    check = promtool("check", "rules", RULES.name)
    assert check.returncode == 0, check.stdout + check.stderr
    tests = promtool("test", "rules", "vodtender-rules.test.yml")
    assert tests.returncode == 0, tests.stdout + tests.stderr


@needs_promtool
def test_scrape_example_is_valid_and_names_each_daemons_default_port(tmp_path: Path) -> None:
    check = promtool("check", "config", "scrape.yml")
    assert check.returncode == 0, check.stdout + check.stderr
    text = (PROMETHEUS / "scrape.yml").read_text()
    for daemon in DAEMONS:
        host, port = parse_addr(OPTIONS_BY_ENV[ADDR_OPTIONS[daemon]].default)
        assert re.search(rf'"{host}:{port}"\]\s*\n\s*labels: {{daemon: {daemon}}}', text), daemon


def test_every_alert_has_a_severity_and_a_summary() -> None:
    rules = [line.strip() for line in RULES.read_text().splitlines()]
    alerts = [line for line in rules if line.startswith("- alert:")]
    assert len(alerts) == rules.count("labels: {severity: critical}") + rules.count(
        "labels: {severity: warning}"
    ) + rules.count("labels: {severity: info}")
    assert len(alerts) == sum(line.startswith("summary:") for line in rules)


@pytest.fixture(scope="module")
def exported_names(tmp_path_factory: pytest.TempPathFactory) -> Iterator[set[str]]:
    """Every series name the daemons expose, configured to do real work on loopback."""
    workdir = tmp_path_factory.mktemp("daemons")
    (workdir / "etc").mkdir()
    helix = HelixStandin().start()
    irc = TwitchIrcStandin().start()
    youtube = YouTubeStandIn().start()
    env = base_env(
        workdir,
        TWITCH_CHANNEL="metricsprobe",
        LIVE_RECORD="metricsprobe",
        TWITCH_CLIENT_ID=helix.client_id,
        TWITCH_CLIENT_SECRET=helix.client_secret,
        TWITCH_HELIX_URL=helix.helix_url,
        TWITCH_AUTH_URL=helix.auth_url,
        TWITCH_IRC_ADDR=f"{irc.host}:{irc.port}",
        TWITCH_IRC_TLS="0",
        YT_CLIENT_ID=youtube.client_id,
        YT_CLIENT_SECRET=youtube.client_secret,
        YOUTUBE_API_URL=youtube.url,
        YOUTUBE_TOKEN_URL=youtube.token_url,
        DB_DSN=str(workdir / "vodtender.db"),
        DATA_DIR=str(workdir / "data"),
    )
    daemons = [DaemonProcess(name, workdir, env=env) for name in DAEMONS]
    names: set[str] = set()
    try:
        for daemon in daemons:
            daemon.start()
        for daemon in daemons:
            daemon.wait_for_log(rf"{daemon.daemon} ready", timeout=60)
            code, body = daemon.wait_http("/metrics", timeout=30)
            assert code == 200
            names |= series_names(body)
        yield names
    finally:
        for daemon in daemons:
            daemon.stop(timeout=60)
        helix.stop()
        irc.stop()
        youtube.stop()


def series_names(exposition: str) -> set[str]:
    """Sample names in a Prometheus text exposition, including those of families without samples yet."""
    suffixes = {
        "counter": ("",),
        "gauge": ("",),
        "untyped": ("",),
        "info": ("",),
        "histogram": ("_bucket", "_sum", "_count"),
        "summary": ("", "_sum", "_count"),
    }
    names = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.update(name + suffix for suffix in suffixes.get(kind, ("",)))
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def used_names(expression: str) -> set[str]:
    """Metric names in a PromQL expression (label names, values and functions left out)."""
    without_strings = re.sub(r'"[^"]*"', '""', expression)
    without_strings = re.sub(r"label_values\(([^,]+),[^)]*\)", r"\1", without_strings)  # Grafana: (metric, label)
    without_labels = re.sub(r"\{[^}]*\}", "", without_strings)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_labels)
    without_groupings = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", without_ranges)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", without_groupings))
    return {w for w in words if w not in PROMQL_WORDS and not re.fullmatch(r"\d+[smhdwy]?", w)}


def rule_expressions() -> list[str]:
    text = RULES.read_text()
    exprs = re.findall(r"^\s*expr: \|\n((?:\s{10,}.*\n)+)", text, re.M)
    exprs += [e for e in re.findall(r"^\s*expr: (.+)$", text, re.M) if e.strip() != "|"]
    return exprs


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
    return exprs


def test_alert_rules_use_only_exported_metrics(exported_names: set[str]) -> None:
    exprs = rule_expressions()
    assert len(exprs) == RULES.read_text().count("- alert:")
    used = set().union(*(used_names(e) for e in exprs))
    assert used - FOREIGN <= exported_names, sorted(used - FOREIGN - exported_names)
    assert {
        "vodtender_circuit_state",
        "vodtender_queue_length",
        "vodtender_chat_reconnects_total",
        "vodtender_recording_wanted",
        "vodtender_web_requests_total",
    } <= used


def test_dashboard_uses_only_exported_metrics(exported_names: set[str]) -> None:
    exprs = dashboard_expressions()
    used = set().union(*(used_names(e) for e in exprs))
    assert used <= exported_names, sorted(used - exported_names)
    # Each area of the service is on the dashboard.
    for prefix in (
        "vodtender_download_",
        "vodtender_upload_",
        "vodtender_chat_",
        "vodtender_recording_",
        "vodtender_helix_",
        "vodtender_queue_length",
        "vodtender_circuit_state",
        "vodtender_web_",
    ):
        assert any(name.startswith(prefix) for name in used), prefix


def test_the_name_extraction_sees_what_it_must() -> None:
    assert used_names('sum by (channel) (increase(vodtender_chat_reconnects_total{job=~"$job"}[10m])) > 5') == {
        "vodtender_chat_reconnects_total"
    }
    assert used_names("histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m]))) and on (channel) y offset 6h") == {
        "x_bucket",
        "y",
    }
    assert used_names("label_values(vodtender_daemon_ready, job)") == {"vodtender_daemon_ready"}
    assert series_names('# TYPE a_seconds histogram\n# TYPE b_total counter\nc{x="1"} 2\n') == {
        "a_seconds_bucket",
        "a_seconds_sum",
        "a_seconds_count",
        "b_total",
        "c",
    }
