"""Values that are well typed but wrong: recipients outside the domain, host names that are shell
commands, seconds of 1e300, a maintenance window that never opens, and a dead-man's switch that would
restart the primary in the middle of a working drill. Each is one line at the variable to change."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mxdrill.faults import deadman
from mxdrill.faults.stop import StopService
from mxdrill.inventory import InventoryError, load_inventory, schema
from mxdrill.inventory.checks import window_needed

REPO = Path(__file__).resolve().parents[2]
REFERENCE = (REPO / "hosts.yml").read_text()
MX1 = "all.children.mxdrill_primary.hosts.mx1.example.test"


def with_vars(**variables: object) -> str:
    """The reference inventory with these lines added at the top of all.vars (line 8 onwards)."""
    lines = "".join(f"    {name}: {value}\n" for name, value in variables.items())
    return REFERENCE.replace("  vars:\n", "  vars:\n" + lines, 1)


def load_text(tmp_path: Path, text: str, name: str = "hosts.yml"):
    path = tmp_path / name
    path.write_text(text)
    return load_inventory(path)


def refused(tmp_path: Path, text: str, name: str = "hosts.yml") -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        load_text(tmp_path, text, name)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(str(tmp_path / name)), message
    return caught.value


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


# --- the dead-man's timing -------------------------------------------------------------------------

def test_the_reference_timing_fits() -> None:
    inv = load_inventory(REPO / "hosts.yml")
    assert (inv.deadman_window, inv.drain_deadline, inv.mta_settle, inv.drill_deadline) == (300, 120, 30, 900)
    assert inv.deadman_window > window_needed(inv.drain_deadline, inv.mta_settle)


def test_the_settle_default_is_the_harness_default() -> None:
    assert schema.default("mxdrill_mta_settle") == StopService.settle_seconds == 30.0


def campaign_text() -> str:
    """The lab inventory exactly as tests/lab/test_harness_faults.py's campaign writes it."""
    source = (REPO / "tests/lab/test_harness_faults.py").read_text()
    window = re.search(r"^DEADMAN_WINDOW = (\S+)$", source, re.MULTILINE).group(1)
    injected = re.search(r'text\.replace\("  vars:\\n", f"  vars:\\n(.*?)", 1\)', source).group(1)
    return REFERENCE.replace("  vars:\n", "  vars:\n" + injected.replace("{DEADMAN_WINDOW}", window).replace("\\n", "\n"), 1)


def test_the_kill_campaigns_short_window_fits(tmp_path: Path) -> None:
    inv = load_text(tmp_path, campaign_text())
    assert inv.deadman_window == 6 and inv.command_timeout == 5
    assert inv.drain_deadline >= 1.0, "the lab's drain takes 0.1-0.5 s: the deadline must leave it room"
    assert inv.deadman_window > window_needed(inv.drain_deadline, inv.mta_settle)


def test_a_window_shorter_than_the_drill_waits_is_refused_at_the_window(tmp_path: Path) -> None:
    text = with_vars(mxdrill_deadman_window=100)
    error = refused(tmp_path, text)
    assert (error.line, error.key) == (line_of(text, "mxdrill_deadman_window"), "all.vars.mxdrill_deadman_window")
    assert "restart the primary in the middle of a working drill" in error.message
    assert "mxdrill_deadman_window is 100s" in error.message and "120s (mxdrill_drain_deadline)" in error.message
    assert f"set mxdrill_deadman_window above {window_needed(120, 30):g}" in error.message


def test_a_drain_deadline_past_the_default_window_is_refused_at_the_deadline(tmp_path: Path) -> None:
    text = with_vars(mxdrill_drain_deadline=290)
    error = refused(tmp_path, text)
    assert error.key == "all.vars.mxdrill_drain_deadline" and "mxdrill_deadman_window is 300s" in error.message


def test_the_window_fits_once_the_drill_waits_less(tmp_path: Path) -> None:
    inv = load_text(tmp_path, with_vars(mxdrill_deadman_window=10, mxdrill_drain_deadline=3, mxdrill_mta_settle=3))
    assert inv.deadman_window == 10


@pytest.mark.parametrize("window", ["0.5", "0", "0.999"])
def test_a_window_under_one_second_is_refused(tmp_path: Path, window: str) -> None:
    error = refused(tmp_path, with_vars(mxdrill_deadman_window=window, mxdrill_drain_deadline=0.1, mxdrill_mta_settle=0.1))
    assert error.key == "all.vars.mxdrill_deadman_window" and "1 to 86400 (1 day)" in error.message


def test_a_drill_deadline_shorter_than_the_outage_is_refused(tmp_path: Path) -> None:
    text = with_vars(mxdrill_drill_deadline=400)
    error = refused(tmp_path, text)
    assert (error.line, error.key) == (line_of(text, "mxdrill_drill_deadline"), "all.vars.mxdrill_drill_deadline")
    assert "leaves no room for the whole outage" in error.message and "at least 450" in error.message


def test_a_window_raised_past_the_default_drill_deadline_is_refused_at_the_window(tmp_path: Path) -> None:
    error = refused(tmp_path, with_vars(mxdrill_deadman_window=800))
    assert error.key == "all.vars.mxdrill_deadman_window" and "mxdrill_drill_deadline 900s" in error.message


class Remote:
    """Just enough of a Remote to arm a switch: no systemd, every command recorded."""

    def __init__(self, systemd: bool = False) -> None:
        self.systemd = systemd
        self.commands: list[str] = []
        self.host = type("Host", (), {"name": "mx1.example.test"})()

    def run(self, command: str):
        asks_for_systemd = "systemd-run" in command
        return type("Result", (), {"rc": 0 if self.systemd or not asks_for_systemd else 1})()

    def check(self, command: str) -> str:
        self.commands.append(command)
        return ""


@pytest.mark.parametrize(("window", "sleep"), [(1.0, "sleep 1;"), (1.5, "sleep 2;"), (6.2, "sleep 7;"), (300, "sleep 300;")])
def test_a_fractional_window_never_fires_early(window: float, sleep: str) -> None:
    remote = Remote()
    deadman.arm(remote, "mxdrill-deadman-x", "true", window)  # type: ignore[arg-type]
    assert sleep in remote.commands[0]


def test_the_systemd_timer_keeps_the_fraction() -> None:
    remote = Remote(systemd=True)
    deadman.arm(remote, "mxdrill-deadman-x", "true", 1.5)  # type: ignore[arg-type]
    assert "--on-active=1500ms" in remote.commands[0]


# --- seconds have ranges ------------------------------------------------------------------------------

SECONDS = sorted(schema.SECONDS_RANGES)


@pytest.mark.parametrize("name", SECONDS)
@pytest.mark.parametrize("value", ["1e300", "1e-300", "1" + "0" * 400, "-1"])
def test_seconds_out_of_range_are_refused_with_the_range(tmp_path: Path, name: str, value: str) -> None:
    low, high, words = schema.SECONDS_RANGES[name]
    error = refused(tmp_path, with_vars(**{name: value}))
    assert error.key == f"all.vars.{name}" and f"{low:g} to {high:g} ({words})" in error.message
    assert schema.HINTS[name].startswith("a positive number of seconds")


# --- recipients -------------------------------------------------------------------------------------

@pytest.mark.parametrize("recipient", [
    "probe@example.com,probe@example.test", "x@evil.example>@example.test", "probe@example.test,",
    '"probe x"@example.test', "a%b@example.test", "<probe@example.test>", "probe@@example.test",
    "probe @example.test", "probe@example.test\u202e", ".probe@example.test", "probe..x@example.test",
    "probe@exa_mple.test",
])
def test_a_recipient_that_is_not_one_plain_address_in_the_domain_is_refused(tmp_path: Path, recipient: str) -> None:
    text = REFERENCE.replace("[probe@example.test]", f"[{recipient!r}]".replace("\\u202e", "\u202e"))
    text = text.replace("'", '"') if "\u202e" in recipient else text
    error = refused(tmp_path, text)
    assert error.key == "all.vars.mxdrill_recipients.0"
    assert "expected an e-mail address" in error.message or "not in mxdrill_domain" in error.message


@pytest.mark.parametrize("recipient", ["probe@example.test", "Probe.Name+drill@Example.TEST", "probe_1-a@example.test."])
def test_plain_addresses_in_the_domain_are_taken(tmp_path: Path, recipient: str) -> None:
    assert load_text(tmp_path, REFERENCE.replace("[probe@example.test]", f"[{recipient!r}]")).recipients == [recipient]


# --- host names --------------------------------------------------------------------------------------

BAD_NAMES = {
    "shell": "'mx1;touch x'", "empty": "''", "space": "'mx 1.example.test'", "bell": '"mx1\\a.example.test"',
    "bidi-override": '"mx1.example.test\\u202e"', "dollar": "'$(reboot)'", "slash": "'mx1/../x'",
    "label-too-long": "'" + "a" * 64 + ".example.test'", "unicode": "'mx1.exämple.test'",
}


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_a_role_host_name_that_is_no_host_name_is_refused(tmp_path: Path, case: str) -> None:
    text = REFERENCE.replace("        mx1.example.test:", f"        {BAD_NAMES[case]}:", 1)
    error = refused(tmp_path, text)
    assert error.line == line_of(text, BAD_NAMES[case]) and error.key.startswith("all.children.mxdrill_primary.hosts.")
    assert "expected a host name" in error.message


@pytest.mark.parametrize("case", list(BAD_NAMES))
def test_an_ansible_host_that_is_no_host_name_is_refused(tmp_path: Path, case: str) -> None:
    text = REFERENCE.replace("ansible_host: 198.51.100.11", f"ansible_host: {BAD_NAMES[case]}", 1)
    error = refused(tmp_path, text)
    assert error.key == f"{MX1}.ansible_host" and "expected a host name" in error.message


@pytest.mark.parametrize("address", ["mx1", "mx_1.internal", "192.0.2.1", "2001:db8::1", "fe80::1%eth0", "MX1.Example.TEST."])
def test_host_names_and_addresses_are_taken(tmp_path: Path, address: str) -> None:
    inv = load_text(tmp_path, REFERENCE.replace("ansible_host: 198.51.100.11", f"ansible_host: '{address}'", 1))
    assert inv.primary.address == address


def test_a_host_name_with_a_shell_character_is_refused_in_ini(tmp_path: Path) -> None:
    text = ("[all:vars]\nmxdrill_domain=example.test\nmxdrill_recipients=['probe@example.test']\n"
            "[mxdrill_primary]\nmx1.example.test ansible_host='192.0.2.11;reboot' mxdrill_mx_priority=10\n"
            "[mxdrill_backup]\nmx2.example.test ansible_host=192.0.2.12 mxdrill_mx_priority=20\n")
    error = refused(tmp_path, text, "hosts.ini")
    assert (error.line, error.key) == (5, "mxdrill_primary.hosts.mx1.example.test.ansible_host")


# --- text that hides what it says ---------------------------------------------------------------------

@pytest.mark.parametrize(("name", "value"), [
    ("ansible_ssh_private_key_file", '"keys/\\0id"'), ("mxdrill_known_hosts", '"kh\\nother"'),
    ("mxdrill_mail_log", '"/var/log/mail.log\\e[2J"'), ("mxdrill_service_stop", '"service postfix stop \\u202e"'),
    ("mxdrill_service_start", '"service postfix \\0start"'),
])
def test_control_and_bidi_characters_are_refused(tmp_path: Path, name: str, value: str) -> None:
    text = REFERENCE.replace(f"    {name}:", f"    {name}: {value}\n    x_{name}:", 1) if f"    {name}:" in REFERENCE \
        else with_vars(**{name: value})
    error = refused(tmp_path, text)
    assert error.key == f"all.vars.{name}" and "hides what the value says" in error.message


def test_a_command_may_span_lines(tmp_path: Path) -> None:
    text = REFERENCE.replace("mxdrill_service_stop: service postfix stop", 'mxdrill_service_stop: "postfix stop\\n\\tsleep 1"', 1)
    assert load_text(tmp_path, text).primary.service.stop == "postfix stop\n\tsleep 1"


# --- the maintenance window ---------------------------------------------------------------------------

def test_a_maintenance_window_that_never_opens_is_refused(tmp_path: Path) -> None:
    text = REFERENCE.replace("mxdrill_maintenance_window: always", "mxdrill_maintenance_window: '22:00-22:00'")
    error = refused(tmp_path, text)
    assert error.key == "all.vars.mxdrill_maintenance_window" and "never opens" in error.message


def test_a_window_past_midnight_is_taken(tmp_path: Path) -> None:
    text = REFERENCE.replace("mxdrill_maintenance_window: always", "mxdrill_maintenance_window: '22:00-02:00'")
    assert load_text(tmp_path, text).maintenance_window == "22:00-02:00"
