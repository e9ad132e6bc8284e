"""The jump host hidden in `ansible_ssh_common_args` / `ansible_ssh_extra_args`.

MXs are often reachable only through a bastion, and Ansible users say so with extra ssh arguments:
`-o ProxyJump=bastion`, `-J admin@bastion:2222`, or `-o ProxyCommand="ssh -W %h:%p bastion"`. mxdrill
does not run the ssh binary, so it cannot pass those arguments on; it reads the one thing it needs
from them, the ProxyCommand to reach the host through, and ignores every other option, even one
ssh would refuse: only a proxy option it cannot read is an error.

The words are read as ssh reads its command line: split as a shell would, each `-x` flag taking its
argument from the rest of the word or the next word, per ssh's own list of flags that take one (so
`-F -J` is a config file named -J, not a jump). As in ssh, the first ProxyJump, `-J` or ProxyCommand
wins, and `none` means none; Ansible puts ansible_ssh_common_args before ansible_ssh_extra_args on
the command line, so the common ones come first.

A ProxyJump becomes the ProxyCommand OpenSSH itself would run: `ssh -W %h:%p [-p port] [user@]jump`,
with `-J` for the earlier hops of a chain (`a,b`). %h and %p (the target's host and port) are left for
whoever opens the connection to expand, as OpenSSH does.
"""

import re
import shlex

FLAGS_WITH_ARGUMENT = frozenset("BbcDEeFIiJLlmOoPpQRSWw")
"""ssh(1)'s flags that take an argument, from its synopsis."""

OPTION = re.compile(r"^\s*([A-Za-z]+)\s*(?:=\s*|\s+)(.*)$", re.DOTALL)
JUMP_URI = re.compile(r"^ssh://")


def check(args: str) -> str:
    """Validate one string of ssh arguments (for the schema): ValueError with what is wrong."""
    _proxy_options(args)
    return args


def proxy_command(*args: str | None) -> str | None:
    """The ProxyCommand the first ProxyJump / -J / ProxyCommand of these argument strings asks for."""
    for text in args:
        for name, value in _proxy_options(text or ""):
            if value.lower() == "none":
                return None
            return value if name == "proxycommand" else _jump_command(value)
    return None


def _proxy_options(args: str) -> list[tuple[str, str]]:
    """("proxyjump" | "proxycommand", value) for each proxy option in the arguments, in order."""
    found = []
    for flag, argument in _flags(_words(args)):
        name, value = ("ProxyJump", argument) if flag == "J" else _option(argument)
        if name.lower() not in ("proxyjump", "proxycommand"):
            continue
        if not value:
            raise ValueError(f"{name} needs a value")
        if name.lower() == "proxyjump":
            _hops(value)
        found.append((name.lower(), value))
    return found


def _option(argument: str) -> tuple[str, str]:
    """An -o argument as (name, value): ssh takes `Name=value`, `Name value` and `Name = value`."""
    option = OPTION.match(argument)
    return (option.group(1), option.group(2).strip()) if option else (argument.strip(), "")


def _words(args: str) -> list[str]:
    try:
        return shlex.split(args)
    except ValueError as error:
        raise ValueError(f"cannot split the ssh arguments into words: {error}") from None


def _flags(words: list[str]) -> list[tuple[str, str]]:
    """(flag letter, its argument) for each flag that takes one; other flags and words are skipped."""
    found = []
    position = 0
    while position < len(words):
        word = words[position]
        position += 1
        if not word.startswith("-") or word in ("-", "--"):
            continue
        for index, letter in enumerate(word[1:], start=1):
            if letter not in FLAGS_WITH_ARGUMENT:
                continue
            argument = word[index + 1:]
            if not argument and position < len(words):
                argument = words[position]
                position += 1
            elif not argument and letter in "oJ":  # another flag missing its argument is ssh's business
                raise ValueError(f"-{letter} needs an argument")
            found.append((letter, argument))
            break
    return found


def _hops(value: str) -> list[tuple[str | None, str, int | None]]:
    """Each hop of a ProxyJump as (user, host, port); ValueError if one cannot be read."""
    if value.lower() == "none":
        return []
    return [_hop(hop) for hop in value.split(",")]


def _hop(text: str) -> tuple[str | None, str, int | None]:
    spec = JUMP_URI.sub("", text.strip())
    user, at, rest = spec.rpartition("@")
    host, port = rest, None
    bracketed = re.fullmatch(r"\[([^\]]+)\](?::(\d*))?", rest)
    if bracketed:
        host, port_text = bracketed.group(1), bracketed.group(2)
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    else:
        port_text = None
    if port_text is not None:
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"ProxyJump {text!r}: expected a port 1-65535 after the colon")
        port = int(port_text)
    if not host or (at and not user) or any(c.isspace() for c in spec):
        raise ValueError(f"ProxyJump {text!r}: expected [user@]host[:port]")
    return (user or None), host, port


def _jump_command(value: str) -> str:
    hops = _hops(value)
    *earlier, (user, host, port) = hops
    words = ["ssh"]
    if earlier:
        words += ["-J", ",".join(_hop_text(hop) for hop in earlier)]
    words += ["-W", "%h:%p"]
    if port is not None:
        words += ["-p", str(port)]
    words.append(f"{user}@{host}" if user else host)
    return " ".join(shlex.quote(word) for word in words)


def _hop_text(hop: tuple[str | None, str, int | None]) -> str:
    user, host, port = hop
    host_text = f"[{host}]" if ":" in host else host
    return f"{user + '@' if user else ''}{host_text}{':' + str(port) if port else ''}"
