"""reports/<UTC timestamp>/: what a change ticket needs, written at the end of every run.

summary.md and a self-contained summary.html (verdict first, phases, probe ledger, per-host evidence,
an inline-SVG timeline), summary.json (machine-readable, also used to compare with the previous run),
ledger.csv (every probe of every drill: stage, taker, attempts, copies, outcome), the inventory with secrets removed and the Postfix version of each MX. history.jsonl is written
through during the run by History and junit.xml by pytest. Writing a report never hides the verdict:
the caller catches and prints failures here, and the history already on disk is never rewritten.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mxdrill import checker
from mxdrill.history import Event, History, Kind, Record
from mxdrill.steps import STEPS

TITLES = {step.name: step.title for step in STEPS}

WORSE_FACTOR = 1.5  # "markedly worse": 50 % slower ...
WORSE_FLOOR = 2.0  # ... and at least 2 s slower (Postfix alone varies ~1 s in stopping)


@dataclass(frozen=True)
class DrillResult:
    """One scenario's outcome, as the report shows it."""

    scenario: str
    verdict: str  # pass / fail / not run / unknown (checker.Status)
    detail: str
    failover: float | None
    drain: float | None
    ledger: dict[str, int]
    steps: dict[str, str]  # step name (of the table) -> outcome
    findings: list[str]  # per-host evidence lines (log lines, queue entries)
    split: dict[str, int] = field(default_factory=dict)  # MX -> probes it took while no fault was in place


def overall(results: list[DrillResult]) -> str:
    """FAIL beats NOT RUN beats PASS: a run is a pass only if every drill in it failed over and passed."""
    if any(r.verdict == "fail" for r in results):
        return "FAIL"
    if not results or any(r.verdict == "not run" for r in results):
        return "NOT RUN"
    if all(r.verdict == "pass" for r in results):
        return "PASS"
    return "UNKNOWN"


def compare(current: list[DrillResult], previous: dict[str, dict[str, Any]]) -> list[str]:
    """Flags failover or drain times markedly worse than the previous run's on the same inventory."""
    flags = []
    for result in current:
        before = previous.get(result.scenario, {})
        for name, now in (("failover", result.failover), ("drain", result.drain)):
            then = before.get(name)
            if now is None or then is None:
                continue
            if now > then * WORSE_FACTOR and now - then > WORSE_FLOOR:
                flags.append(f"{result.scenario}: {name} {now:.2f}s, markedly worse than the previous drill's {then:.2f}s")
    return flags


def previous_summary(reports_base: Path, current_dir: Path, inventory_key: str) -> dict[str, dict[str, Any]]:
    """The newest earlier run on the same inventory, as {scenario: {failover, drain}}."""
    earlier = sorted((d for d in reports_base.iterdir() if d.is_dir() and not d.is_symlink() and d.name < current_dir.name), reverse=True)
    for directory in earlier:
        try:
            data = json.loads((directory / "summary.json").read_text())
        except (OSError, ValueError):
            continue
        if data.get("inventory") == inventory_key and data.get("drills"):  # an acceptance run alone: no times to compare
            return {d["scenario"]: d for d in data["drills"]}
    return {}


# --- the preflight: every finding of the run, problems first, and the parity table -----------------

@dataclass(frozen=True)
class PreflightRow:
    check: str  # what was found: dns-spf, smtp-tls, ... (its row of the preflight table for a pass)
    host: str
    status: str  # pass / warn / error
    evidence: str
    fix: str


STATUS_ORDER = {"error": 0, "warn": 1, "pass": 2}


def preflight_rows(history: History) -> list[PreflightRow]:
    """Each finding once (the acceptance suite and every drill's preflight may see the same one),
    errors first, then warnings, then what passed."""
    rows: dict[tuple[str, str, str, str], PreflightRow] = {}
    for e in history.events:
        if e.kind != Kind.PREFLIGHT:
            continue
        status = str(e.data.get("status") or ("pass" if e.data.get("ok") else "error"))
        key = (str(e.data.get("finding") or e.data.get("check")), e.host or "", status, str(e.data.get("detail", "")))
        rows.setdefault(key, PreflightRow(key[0], e.host or "", status, str(e.data.get("detail", "")),
                                          str(e.data.get("fix", ""))))
    return sorted(rows.values(), key=lambda r: STATUS_ORDER.get(r.status, 3))


def preflight_tally(rows: list[PreflightRow]) -> str:
    counts = {status: sum(r.status == status for r in rows) for status in ("pass", "warn", "error")}
    return f"{counts['pass']} passed, {counts['warn']} warning{'s' if counts['warn'] != 1 else ''}, {counts['error']} error{'s' if counts['error'] != 1 else ''}"


def parity_table(history: History) -> tuple[list[str], list[tuple[str, list[str], bool]]]:
    """The widest CONFIG event: its MXs (the primary first) and, per setting, each MX's value and
    whether any backup differs from the primary."""
    events = [e for e in history.events if e.kind == Kind.CONFIG]
    if not events:
        return [], []
    chosen = max(events, key=lambda e: len(e.data.get("values", {})))
    values: dict[str, dict[str, str]] = chosen.data["values"]
    primary = str(chosen.data.get("primary"))
    mxs = sorted(values, key=lambda name: name != primary)
    settings = list(dict.fromkeys(name for per in values.values() for name in per))
    rows = [(name, [values[mx].get(name, "") for mx in mxs], len({values[mx].get(name, "") for mx in mxs}) > 1) for name in settings]
    return mxs, rows


def preflight_markdown(history: History) -> list[str]:
    rows = preflight_rows(history)
    if not rows:
        return []
    lines = ["## Preflight", "", preflight_tally(rows), "", "| check | host | status | evidence | fix |", "|---|---|---|---|---|"]
    cell = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines += [f"| {r.check} | {r.host} | {r.status} | {cell(r.evidence)} | {cell(r.fix)} |" for r in rows]
    mxs, table = parity_table(history)
    if mxs:
        lines += ["", "Configuration parity (≠: a backup differs from the primary):", "",
                  "| setting | " + " | ".join(mxs) + " |", "|---|" + "---|" * len(mxs)]
        lines += [f"| {'≠ ' if differs else ''}{name} | " + " | ".join(cell(v) or "(empty)" for v in shown) + " |"
                  for name, shown, differs in table]
    return lines + [""]


def preflight_html(history: History) -> list[str]:
    rows = preflight_rows(history)
    if not rows:
        return []
    colours = {"error": "#fde2e2", "warn": "#fef3c7", "pass": "#ffffff"}
    out = [f"<h2 id='preflight'>Preflight</h2><p>{html.escape(preflight_tally(rows))}</p>",
           "<table><tr><th>check</th><th>host</th><th>status</th><th>evidence</th><th>fix</th></tr>" + "".join(
               f"<tr style='background:{colours.get(r.status, '#fff')}'><td>{html.escape(r.check)}</td><td>{html.escape(r.host)}</td>"
               f"<td>{html.escape(r.status)}</td><td>{html.escape(r.evidence)}</td><td>{html.escape(r.fix)}</td></tr>" for r in rows)
           + "</table>"]
    mxs, table = parity_table(history)
    if mxs:
        out.append("<h3>Configuration parity</h3><table><tr><th>setting</th>" + "".join(f"<th>{html.escape(m)}</th>" for m in mxs)
                   + "</tr>" + "".join(
                       f"<tr style='background:{colours['warn'] if differs else '#fff'}'><td>{'≠ ' if differs else ''}{html.escape(name)}</td>"
                       + "".join(f"<td><code>{html.escape(v) or '(empty)'}</code></td>" for v in shown) + "</tr>"
                       for name, shown, differs in table) + "</table>")
    return out


# --- the fault matrix: one row per drill --------------------------------------------------------------

MATRIX_HEAD = ("drill", "fault", "verdict", "failover s", "drain s", "sent", "lost", "duplicated")


def matrix_rows(results: list[DrillResult]) -> list[tuple[str, ...]]:
    """Each drill's fault and numbers side by side: how each way of failing the primary went."""
    shown = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
    return [(r.scenario, r.scenario.rsplit(":", 1)[-1], r.verdict.upper(), shown(r.failover), shown(r.drain),
             str(r.ledger.get("sent", 0)), str(r.ledger.get("lost", 0)), str(r.ledger.get("duplicated", 0))) for r in results]


def matrix_markdown(results: list[DrillResult]) -> list[str]:
    if not results:
        return []
    return ["## Drills", "", "| " + " | ".join(MATRIX_HEAD) + " |", "|" + "---|" * len(MATRIX_HEAD),
            *("| " + " | ".join(row) + " |" for row in matrix_rows(results)), ""]


# --- Markdown ---------------------------------------------------------------------------------------

def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def terminal_lines(result: DrillResult) -> list[str]:
    """Verdict, failover and drain seconds and the probe ledger, for the terminal."""
    shown = lambda v: "n/a" if v is None else f"{v:.2f}s"  # noqa: E731
    lines = [
        f"{result.scenario}: {result.verdict.upper()} — failover {shown(result.failover)}, drain {shown(result.drain)}",
        f"  {result.detail}",
        "  ledger: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in result.ledger.items()),
    ]
    if len(result.split) > 1:  # MXs at equal priority shared the mail: how, while all were up
        lines.append("  split while every MX was up: " + checker.describe_split(Counter(result.split), sorted(result.split)))
    return lines


def markdown(results: list[DrillResult], flags: list[str], inventory_name: str, versions: dict[str, str],
             phases: list[tuple[str, float]], preflight: list[str] | None = None) -> str:
    lines = [f"# mxdrill: {overall(results)}", "", f"Inventory: `{inventory_name}`", ""]
    lines += [f"> ⚠ {flag}" for flag in flags] + ([""] if flags else [])
    lines += matrix_markdown(results)
    if any(r.ledger.get("sent") for r in results):
        lines += ["Every probe, one row each (stage, taker, attempts, copies, outcome): `ledger.csv`.", ""]
    lines += preflight or []
    for result in results:
        lines += [
            f"## {result.scenario}: {result.verdict.upper()}", "", result.detail, "",
            f"- failover (stop → first probe taken by the backup): **{_seconds(result.failover)}**",
            f"- drain (restart → last backup-taken probe delivered): **{_seconds(result.drain)}**", "",
            "| probes | " + " | ".join(k.replace("_", " ") for k in result.ledger) + " |",
            "|---|" + "---|" * len(result.ledger),
            "| count | " + " | ".join(str(v) for v in result.ledger.values()) + " |", "",
            "| step | outcome |", "|---|---|",
        ]
        lines += [f"| {TITLES.get(step, step)} | {outcome} |" for step, outcome in result.steps.items()]
        lines += ["", "Evidence:", ""] + [f"    {finding}" for finding in result.findings] + [""]
    lines += ["## Phases", "", "| phase | seconds |", "|---|---|"] + [f"| {name} | {sec:.2f} |" for name, sec in phases]
    lines += ["", "## Hosts", ""] + [f"- {host}: {version}" for host, version in versions.items()]
    return "\n".join(lines) + "\n"


# --- the timeline picture ---------------------------------------------------------------------------

LANE_HEIGHT = 46
LEFT = 150
WIDTH = 900


def fault_windows(events: tuple[Event, ...]) -> list[tuple[Event, Event | None]]:
    """Each injection with the heal of the same host in the same scenario (None: never healed)."""
    windows = []
    for index, start in enumerate(events):
        if start.kind == Kind.FAULT_INJECTED:
            end = next((e for e in events[index:] if e.kind == Kind.FAULT_HEALED
                        and (e.scenario, e.host) == (start.scenario, start.host)), None)
            windows.append((start, end))
    return windows


def timeline_svg(history: History, hosts: list[str]) -> str:
    """Hosts as lanes, the fault window shaded, each probe as a dot where it was taken and where it landed."""
    events = history.events
    if not events:
        return "<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'></svg>"
    t0 = min(e.time for e in events)
    span = max(max(e.time for e in events) - t0, 0.001)
    lanes = {host: i for i, host in enumerate([*hosts, "mailbox"])}
    height = LANE_HEIGHT * len(lanes) + 40

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * (WIDTH - LEFT - 20)

    def y(lane: str) -> float:
        return 20 + lanes[lane] * LANE_HEIGHT + LANE_HEIGHT / 2

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{WIDTH}' height='{height}' font-family='sans-serif' font-size='12' role='img' aria-label='drill timeline'>"]
    for start, end in fault_windows(events):
        x1, x2 = x(start.time), x(end.time if end else t0 + span)
        parts.append(f"<rect x='{x1:.1f}' y='10' width='{max(x2 - x1, 2):.1f}' height='{height - 30}' fill='#fde2e2'/>")
        parts.append(f"<text x='{x1 + 3:.1f}' y='{height - 6}' fill='#b91c1c'>{html.escape(start.host or '')} stopped</text>")
    for lane, index in lanes.items():
        ly = y(lane)
        parts.append(f"<line x1='{LEFT}' y1='{ly}' x2='{WIDTH - 10}' y2='{ly}' stroke='#ccc'/>")
        parts.append(f"<text x='8' y='{ly + 4}'>{html.escape(lane)}</text>")
    taken: dict[str, Event] = {e.probe: e for e in events if e.kind == Kind.PROBE_ACCEPTED and e.probe}
    landed: dict[str, Event] = {e.probe: e for e in events if e.kind == Kind.PROBE_DELIVERED and e.probe}
    for index, (token, accepted) in enumerate(taken.items()):
        if accepted.host not in lanes:
            continue
        color = "#2563eb" if accepted.data.get("role") == "primary" else "#d97706"
        nudge = (index % 3 - 1) * 8  # probes sent together would hide each other on one spot
        ax, ay = x(accepted.time), y(accepted.host) + nudge
        if token in landed:
            lx, ly = x(landed[token].time), y("mailbox") + nudge
            parts.append(f"<line x1='{ax:.1f}' y1='{ay}' x2='{lx:.1f}' y2='{ly}' stroke='{color}' stroke-opacity='0.5'/>")
            parts.append(f"<circle cx='{lx:.1f}' cy='{ly}' r='4' fill='#16a34a'><title>{html.escape(token)} delivered</title></circle>")
        parts.append(f"<circle cx='{ax:.1f}' cy='{ay}' r='5' fill='{color}'><title>{html.escape(token)} taken by {html.escape(accepted.host)}</title></circle>")
    parts.append(f"<text x='{LEFT}' y='{height - 6}' fill='#555'>0 s</text>")
    parts.append(f"<text x='{WIDTH - 60}' y='{height - 6}' fill='#555'>{span:.2f} s</text>")
    parts.append("</svg>")
    return "".join(parts)


def html_page(results: list[DrillResult], flags: list[str], inventory_name: str, versions: dict[str, str], svg: str,
              phases: list[tuple[str, float]], preflight: list[str] | None = None) -> str:
    verdict = overall(results)
    color = {"PASS": "#16a34a", "FAIL": "#dc2626", "NOT RUN": "#d97706"}.get(verdict, "#6b7280")
    out = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>mxdrill: " + verdict + "</title>",
        "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#111}"
        ".verdict{font-size:2.2em;font-weight:bold;color:#fff;padding:.3em .6em;border-radius:6px;display:inline-block}"
        "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
        "pre{background:#f4f4f5;padding:.6em;overflow-x:auto;font-size:12px}.flag{color:#b45309;font-weight:bold}</style></head><body>",
        f"<div class='verdict' id='verdict' style='background:{color}'>{verdict}</div>",
        f"<p>Inventory <code>{html.escape(inventory_name)}</code></p>",
    ]
    out += [f"<p class='flag'>⚠ {html.escape(flag)}</p>" for flag in flags]
    if results:
        out.append("<h2 id='drills'>Drills</h2><table><tr>" + "".join(f"<th>{h}</th>" for h in MATRIX_HEAD) + "</tr>" + "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in matrix_rows(results)) + "</table>")
    out += preflight or []
    out.append(f"<h2>Timeline</h2><div id='timeline'>{svg}</div><p>Blue: taken by the primary; orange: taken by the backup; green: delivered; red band: primary stopped.</p>")
    for r in results:
        out.append(f"<h2>{html.escape(r.scenario)}: {r.verdict.upper()}</h2><p>{html.escape(r.detail)}</p>")
        out.append(f"<p>Failover <b>{_seconds(r.failover)}</b> · drain <b>{_seconds(r.drain)}</b></p>")
        out.append("<table><tr>" + "".join(f"<th>{html.escape(k.replace('_', ' '))}</th>" for k in r.ledger) + "</tr><tr>"
                   + "".join(f"<td>{v}</td>" for v in r.ledger.values()) + "</tr></table>")
        out.append("<table><tr><th>step</th><th>outcome</th></tr>" + "".join(
            f"<tr><td>{html.escape(TITLES.get(s, s))}</td><td>{html.escape(o)}</td></tr>" for s, o in r.steps.items()) + "</table>")
        out.append("<h3>Evidence</h3><pre>" + html.escape("\n".join(r.findings)) + "</pre>")
    out.append("<h2>Phases</h2><table>" + "".join(f"<tr><td>{html.escape(n)}</td><td>{s:.2f} s</td></tr>" for n, s in phases) + "</table>")
    out.append("<h2>Hosts</h2><ul>" + "".join(f"<li>{html.escape(h)}: {html.escape(v)}</li>" for h, v in versions.items()) + "</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def phases(history: History) -> list[tuple[str, float]]:
    return [(str(e.data.get("what")), float(e.data.get("seconds", 0))) for e in history.events if e.kind == Kind.WAIT]


def versions(history: History) -> dict[str, str]:
    """Each host's MTA version, as the drills saw it."""
    return {e.host: str(e.data["mta"]) for e in history.events if e.kind == Kind.HOST_FACTS and e.host}


def host_lines(history: History) -> dict[str, str]:
    """Each host's MTA version and where its mail log was read from (file or journal, per host)."""
    return {e.host: f"{e.data['mta']} — mail log: {e.data['log']}" for e in history.events
            if e.kind == Kind.HOST_FACTS and e.host}


def results(history: History) -> list[DrillResult]:
    return [result_of(history.record(scenario)) for scenario in history.scenarios()]


def write(report_dir: Path, history: History, inventory: Any) -> list[str]:
    """Write every report file from the run's history; returns the comparison flags (for the terminal)."""
    return write_reports(report_dir, history, str(inventory.path), str(Path(inventory.path).resolve()),
                         [h.name for h in inventory.mxs], inventory.redacted())


def write_reports(report_dir: Path, history: History, name: str, key: str, hosts: list[str], redacted: Any) -> list[str]:
    """The report files of `history`; `key` finds the previous run to compare with, `hosts` are the timeline's lanes."""
    drills = results(history)
    flags = compare(drills, previous_summary(report_dir.parent, report_dir, key))
    phase_list, found_versions = phases(history), versions(history)
    (report_dir / "summary.json").write_text(json.dumps({
        "verdict": overall(drills), "inventory": key, "flags": flags,
        "drills": [{"scenario": r.scenario, "verdict": r.verdict, "detail": r.detail, "failover": r.failover,
                    "drain": r.drain, "ledger": r.ledger, "steps": r.steps, "split": r.split} for r in drills],
        "preflight": [r.__dict__ for r in preflight_rows(history)],
    }, indent=2) + "\n")
    shown = host_lines(history)
    (report_dir / "summary.md").write_text(markdown(drills, flags, name, shown, phase_list, preflight_markdown(history)))
    (report_dir / "summary.html").write_text(
        html_page(drills, flags, name, shown, timeline_svg(history, hosts), phase_list, preflight_html(history)))
    (report_dir / "ledger.csv").write_text(ledger_csv(history))
    (report_dir / "inventory.json").write_text(json.dumps(redacted, indent=2, default=str) + "\n")
    (report_dir / "versions.json").write_text(json.dumps(found_versions, indent=2) + "\n")
    return flags


def ledger_csv(history: History) -> str:
    """Every probe of every drill, one row each (checker.LEDGER_COLUMNS after the drill's id): the full
    ledger a large run's failure messages only count."""
    out = io.StringIO()
    writer = csv.DictWriter(out, ["drill", *checker.LEDGER_COLUMNS], lineterminator="\n")
    writer.writeheader()
    for scenario in history.scenarios():
        for row in checker.probe_ledger(history.record(scenario)):
            writer.writerow({"drill": scenario, **row})
    return out.getvalue()


class MergeError(Exception):
    """Why `mxdrill report merge` wrote nothing."""


def merge(run_dirs: list[Path], into: Path) -> str:
    """Several runs' reports as one (one controller per site, each near its MXs): the histories in
    time order, every drill judged again from its own record, one summary. Returns the verdict."""
    histories = [directory / "history.jsonl" for directory in run_dirs]
    missing = [str(path) for path in histories if not path.is_file()]
    if missing:
        raise MergeError(f"{', '.join(missing)}: no such file; give the reports/<UTC>/ directories of the runs to merge")
    if into.exists() and any(into.iterdir()):
        raise MergeError(f"{into} is not empty: merge into a new directory")
    into.mkdir(parents=True, exist_ok=True, mode=0o700)
    history = History.merged(histories, into / "history.jsonl")
    inventories = [json.loads((d / "inventory.json").read_text()) if (d / "inventory.json").is_file() else None for d in run_dirs]
    key = "merged:" + ",".join(str(d.resolve()) for d in run_dirs)
    write_reports(into, history, " + ".join(str(d) for d in run_dirs), key, list(versions(history)),
                  {"merged": [str(d) for d in run_dirs], "inventories": inventories})
    return overall(results(history))


def result_of(record: Record) -> DrillResult:
    """One scenario's outcome, from its record alone."""
    verdict = checker.scenario_verdict(record)
    return DrillResult(record.scenario, verdict.status, verdict.detail, checker.failover_seconds(record),
                       checker.drain_seconds(record), checker.ledger(record), checker.step_outcomes(record),
                       checker.evidence(record), dict(checker.split_while_up(record)))
