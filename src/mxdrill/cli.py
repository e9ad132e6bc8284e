"""The `mxdrill` command line: the lab today; the drill itself runs under pytest.

User mistakes end in one line on stderr and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from mxdrill.lab import ansible_inventory, manager
from mxdrill.lab import topology as topo
from mxdrill.lab.errors import LabError, LabUsageError

EXIT_USAGE = 2
EXIT_UNHEALTHY = 3
EXIT_BAD_INVENTORY = 4  # the same code pytest gives a usage error


def _prefix(text: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not an IPv4 prefix: {error}") from None
    if network.prefixlen != 24:
        raise argparse.ArgumentTypeError("the lab needs a /24 (it numbers hosts .1 to .53)")
    return network


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mxdrill", description="Failover drills for mail exchangers.")
    commands = parser.add_subparsers(dest="command", required=True)
    lab = commands.add_parser("lab", help="the local lab of real mail servers (root)")
    lab_commands = lab.add_subparsers(dest="lab_command", required=True)

    up = lab_commands.add_parser("up", help="bring the lab up (idempotent) and wait until every service answers")
    up.add_argument("--topology", choices=topo.TOPOLOGIES, default="shared",
                    help="shared: mx2 delivers into the shared store; relay: mx2 queues and relays to mx1; "
                         "store: both MXs relay over TLS with SASL to a mail store (Postfix + Dovecot LMTP)")
    up.add_argument("--userdb", choices=topo.USERDBS, default=topo.DEFAULT_USERDB,
                    help="where the MXs look up their domains and users: files (texthash maps, default) or mysql "
                         "(seed 003 Scénario 2: MariaDB on the userdb host, mysql: maps on both MXs; shared topology)")
    up.add_argument("--mx-priorities", choices=topo.PRIORITIES, default=topo.DEFAULT_PRIORITIES,
                    help="distinct: MX 10 mx1, MX 20 mx2 (default); equal: both at MX 10, sharing the mail "
                         "(seed 003's round-robin; shared topology)")
    up.add_argument("--backups", type=int, choices=topo.BACKUP_CHOICES, default=topo.DEFAULT_BACKUPS,
                    help="backup MXs: 1 (mx2, MX 20) or 2 (also mx3, MX 30, delivering into the shared store); "
                         "default %(default)s")
    up.add_argument("--init", choices=topo.INITS, default=topo.DEFAULT_INIT,
                    help="how the MXs and the sender boot: initscripts (Debian's init scripts under tini, rsyslog) "
                         "or systemd (systemd 252 as PID 1, the journal as the only log, root SSH refused: "
                         "log in as drill with sudo); default %(default)s")
    up.add_argument("--domains", type=int, default=topo.DEFAULT_DOMAINS, metavar="N",
                    help=f"mail domains: example.test, then example2.test ... each with its own MX pair "
                         f"(mx1/mx2.exampleK.test, MX 10/20, no VIP); 1 to {topo.MAX_DOMAINS}, default %(default)s")
    up.add_argument("--prefix", type=_prefix, default=topo.DEFAULT_PREFIX, help="lab network (default %(default)s)")
    _state_dir_option(up, "where the SSH key, known_hosts and ssh_config go (default ./.lab)")

    lab_commands.add_parser("down", help="remove every namespace, bridge, mount, process and run file of the lab")
    status = lab_commands.add_parser("status", help="each host and service: up or down")
    status.add_argument("--prefix", type=_prefix, default=topo.DEFAULT_PREFIX)

    init = commands.add_parser("init", help="write a drill repository: hosts.yml, pytest.ini, conftest.py, tests_infra/, reports/")
    init.add_argument("directory", type=Path, nargs="?", default=Path("."), help="where (default: here); created if needed")
    init.add_argument("--lab-state-dir", type=Path, default=None,
                      help="the lab whose inventory hosts.yml gets (default: the running lab's, else ./.lab)")

    reports = commands.add_parser("report", help="work with the reports of finished runs")
    report_commands = reports.add_subparsers(dest="report_command", required=True)
    merge = report_commands.add_parser("merge", help="several runs' reports/<UTC>/ as one summary (one controller per site)")
    merge.add_argument("runs", type=Path, nargs="+", help="the reports/<UTC>/ directories of the runs")
    merge.add_argument("--into", type=Path, required=True, help="a new directory for the merged reports")

    restore = commands.add_parser("restore", help="heal whatever a dead drill left broken (safe any time)")
    restore.add_argument("--hosts", type=Path, default=Path("hosts.yml"), help="the inventory (default hosts.yml)")

    run = lab_commands.add_parser("exec", help="run a command inside a lab host: mxdrill lab exec mx1 -- postqueue -j")
    run.add_argument("host", help="dns, storage, mx1, mx2, mx3 (with --backups 2), sender, or a further domain's "
                                  "mx1-dK / mx2-dK (with --domains; or its FQDN, mx1.example2.test)")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="the command (after --)")

    inventory = lab_commands.add_parser("inventory", help="print the Ansible inventory of the lab as it runs now")
    where = inventory.add_mutually_exclusive_group()
    where.add_argument("--output", type=Path, default=None, help="write it to this file instead of stdout")
    where.add_argument("--ansible-dir", type=Path, default=None,
                       help="write it in Ansible's layout instead: DIR/hosts.yml (groups and hosts), "
                            "DIR/group_vars/all.yml (shared variables), DIR/host_vars/<host>.yml")
    _state_dir_option(inventory, "the state directory the lab was brought up with (default ./.lab)")

    cert = lab_commands.add_parser("cert", help="swap the certificate a lab MX serves (and reload its Postfix)")
    cert_commands = cert.add_subparsers(dest="cert_command", required=True)
    install = cert_commands.add_parser("install", help="serve this certificate and key (PEM) on one lab MX")
    install.add_argument("host", help="an MX: mx1, mx2, mx3, mx1-dK... or its FQDN")
    install.add_argument("--cert", type=Path, required=True, help="the certificate (PEM)")
    install.add_argument("--key", type=Path, required=True, help="its private key (PEM)")
    back = cert_commands.add_parser("restore", help="serve again the certificate the lab gave this MX")
    back.add_argument("host", help="an MX: mx1, mx2, mx3, mx1-dK... or its FQDN")
    _state_dir_option(back, "the state directory the lab was brought up with (default ./.lab)")
    return parser


def _state_dir_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--state-dir", type=Path, default=Path(".lab"), help=help_text)


def _show_status(prefix: ipaddress.IPv4Network) -> int:
    from rich.console import Console
    from rich.table import Table

    state, states = manager.status(prefix)
    table = Table(title=f"mxdrill lab ({state.describe() if state else 'not up'})")
    table.add_column("host")
    table.add_column("service")
    table.add_column("state")
    table.add_column("detail")
    for state in states:
        table.add_row(state.host, state.service, "[green]up[/]" if state.up else "[red]down[/]", state.detail)
    Console().print(table)
    return 0 if states and all(s.up for s in states) else EXIT_UNHEALTHY


def _key_paths(paths: manager.LabPaths) -> tuple[str, str, str]:
    """The lab's key, known_hosts and CA certificate as absolute paths, so its inventory works from any directory."""
    ssh_dir = paths.ssh_dir.resolve()
    return str(ssh_dir / "id_ed25519"), str(ssh_dir / "known_hosts"), str(paths.tls_ca.resolve())


def _rendered(state: manager.RunState, key_file: str, known_hosts: str, tls_ca: str) -> str:
    """The inventory of the lab as it runs (every domain of it)."""
    return ansible_inventory.render(state.topology, state.backups, state.prefix, key_file, known_hosts, state.init,
                                    state.domains, tls_ca, state.userdb, state.priorities)


def _write_inventory(state_dir: Path, output: Path | None, ansible_dir: Path | None = None) -> int:
    """The running lab's inventory with absolute paths into its state directory, so it works from anywhere."""
    paths = manager.LabPaths(state_dir)
    state = manager.require_running(paths)
    key_file, known_hosts, tls_ca = _key_paths(paths)
    if ansible_dir is not None:
        files = ansible_inventory.render_dir(state.topology, state.backups, state.prefix, key_file, known_hosts, state.init,
                                             state.domains, tls_ca, state.userdb, state.priorities)
        _write_ansible_dir(ansible_dir, files)
        print(f"lab: wrote the inventory of the lab ({state.describe()}) to {ansible_dir}: "
              f"hosts.yml, group_vars/all.yml, host_vars/ (use --hosts={ansible_dir / 'hosts.yml'})")
        return 0
    text = _rendered(state, key_file, known_hosts, tls_ca)
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text)
    except OSError as error:
        raise LabError(f"cannot write the inventory to {output}: {error.strerror}; choose another --output") from None
    print(f"lab: wrote the inventory of the lab ({state.describe()}) to {output}")
    return 0


def _write_ansible_dir(directory: Path, files: dict[str, str]) -> None:
    """Write the layout's files; host_vars of lab hosts that do not run now (mx3, a further domain's MXs) and
    group_vars of domains that do not either are removed, so Ansible never reads them."""
    stale = [f"host_vars/{h.fqdn}.yml" for h in topo.EVERY_HOST]
    stale += [f"group_vars/{topo.domain_group(d)}.yml" for d in topo.mail_domains(topo.MAX_DOMAINS)[1:]]
    try:
        for relative in stale:
            if relative not in files:
                (directory / relative).unlink(missing_ok=True)
        for relative, text in files.items():
            path = directory / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    except OSError as error:
        raise LabError(f"cannot write the inventory to {directory}: {error.strerror}; choose another --ansible-dir") from None


def _swap_certificate(args: argparse.Namespace) -> int:
    """`lab cert install|restore`: what a lab test does with `mxcert`, by hand (to see the preflight fail, then pass)."""
    from mxdrill.lab import mxcert

    manager.require_root()
    if args.cert_command == "restore":
        mxcert.restore(args.host, manager.LabPaths(args.state_dir).tls_dir)
        print(f"lab: {args.host} serves the lab's certificate again")
        return 0
    try:
        cert_pem, key_pem = args.cert.read_text(), args.key.read_text()
    except OSError as error:
        raise LabError(f"cannot read {error.filename}: {error.strerror}") from None
    mxcert.install(args.host, cert_pem, key_pem)
    print(f"lab: {args.host} serves {args.cert}; `mxdrill lab cert restore {args.host}` puts the lab's back")
    return 0


def run_lab(args: argparse.Namespace) -> int:
    if args.lab_command == "up":
        manager.up(args.topology, args.prefix, manager.LabPaths(args.state_dir), backups=args.backups, init=args.init,
                   domains=args.domains, userdb=args.userdb, priorities=args.mx_priorities)
        return 0
    if args.lab_command == "inventory":
        return _write_inventory(args.state_dir, args.output, args.ansible_dir)
    if args.lab_command == "down":
        manager.down()
        return 0
    if args.lab_command == "status":
        return _show_status(args.prefix)
    if args.lab_command == "cert":
        return _swap_certificate(args)
    command = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    return manager.exec_in(args.host, command)


def run_init(args: argparse.Namespace) -> int:
    """A drill repository whose hosts.yml is the lab's (as it runs now), so it runs unchanged against it."""
    from mxdrill import scaffold

    paths = manager.LabPaths(args.lab_state_dir or manager.running_state_dir() or Path(".lab"))
    key_file, known_hosts, tls_ca = _key_paths(paths)
    state = manager.run_state()
    if state is None:
        text = ansible_inventory.render(key_file=key_file, known_hosts=known_hosts, tls_ca=tls_ca)
        note = f"the lab is not up: hosts.yml is the default lab's (keys in {paths.state_dir}); edit it for your own hosts"
    else:
        text = _rendered(state, key_file, known_hosts, tls_ca)
        note = f"hosts.yml is the running lab's ({state.describe()}); edit it for your own hosts"
    try:
        written = scaffold.write(args.directory, text)
    except scaffold.ScaffoldError as error:
        print(f"mxdrill: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"mxdrill: wrote {', '.join(str(p.relative_to(args.directory)) for p in written)} in {args.directory}; {note}")
    print(f"mxdrill: next: cd {args.directory} && pytest --hosts=hosts.yml --dry-run, then pytest --hosts=hosts.yml")
    return 0


def run_report(args: argparse.Namespace) -> int:
    """`report merge`: exit 0 when the merged verdict is PASS, 1 otherwise (as --require-drill)."""
    from mxdrill import report

    try:
        verdict = report.merge(args.runs, args.into)
    except report.MergeError as error:
        print(f"mxdrill: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"mxdrill: {verdict} — {len(args.runs)} runs merged into {args.into}/ (summary.html, summary.md, summary.json, history.jsonl)")
    return 0 if verdict == "PASS" else 1


def run_restore(args: argparse.Namespace) -> int:
    from mxdrill.inventory import InventoryError, load_fleet
    from mxdrill.restore import restore

    try:
        inventory = load_fleet(args.hosts)
    except InventoryError as error:
        print(f"mxdrill: {error}", file=sys.stderr)
        return EXIT_BAD_INVENTORY
    return 0 if restore(inventory) == 0 else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "lab":
            return run_lab(args)
        if args.command == "restore":
            return run_restore(args)
        if args.command == "init":
            return run_init(args)
        if args.command == "report":
            return run_report(args)
    except LabUsageError as error:
        print(f"mxdrill: {error}", file=sys.stderr)
        return EXIT_USAGE
    except LabError as error:
        print(f"mxdrill: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mxdrill: interrupted", file=sys.stderr)
        return 130
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
