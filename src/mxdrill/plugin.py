"""The pytest plugin: mxdrill's options, markers and fixtures, in one obvious place.

`pytest --hosts=hosts.yml` loads and validates the inventory at start-up (a broken inventory is one
`ERROR:` line, exit code 4, before anything touches a host), parametrizes the drill over every
(primary, backup) pair and fault mode, and hands tests a pool of SSH sessions and the drill's history.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra.host

from mxdrill import inventory as inventory_module
from mxdrill import pending, report, site, smtp, steps
from mxdrill.collection import add_packaged_suites
from mxdrill.drill import Drill
from mxdrill.faults import Nemesis
from mxdrill.history import History, Kind
from mxdrill.interlock import disruption_allowed
from mxdrill.load import MAX_LOAD, LoadSettings
from mxdrill.locks import LocalLock
from mxdrill.mailhost import MailHost, mail_hosts, sender_path, support_hosts
from mxdrill.plan import plan_lines
from mxdrill.remote import Sessions
from mxdrill.faults.modes import DEFAULT_MODES, MODES
from mxdrill.scenario import Scenario, fleet_scenarios, parse_modes
from mxdrill.smtp import new_run_id
from mxdrill.waiting import poll_until, set_progress_sink

INVENTORY_KEY = pytest.StashKey[inventory_module.Inventory | None]()  # the first (often the only) domain
FLEET_KEY = pytest.StashKey[inventory_module.Fleet]()
HISTORY_KEY = pytest.StashKey[History]()
MODES_KEY = pytest.StashKey[tuple[str, ...]]()  # the fault modes this run drills
LOAD_KEY = pytest.StashKey[LoadSettings | None]()
VIA_KEY = pytest.StashKey[tuple[str, ...]]()  # the probe paths (--via)
VIAS = ("harness", "sender")  # the load stream each drill sends (--load), or None
REPORT_DIR_KEY = pytest.StashKey[Path]()
FLAGS_KEY = pytest.StashKey[list[str]]()
SESSIONS_KEY = pytest.StashKey[Sessions]()

MARKERS = {
    "disruptive": "stops or breaks something on a declared host (needs a maintenance window)",
    "lab": "needs the local lab of real servers (root, namespaces)",
}


TESTINFRA_PLUGIN = "pytest11.testinfra"  # its entry point also defines --hosts (a comma list of hosts)


def pytest_addoption(parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager) -> None:
    group = parser.getgroup("mxdrill", "mxdrill failover drill")
    # mxdrill uses testinfra as a library. Its pytest plugin would add a second --hosts and crash pytest:
    # block it if it is not loaded yet; if it was loaded first, its --hosts (dest "hosts") carries our path.
    testinfra_first = pluginmanager.get_plugin(TESTINFRA_PLUGIN) is not None
    pluginmanager.set_blocked(TESTINFRA_PLUGIN)
    if not testinfra_first:
        group.addoption("--hosts", dest="mxdrill_hosts", metavar="PATH", default=None,
                        help="the inventory (Ansible YAML) declaring the MX hosts; default: ini mxdrill_hosts or hosts.yml")
    group.addoption("--probes", dest="mxdrill_probes", type=int, default=None, metavar="N",
                    help="probe mails per phase (default: ini mxdrill_probes or 3)")
    group.addoption("--load", dest="mxdrill_load", default=None, metavar="N",
                    help="also send a stream of N probes through each drill: a third before the fault, a third during, "
                         "a third after (default: ini mxdrill_load or 0, none)")
    group.addoption("--rate", dest="mxdrill_rate", default=None, metavar="R",
                    help="the load stream's probes per second (default: ini mxdrill_rate, or as fast as the concurrency allows)")
    group.addoption("--concurrency", dest="mxdrill_concurrency", default=None, metavar="N",
                    help=f"SMTP connections open at once to one MX, like an MTA's destination concurrency "
                         f"(default: ini mxdrill_concurrency or {smtp.MX_CONCURRENCY})")
    group.addoption("--via", dest="mxdrill_via", default=None, metavar="PATHS",
                    help="how probes are sent, comma-separated: harness (mxdrill's own SMTP client), sender (handed to "
                         "the declared mxdrill_sender host's MTA and followed in its log); default: ini mxdrill_via or harness")
    group.addoption("--faults", dest="mxdrill_faults", default=None, metavar="MODES",
                    help=f"fault modes to drill, comma-separated ({', '.join(MODES)}); default: ini mxdrill_faults or stop")
    group.addoption("--keep-probes", dest="mxdrill_keep_probes", action="store_true", default=False,
                    help="leave the probe mails in the mailboxes for inspection")
    group.addoption("--reports", dest="mxdrill_reports", metavar="DIR", default=None,
                    help="where run reports go (default: ini mxdrill_reports or reports)")
    group.addoption("--allow-disruption", dest="mxdrill_allow_disruption", action="store_true", default=False,
                    help="allow disruptive steps (stopping the primary) outside a declared maintenance window")
    group.addoption("--dry-run", dest="mxdrill_dry_run", action="store_true", default=False,
                    help="print the drill's plan (commands, hosts, order, heals) and touch nothing")
    group.addoption("--require-drill", dest="mxdrill_require_drill", action="store_true", default=None,
                    help="exit non-zero unless every drill failed the primary over and passed (for schedulers: "
                         "a drill skipped outside its window is not a pass); default: ini mxdrill_require_drill")
    parser.addini("mxdrill_suites", "collect mxdrill's own drill suites in a drill run (false: only your checks run)",
                  type="bool", default=True)
    parser.addini("mxdrill_require_drill", "exit non-zero unless every drill ran its failover and passed", type="bool", default=False)
    parser.addini("mxdrill_hosts", "default inventory path", default="hosts.yml")
    parser.addini("mxdrill_probes", "probe mails per phase", default="3")
    parser.addini("mxdrill_load", "load-stream probes per drill (0: none)", default="0")
    parser.addini("mxdrill_rate", "load-stream probes per second (empty: as fast as allowed)", default="")
    parser.addini("mxdrill_concurrency", "SMTP connections open at once to one MX", default=str(smtp.MX_CONCURRENCY))
    parser.addini("mxdrill_via", "probe paths, comma-separated (harness, sender)", default="harness")
    parser.addini("mxdrill_faults", "fault modes to drill, comma-separated", default=",".join(DEFAULT_MODES))
    parser.addini("mxdrill_reports", "report directory", default="reports")


@pytest.hookimpl(tryfirst=True)  # before junitxml's own configure reads the xml path
def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    explicit = getattr(config.option, "mxdrill_hosts", None) or getattr(config.option, "hosts", None)
    path = Path(explicit or config.getini("mxdrill_hosts"))
    if not explicit and not path.exists():
        config.stash[INVENTORY_KEY] = None  # not a drill run (e.g. mxdrill's own unit tests)
        return
    # `-n 4`, `-k stop`: option values are no test paths; only paths given on the command line are
    positional = config.args_source == pytest.Config.ArgsSource.ARGS
    drill_run = (bool(explicit) or not positional) and not config.option.help
    try:
        fleet = config.stash[FLEET_KEY] = inventory_module.load_fleet(path)
        inv = config.stash[INVENTORY_KEY] = fleet.domains[0]
        if drill_run:  # key file and known_hosts must exist before anything connects
            for domain in fleet.domains:
                inventory_module.check_files(domain)
    except inventory_module.InventoryError as error:
        raise pytest.UsageError(str(error)) from None
    probes = probes_setting(config)  # a usage error now, not an INTERNALERROR or a silent default later
    modes = config.stash[MODES_KEY] = faults_setting(config)
    if "vip" in modes and not any(domain.vip for domain in fleet.domains):
        raise pytest.UsageError(f"--faults vip: no domain of {path} declares mxdrill_vip (its keepalived address): "
                                "declare it, or leave vip out of the fault modes")
    if "userdb" in modes and not any(domain.userdb for domain in fleet.domains):
        raise pytest.UsageError(f"--faults userdb: no domain of {path} declares its user database (group mxdrill_userdb, "
                                "the host the MXs' mysql: maps ask): declare it, or leave userdb out of the fault modes")
    if "mailstore" in modes and not any(domain.mailstore for domain in fleet.domains):
        raise pytest.UsageError(f"--faults mailstore: no domain of {path} declares a mail store (group mxdrill_mailstore, "
                                "the host the MXs relay to): declare it, or leave mailstore out of the fault modes")
    config.stash[LOAD_KEY] = load_setting(config)
    config.stash[VIA_KEY] = via_setting(config, fleet)
    if config.getoption("mxdrill_dry_run"):
        print("\n".join(line for domain in fleet.domains for line in plan_lines(domain, probes, modes, config.stash[LOAD_KEY])), flush=True)
        pytest.exit("dry run: nothing was touched", returncode=0)
    _translate_sigterm()
    set_progress_sink(lambda line: config.get_terminal_writer().line(f"  mxdrill: {line}", cyan=True))
    config.stash[DRILL_RUN_KEY] = drill_run
    _require_loadgroup(config, drill_run)
    if drill_run:
        config.pluginmanager.register(RunOrder(), "mxdrill-run-order")
    if drill_run:
        # A drill run (`pytest --hosts=...`, or plain `pytest` on the drill suites): it gets reports/<UTC>/.
        _bound_every_test(config, max(domain.drill_deadline for domain in fleet.domains))
        report_dir = config.stash[REPORT_DIR_KEY] = _worker_report_dir(config) or _make_report_dir(config)
        if not getattr(config.option, "xmlpath", None):
            config.option.xmlpath = str(report_dir / "junit.xml")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """The interlock: disruptive steps run only with an explicit opt-in or inside a maintenance window."""
    if item.get_closest_marker("disruptive") is None:
        return
    inv = _item_domain(item) or item.config.stash.get(INVENTORY_KEY, None)
    allowed, why = disruption_allowed(item.config.getoption("mxdrill_allow_disruption"), inv.maintenance_window if inv else None)
    if not allowed:
        pytest.skip(why)


def _require_loadgroup(config: pytest.Config, drill_run: bool) -> None:
    """`-n N` alone spreads one drill's steps over workers, and every step after preflight would skip:
    a drill over xdist needs `--dist loadgroup` (each primary's drills on one worker, in order)."""
    workers = getattr(config.option, "numprocesses", None)
    if drill_run and workers and getattr(config.option, "dist", "no") not in ("loadgroup", "no"):
        raise pytest.UsageError(f"-n {workers} with --dist {config.option.dist} would split each drill over workers: "
                                "add --dist loadgroup (mxdrill groups a primary's drills on one worker)")


def _item_scenario(item: pytest.Item) -> Scenario | None:
    """The drill scenario of a drill step (a user's own `scenario` parameter is not one)."""
    scenario = item.callspec.params.get("scenario") if hasattr(item, "callspec") else None
    return scenario if isinstance(scenario, Scenario) else None


def _item_domain(item: pytest.Item) -> inventory_module.Inventory | None:
    """The domain an item runs for: a drill step's, or a check's run once per domain of a fleet."""
    fleet = item.config.stash.get(FLEET_KEY, None)
    scenario = _item_scenario(item)
    name = scenario.domain if scenario else (item.callspec.params.get("inventory") if hasattr(item, "callspec") else None)
    return fleet.domain(name) if fleet is not None and isinstance(name, str) and name else None


# --- fleets over pytest-xdist: the controller makes reports/<UTC>/, each worker writes its history there ---

@pytest.hookimpl(optionalhook=True)  # an xdist hook: only called when xdist runs
def pytest_configure_node(node: Any) -> None:
    report_dir = node.config.stash.get(REPORT_DIR_KEY, None)
    if report_dir is not None:
        node.workerinput["mxdrill_report_dir"] = str(report_dir)


def _worker_report_dir(config: pytest.Config) -> Path | None:
    worker = getattr(config, "workerinput", None)
    return Path(worker["mxdrill_report_dir"]) if worker and "mxdrill_report_dir" in worker else None


def _history_file(config: pytest.Config, report_dir: Path) -> Path:
    """history.jsonl, or history-gw<N>.jsonl on an xdist worker (the controller merges them)."""
    worker = getattr(config, "workerinput", None)
    return report_dir / (f"history-{worker['workerid']}.jsonl" if worker else "history.jsonl")


def _bound_every_test(config: pytest.Config, seconds: float) -> None:
    """A last-resort bound on each step where the user set none (pytest-timeout; this repository's
    pyproject sets its own): its default signal method raises inside the step, so the heals still run."""
    if getattr(config.option, "timeout", None) is None and not config.getini("timeout"):
        config.option.timeout = seconds


def _translate_sigterm() -> None:
    """pytest runs finalizers on Ctrl-C but not on SIGTERM: make SIGTERM a Ctrl-C so every heal runs."""
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, interrupt)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Test seam for the harness-fault tests: hold after a named step until a file disappears.

    `MXDRILL_HOLD_AFTER=test_stop_primary MXDRILL_HOLD_FILE=/path` makes the run wait (at most 120 s)
    right after that step, so a test can kill the run or cut a link at a known point. Unset: no effect.
    """
    result = yield
    step, hold_file = os.environ.get("MXDRILL_HOLD_AFTER"), os.environ.get("MXDRILL_HOLD_FILE")
    if step and hold_file and item.name.startswith(step):
        Path(hold_file + ".reached").touch()
        poll_until(lambda: not Path(hold_file).exists(), 120, f"the hold file {hold_file} to go")
    return result


DRILL_RUN_KEY = pytest.StashKey[bool]()


@pytest.hookimpl(tryfirst=True)  # before -k and -m deselect: they select among the drill's items too
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.stash.get(DRILL_RUN_KEY, False) and config.getini("mxdrill_suites"):
        add_packaged_suites(session, items)
    fleet = config.stash.get(FLEET_KEY, None)
    for item in items:  # `-n N --dist loadgroup`: a domain's checks and drills on one worker, in order
        domain = _item_domain(item) or (fleet.domains[0] if fleet is not None and len(fleet.domains) == 1 else None)
        if domain is not None and config.stash.get(DRILL_RUN_KEY, False):
            item.add_marker(pytest.mark.xdist_group(f"{domain.domain}:{domain.primary.name}"))



class RunOrder:
    """A second collection hook, run last (after pytest groups items by their fixtures' parameters):
    the checks before the drill, a user's own checks after it, whatever the grouping did."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        items.sort(key=_run_rank)  # stable: each group keeps its own order


def _run_rank(item: pytest.Item) -> int:
    return 0 if item.nodeid.startswith("mxdrill/test_preflight.py") else 1 if item.nodeid.startswith("mxdrill/") else 2


def _parametrizes_itself(metafunc: pytest.Metafunc, name: str) -> bool:
    """A test's own @pytest.mark.parametrize of `name` is the user's, not a drill scenario."""
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if name in ([n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)):
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    fleet = metafunc.config.stash.get(FLEET_KEY, None)
    if "scenario" not in metafunc.fixturenames or _parametrizes_itself(metafunc, "scenario"):
        if fleet is not None and len(fleet.domains) > 1 and "inventory" in metafunc.fixturenames:
            # a fleet: each check of one domain (preflight, a user's own) runs once per domain
            names = [domain.domain for domain in fleet.domains]
            metafunc.parametrize("inventory", names, ids=names, indirect=True, scope="session")
        return
    found = fleet_scenarios(fleet.domains, metafunc.config.stash.get(MODES_KEY, DEFAULT_MODES)) if fleet else []
    metafunc.parametrize("scenario", found, ids=[s.id for s in found], scope="class")


# --- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def fleet(pytestconfig: pytest.Config) -> inventory_module.Fleet:
    """Every mail domain of the inventory (most inventories have one)."""
    found = pytestconfig.stash.get(FLEET_KEY, None)
    if found is None:
        pytest.skip("no inventory: pass --hosts=PATH (see README)")
    return found


@pytest.fixture(scope="session")
def inventory(request: pytest.FixtureRequest, fleet: inventory_module.Fleet) -> inventory_module.Inventory:
    """The domain under test: the inventory's only one, or in a fleet the one this test is run for."""
    name = getattr(request, "param", None)
    return fleet.domain(name) if name is not None else fleet.domains[0]


@pytest.fixture(scope="session")
def run_id() -> str:
    return new_run_id()


def _make_report_dir(config: pytest.Config) -> Path:
    """reports/<UTC timestamp>/, with reports/latest pointing at it (a second run in the same second gets -2)."""
    base = Path(config.getoption("mxdrill_reports") or config.getini("mxdrill_reports"))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    directory, n = base / stamp, 1
    while directory.exists():
        n += 1
        directory = base / f"{stamp}-{n}"
    directory.mkdir(parents=True, mode=0o700)  # logs, queue ids, addresses and the inventory: not for every local user
    latest = base / "latest"
    if latest.is_symlink() or not latest.exists():
        latest.unlink(missing_ok=True)
        latest.symlink_to(directory.name)
    return directory


@pytest.fixture(scope="session")
def report_dir(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """reports/<UTC>/ of a drill run; a temporary directory when drill fixtures are used otherwise."""
    directory = pytestconfig.stash.get(REPORT_DIR_KEY, None)
    return directory if directory is not None else tmp_path_factory.mktemp("mxdrill-report")


@pytest.fixture(scope="session")
def history(pytestconfig: pytest.Config, report_dir: Path) -> History:
    """Every event of the run (each stamped with its scenario), appended to history.jsonl as it happens."""
    found = pytestconfig.stash[HISTORY_KEY] = History(path=_history_file(pytestconfig, report_dir))
    return found


@pytest.fixture(scope="session")
def sessions(pytestconfig: pytest.Config, fleet: inventory_module.Fleet) -> Iterator[Sessions]:
    """One SSH session per host for the whole run, whichever domains it serves."""
    pool = Sessions(max(domain.command_timeout for domain in fleet.domains))
    pytestconfig.stash[SESSIONS_KEY] = pool
    yield pool
    pool.close_all()


@pytest.fixture(scope="session")
def fleet_hosts(fleet: inventory_module.Fleet, sessions: Sessions) -> dict[str, dict[str, MailHost]]:
    """Domain -> each of its MXs with its seams (MTA, mail log, mailbox store), for the whole run."""
    return {domain.domain: mail_hosts(domain, sessions) for domain in fleet.domains}


@pytest.fixture(scope="session")
def hosts(inventory: inventory_module.Inventory, fleet_hosts: dict[str, dict[str, MailHost]]) -> dict[str, MailHost]:
    """The domain's MXs with their seams, shared by every drill and check of the run."""
    return fleet_hosts[inventory.domain]


MAX_PROBES = 1000


def faults_setting(config: pytest.Config) -> tuple[str, ...]:
    """--faults, else ini mxdrill_faults: known fault modes, or a one-line usage error (exit 4)."""
    option = config.getoption("mxdrill_faults")
    raw, where = (option, "--faults") if option is not None else (config.getini("mxdrill_faults"), "ini mxdrill_faults")
    try:
        return parse_modes(str(raw), where)
    except ValueError as error:
        raise pytest.UsageError(f"{error}; known: {', '.join(MODES)}, e.g. --faults stop,kill") from None


def _setting(config: pytest.Config, name: str, flag: str) -> tuple[str, str]:
    """(text, where): the command line's value, else the ini's, and how to name it in an error."""
    option = config.getoption(name)
    return (str(option).strip(), flag) if option is not None else (str(config.getini(name)).strip(), f"ini {name}")


def _whole(text: str, where: str, low: int, high: int, what: str, example: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= len(str(high)) and low <= int(text) <= high):
        raise pytest.UsageError(f"{where}: expected {what}, {low} to {high}, got {text!r}; e.g. {example}")
    return int(text)


def via_setting(config: pytest.Config, fleet: inventory_module.Fleet) -> tuple[str, ...]:
    """--via / ini mxdrill_via: known probe paths, each once; `sender` needs a declared sender host."""
    text, where = _setting(config, "mxdrill_via", "--via")
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in VIAS]
    if unknown or not names:
        raise pytest.UsageError(f"{where}: unknown probe path {unknown[0]!r}; known: {', '.join(VIAS)}, e.g. --via harness,sender"
                                if unknown else f"{where}: no probe path given; e.g. --via harness")
    if "sender" in names and any(domain.sender is None for domain in fleet.domains):
        raise pytest.UsageError(f"{where}: sender: {fleet.path} declares no host in the mxdrill_sender group "
                                "(a host whose MTA sends to the domain's MXs): declare one, or use --via harness")
    return names


def load_setting(config: pytest.Config) -> LoadSettings | None:
    """--load / --rate / --concurrency (else their ini keys): the load stream, or None; a bad value is one
    usage line (exit 4). The concurrency also bounds the phases' probes: it is the harness's MTA policy."""
    count = _whole(*_setting(config, "mxdrill_load", "--load"), 0, MAX_LOAD, "a whole number of load probes", "--load 1000")
    concurrency = _whole(*_setting(config, "mxdrill_concurrency", "--concurrency"), 1, 500,
                         "a whole number of connections per MX", "--concurrency 20")
    smtp.MX_CONCURRENCY = concurrency
    rate_text, rate_where = _setting(config, "mxdrill_rate", "--rate")
    rate = None
    if rate_text:
        try:
            rate = float(rate_text)
        except ValueError:
            rate = -1.0
        if not 0.1 <= rate <= 10_000:
            raise pytest.UsageError(f"{rate_where}: expected probes per second, 0.1 to 10,000, got {rate_text!r}; e.g. --rate 50")
    return LoadSettings(count, rate, concurrency) if count else None


def probes_setting(config: pytest.Config) -> int:
    """--probes, else ini mxdrill_probes: a positive integer, or a one-line usage error (exit 4).

    `--probes 0` used to become the default 3 (0 is falsy) and `-3` was taken; `three` in the ini
    was a traceback. Each is now refused with what to write instead.
    """
    return _whole(*_setting(config, "mxdrill_probes", "--probes"), 1, MAX_PROBES,
                  "a whole number of probe mails per phase", "--probes 3")


@pytest.fixture(scope="session")
def drill_locks(fleet: inventory_module.Fleet, run_id: str) -> Iterator[dict[str, LocalLock]]:
    """Domain -> its lock: one drill at a time per domain of this inventory on this machine (taken
    by the domain's first preflight); a fleet's domains may be drilled at once, by xdist workers."""
    state = pending.state_file(fleet.path)
    several = len(fleet.domains) > 1
    locks = {d.domain: LocalLock(state.with_name(f"{fleet.path.name}{'.' + d.domain if several else ''}.drill.lock"), run_id)
             for d in fleet.domains}
    yield locks
    for lock in locks.values():
        lock.release()


@pytest.fixture(scope="session")
def probes_per_phase(pytestconfig: pytest.Config) -> int:
    return probes_setting(pytestconfig)


@pytest.fixture(scope="class")
def drill(
    request: pytest.FixtureRequest, scenario: Scenario, fleet: inventory_module.Fleet,
    fleet_hosts: dict[str, dict[str, MailHost]], history: History, run_id: str, probes_per_phase: int,
    drill_locks: dict[str, LocalLock], run_cursors: dict[str, str], sessions: Sessions,
) -> Iterator[Drill]:
    """One drill per scenario, with its own record; its heals are registered here, before any step runs.

    Each scenario's probes and dead-man tags carry their own run id (`<run>-<n>`), so one drill's
    mailbox scans never count another's probes.
    """
    inventory = fleet.domain(scenario.domain)
    vias = request.config.stash.get(VIA_KEY, ("harness",))
    drill_id = f"{run_id}-{fleet_scenarios(fleet.domains, request.config.stash.get(MODES_KEY, DEFAULT_MODES)).index(scenario) + 1}"
    record = history.record(scenario.id)
    nemesis = Nemesis(record, pending.state_file(inventory.path), drill_id, window=inventory.deadman_window)
    state = Drill(scenario, inventory, fleet_hosts[scenario.domain], record, drill_id, nemesis, probes_per_phase,
                  local_lock=drill_locks[scenario.domain], run_cursors=run_cursors,
                  load=request.config.stash.get(LOAD_KEY, None), vias=vias,
                  via_sender=sender_path(inventory, sessions) if "sender" in vias else None,
                  support=support_hosts(inventory, sessions))

    def heal_everything() -> None:
        state.stop_load()  # no probe goes out after the drill: heals, scans and cleanup see the final set
        problems = nemesis.heal_all()
        if problems:  # the hosts' drill locks stay: no other drill may start on a primary left down
            pytest.fail("; ".join(problems), pytrace=False)
        state.release()

    request.addfinalizer(heal_everything)
    yield state
    keep = request.config.getoption("mxdrill_keep_probes") or inventory.keep_probes
    try:
        if not keep and steps.CLEAN_UP_AFTER in state.passed:
            state.remove_probes()
    finally:
        state.unmark()  # the mailbox cursors go whatever happened: they are the harness's, not the user's


# --- fixtures for a postmaster's own checks (their tests_infra/), like testinfra's `host` -----------

@pytest.fixture(scope="session")
def run_cursors() -> dict[str, str]:
    """Each MX's mail-log cursor when the run's first drill began (site checks read from there)."""
    return {}


@pytest.fixture(scope="session")
def infra_host(inventory: inventory_module.Inventory, sessions: Sessions) -> Callable[[str], testinfra.host.Host]:
    """`infra_host("mx2")`: testinfra's Host (file, service, mount_point, ...) for a declared host."""
    return lambda name: site.facts(inventory, sessions, name)


@pytest.fixture(scope="session")
def mail_log(inventory: inventory_module.Inventory, hosts: dict[str, MailHost], run_cursors: dict[str, str]) -> site.MailLog:
    """`mail_log.events("mx2")`, `.lines("mx2")`, `.trails(message_id)`: the MXs' logs since the drill began."""
    return site.MailLog(inventory, hosts, run_cursors)


@pytest.fixture(scope="session")
def mailbox(inventory: inventory_module.Inventory, hosts: dict[str, MailHost]) -> site.Mailboxes:
    """`mailbox.find(message_id, recipient)`: MX -> paths of that mail in the recipient's mailbox."""
    return site.Mailboxes(inventory, hosts)


@pytest.fixture(scope="session")
def send_probe(pytestconfig: pytest.Config, inventory: inventory_module.Inventory, mailbox: site.Mailboxes,
               run_id: str, run_cursors: dict[str, str]) -> Iterator[site.ProbeSender]:
    """`send_probe("sales@example.com")`: one probe sent as a real sender would, waited for in a mailbox;
    removed at the end of the run (unless --keep-probes)."""
    sender = site.ProbeSender(inventory, mailbox, f"{run_id}-site", run_cursors)
    yield sender
    if not (pytestconfig.getoption("mxdrill_keep_probes") or inventory.keep_probes):
        sender.remove_all()


def pytest_report_header(config: pytest.Config) -> list[str]:
    fleet = config.stash.get(FLEET_KEY, None)
    if fleet is None:
        return []
    lines = []
    for inv in fleet.domains:
        backups = ", ".join(f"{h.name} (MX {h.mx_priority})" for h in inv.backups)
        lines.append(f"mxdrill: {inv.path} — domain {inv.domain}, primary {inv.primary.name} (MX {inv.primary.mx_priority}), backups {backups}")
    return [*lines, f"mxdrill: pid {os.getpid()}"]


def require_drill(config: pytest.Config) -> bool:
    option = config.getoption("mxdrill_require_drill")
    return bool(config.getini("mxdrill_require_drill") if option is None else option)


def run_verdict(config: pytest.Config) -> str:
    """The run's verdict over every drill of it (NOT RUN when none ran)."""
    history = config.stash.get(HISTORY_KEY, None)
    return report.overall(report.results(history) if history is not None else [])


def _has_findings(history: History | None) -> bool:
    """A run worth a report: a drill began, or the acceptance suite recorded a preflight finding."""
    return history is not None and bool(history.scenarios() or any(e.kind == Kind.PREFLIGHT for e in history.events))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """The verdict first, then each drill's numbers: who took the probes, failover and drain seconds."""
    history = config.stash.get(HISTORY_KEY, None)
    required = require_drill(config) and config.stash.get(DRILL_RUN_KEY, False)
    if not _has_findings(history) and not required:
        return
    terminalreporter.section("mxdrill")
    rows = report.preflight_rows(history) if history is not None else []
    if rows:
        problems = [r for r in rows if r.status != "pass"]
        terminalreporter.write_line(f"preflight: {report.preflight_tally(rows)}", bold=True,
                                    **({"red": True} if any(r.status == "error" for r in rows) else {"yellow": True} if problems else {"green": True}))
        for row in problems:
            terminalreporter.write_line(f"  {row.status.upper()} {row.check} on {row.host}: {row.evidence}"
                                        + (f": {row.fix}" if row.fix else ""))
    report_dir = config.stash.get(REPORT_DIR_KEY, None)
    if history is not None and not history.scenarios() and not required:  # the acceptance suite alone
        if report_dir is not None:
            terminalreporter.write_line(f"reports: {report_dir}/ (summary.html, summary.md, history.jsonl, junit.xml)")
        return
    verdict = run_verdict(config)
    colour = {"PASS": {"green": True}, "FAIL": {"red": True}}.get(verdict, {"yellow": True})
    drills = len(history.scenarios()) if history is not None else 0
    terminalreporter.write_line(f"mxdrill: {verdict} ({drills} drill{'s' if drills != 1 else ''})"
                                + (" — --require-drill: this run exits non-zero" if required and verdict != "PASS" else ""),
                                bold=True, **colour)
    for result in report.results(history) if history is not None else []:
        for line in report.terminal_lines(result):
            terminalreporter.write_line(line)
    pool = config.stash.get(SESSIONS_KEY, None)
    if pool is not None:
        terminalreporter.write_line(f"SSH connections opened: {pool.connections}")
    for flag in config.stash.get(FLAGS_KEY, []):
        terminalreporter.write_line(f"WARNING: {flag}", yellow=True, bold=True)
    if report_dir is not None:
        terminalreporter.write_line(f"reports: {report_dir}/ (summary.html, summary.md, history.jsonl, junit.xml)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Each drill step's outcome goes into its scenario's record, for the checkers and the reports."""
    outcome = yield
    scenario = _item_scenario(item)
    step = steps.by_test_name(getattr(item, "originalname", item.name))
    history = item.config.stash.get(HISTORY_KEY, None)
    if scenario is not None and step is not None and history is not None and (outcome.when == "call" or outcome.outcome != "passed"):
        reason = outcome.longrepr[2] if outcome.skipped and isinstance(outcome.longrepr, tuple) else None
        history.record(scenario.id).append(Kind.STEP_END, step=step.name, when=outcome.when, outcome=outcome.outcome,
                                           **({"reason": reason.removeprefix("Skipped: ")} if reason else {}))
    return outcome


def _merge_worker_histories(config: pytest.Config, report_dir: Path) -> None:
    """xdist's controller: the workers' history-gw<N>.jsonl files as one history.jsonl, in time order."""
    parts = sorted(report_dir.glob("history-gw*.jsonl"))
    if parts:
        config.stash[HISTORY_KEY] = History.merged(parts, report_dir / "history.jsonl")


REQUIRED_DRILL_MISSING = 1  # pytest's "tests failed": a scheduler sees a drill that proved nothing as a failure


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the reports; a failure here is reported but never changes the drill's verdict."""
    config = session.config
    report_dir = config.stash.get(REPORT_DIR_KEY, None)
    if hasattr(config, "workerinput"):  # an xdist worker: the controller reports for the whole run
        return
    if report_dir is not None and HISTORY_KEY not in config.stash:
        _merge_worker_histories(config, report_dir)
    if require_drill(config) and config.stash.get(DRILL_RUN_KEY, False) and session.exitstatus in (0, 5) \
            and run_verdict(config) != "PASS":
        session.exitstatus = REQUIRED_DRILL_MISSING
    history = config.stash.get(HISTORY_KEY, None)
    if not _has_findings(history) or report_dir is None:
        return
    try:
        config.stash[FLAGS_KEY] = report.write(report_dir, history, config.stash[FLEET_KEY])
    except Exception as error:  # noqa: BLE001 - the verdict and history.jsonl must survive any report bug
        config.stash[FLAGS_KEY] = [f"report writing failed ({type(error).__name__}: {error}); history.jsonl and junit.xml are intact"]
