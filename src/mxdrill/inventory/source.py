"""Reading hosts.yml into plain values, keeping the line of every key so that any error can point at it.

PyYAML's loader forgets where values came from and silently keeps the last of two duplicate keys (a
second host of that name would vanish), so the document is composed here node by node: every key path
gets its line, duplicate keys are refused, Ansible's `!unsafe` is read as the plain string it marks,
and any other tag we do not construct (`!vault`) becomes a `Tagged` marker that no variable accepts.

Every problem found anywhere in the inventory becomes one `InventoryError`, built by a `Source`: the
file's name as the user gave it, plus those lines, is all it takes to say `file:line: key: message`.
An inventory may span several files (the inventory itself, then group_vars/ and host_vars/ beside it),
so each file read has its own `Source`, and each value remembers the one it came from.

Whatever the file holds, reading it is bounded, so that no inventory can hang a drill or take it
down with a traceback: only regular files of at most `MAX_BYTES` are read (never /dev/zero, never a
FIFO nobody writes to), nesting deeper than `MAX_DEPTH` is refused before PyYAML's recursive composer
can overflow the stack, and aliases may not expand the document past `MAX_VALUES` values (the
"billion laughs": nine aliases of nine aliases... are a few hundred bytes and a billion strings).
A value PyYAML cannot construct (`!!int abc`, `!!bool maybe`, a 5000-digit number, 2020-13-45) and a
character YAML forbids (a NUL) are errors at their line like any other.

Ansible reads any of those files as JSON first and as YAML only if that fails; valid JSON is YAML
but for one thing, tabs between tokens, which PyYAML refuses. A raw tab cannot be inside a JSON
string, so replacing every tab of a valid JSON text by a space changes neither a value nor a line.
"""

import difflib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str, ...]
"""Where a value sits in the YAML document, e.g. ("all", "vars", "mxdrill_domain")."""

MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_BYTES = 1024 * 1024
"""The largest file read: an inventory of a hundred hosts is a few tens of KB."""
MAX_DEPTH = 64
"""The deepest nesting of mappings and lists: the reference inventory is 7 deep."""
MAX_VALUES = 100_000
"""The most values a document may hold once its aliases are expanded."""
MAX_KEY_SHOWN = 200
"""How much of a key an error shows: a name can be as long as the file."""


class InventoryError(Exception):
    """A broken inventory, as one line a user can act on: `file:line: key: message`.

    `line` is 1-based, or None when there is no line to point at (unreadable file); `key` is the
    dotted path of the offending value (empty when the whole file is at fault).
    """

    def __init__(self, file: str, line: int | None, key: str, message: str) -> None:
        self.file = file
        self.line = line
        self.key = key
        self.message = " ".join(message.split())  # one line, whatever the YAML parser said
        where = printable(file) if line is None else f"{printable(file)}:{line}"
        shown = printable(key, MAX_KEY_SHOWN)
        text = printable(self.message)
        super().__init__(f"{where}: {shown}: {text}" if key else f"{where}: {text}")


def printable(text: str, limit: int | None = None) -> str:
    """`text` safe for one terminal line: control, line-breaking and bidi characters escaped (a key
    holding U+202E must not reorder the line, one holding a newline must not break it), and cut at `limit`."""
    if limit is not None and len(text) > limit:
        text = text[:limit - 3] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def dotted(key: KeyPath) -> str:
    """The key path as users read it: all.children.mxdrill_primary.hosts.mx1.example.test."""
    return ".".join(key)


@dataclass(eq=False)
class Source:
    """What to call the file in messages, and the line of every key: enough to build any error.

    `syntax` is "yaml" (JSON included) or "ini": messages and a few value rules differ between them.
    """

    name: str
    lines: dict[KeyPath, int] = field(default_factory=dict)
    syntax: str = "yaml"

    def line(self, key: KeyPath) -> int | None:
        """The line of `key`, or of its nearest ancestor that exists (for missing keys)."""
        for end in range(len(key), -1, -1):
            if key[:end] in self.lines:
                return self.lines[key[:end]]
        return None

    def error(self, key: KeyPath, message: str) -> InventoryError:
        return InventoryError(self.name, self.line(key), dotted(key), message)


@dataclass(frozen=True)
class Tagged:
    """A scalar with a tag we do not construct (Ansible's `!vault`): never shown, never a valid value."""

    tag: str

    def __repr__(self) -> str:
        return f"a {self.tag} value"


# --- words for error messages ----------------------------------------------------------------------

def describe(value: Any) -> str:
    """A value as an error message shows it: short, one line, secrets never reach here."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    if isinstance(value, dict):
        return "a mapping"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """A suggestion for a typo; the shared mxdrill_ prefix is left out so it does not make everything look close."""
    def stem(name: str) -> str:
        return name.removeprefix("mxdrill_")
    by_stem = {stem(choice): choice for choice in choices}
    close = difflib.get_close_matches(stem(word), list(by_stem), n=1, cutoff=0.6)
    return f"; did you mean {by_stem[close[0]]}?" if close else ""


# --- reading and composing the YAML --------------------------------------------------------------

def parse_document(text: str, source: Source) -> Any:
    """A YAML inventory's text as plain values: like `parse_yaml`, but an empty inventory is an error."""
    value = parse_yaml(text, source)
    if value is None:
        raise InventoryError(source.name, None, "", "the file is empty: an inventory starts with all:")
    return value


def read_text(path: Path, name: str, what: str = "the inventory") -> str:
    """The file's text; anything but a readable regular UTF-8 file of at most MAX_BYTES is an
    InventoryError naming it. Opened without blocking, so a FIFO with no writer is refused, not waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise InventoryError(name, None, "", f"cannot read {what}: {error.strerror or error}") from None
    except ValueError:
        raise InventoryError(name, None, "", f"cannot read {what}: its path holds a NUL character") from None
    try:
        _refuse_unbounded(os.fstat(fd), name, what)
    except InventoryError:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as file:
        data = file.read(MAX_BYTES + 1)  # the file may have grown since fstat
    if len(data) > MAX_BYTES:
        raise InventoryError(name, None, "", _too_big(len(data), what, "more than "))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InventoryError(name, None, "", f"not UTF-8 text (byte {error.start}); save it as UTF-8") from None


FILE_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a character device",
              stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


def _refuse_unbounded(info: os.stat_result, name: str, what: str) -> None:
    """Only a regular file has an end: /dev/zero never ends, a FIFO may never start."""
    if not stat.S_ISREG(info.st_mode):
        kind = FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise InventoryError(name, None, "", f"cannot read {what}: it is {kind}, not a regular file; give the path of a file")
    if info.st_size > MAX_BYTES:
        raise InventoryError(name, None, "", _too_big(info.st_size, what))


def _too_big(size: int, what: str, more: str = "") -> str:
    return (f"{what} is {more}{size} bytes ({size / MAX_BYTES:.1f} MiB): mxdrill reads files of at most "
            f"{MAX_BYTES // 1024 // 1024} MiB; is this the right file?")


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):  # too deep for json: the YAML reading says so at its line
        return False
    return True


def parse_yaml(text: str, source: Source) -> Any:
    """YAML (or JSON) text as plain values, None for an empty document; fills `source.lines`."""
    if "\t" in text and _is_json(text):
        text = text.replace("\t", " ")
    try:
        loader = _Loader(text)  # reads the whole text at once: a NUL is refused here
    except yaml.reader.ReaderError as error:
        raise _reader_error(error, text, source.name) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _TreeBuilder(loader, source).build(node, ())
    except yaml.MarkedYAMLError as error:
        raise _yaml_error(error, source.name) from None
    except yaml.YAMLError as error:
        raise InventoryError(source.name, None, "", f"invalid YAML: {error}") from None
    finally:
        loader.dispose()


def _yaml_error(error: yaml.MarkedYAMLError, name: str) -> InventoryError:
    mark = error.problem_mark or error.context_mark
    words = " ".join(part for part in (error.problem, error.context) if part)
    return InventoryError(name, mark.line + 1 if mark else None, "", f"invalid YAML: {words}")


def _reader_error(error: yaml.reader.ReaderError, text: str, name: str) -> InventoryError:
    """A character YAML does not allow anywhere in a file (NUL, most control characters), at its line."""
    line = text.count("\n", 0, error.position) + 1
    character = error.character if isinstance(error.character, str) else chr(error.character)
    return InventoryError(name, line, "", f"invalid YAML: the character U+{ord(character):04X} is not allowed in "
                                          "a YAML file; remove it (in a double-quoted string, write it as an escape)")


class _TooDeep(yaml.MarkedYAMLError):
    """Nesting past MAX_DEPTH: refused at its line before PyYAML's recursive composer overflows."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, its composer bounded in depth: every level is a few Python frames."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.depth >= MAX_DEPTH:
            raise _TooDeep(problem=f"nested deeper than {MAX_DEPTH} levels of mappings and lists; "
                                   "flatten it (mxdrill reads no deeper)", problem_mark=self.peek_event().start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


TAG_WORDS = {"tag:yaml.org,2002:int": "an integer", "tag:yaml.org,2002:float": "a number",
             "tag:yaml.org,2002:bool": "a boolean (true or false)", "tag:yaml.org,2002:timestamp": "a date",
             "tag:yaml.org,2002:binary": "base64 data"}


class _TreeBuilder:
    """Composed YAML nodes -> plain values, recording each key's line and refusing duplicate keys.

    PyYAML shares the node of an anchor with each of its aliases: building a value from it again
    each time is what expands aliases, so every value built counts towards MAX_VALUES. Merge keys
    (`<<: *defaults`) are resolved here too, each key once, rather than by PyYAML's
    `flatten_mapping`, whose lists grow with every repetition (nine merges of nine merges...).
    """

    def __init__(self, loader: yaml.SafeLoader, source: Source) -> None:
        self.loader = loader
        self.source = source
        self.open: set[int] = set()  # nodes being built: a recursive alias would loop forever
        self.merged: dict[int, list[tuple[yaml.Node, yaml.Node]]] = {}  # a mapping's entries, its merges resolved
        self.merging: set[int] = set()  # mappings whose merges are being resolved: a merge of itself loops
        self.values = 0

    def build(self, node: yaml.Node, key: KeyPath) -> Any:
        if not self.open:
            self.source.lines[()] = node.start_mark.line + 1
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.source.error(key, f"the document holds more than {MAX_VALUES} values once its YAML aliases "
                                         "are expanded (aliases of aliases?); write the values out, or fewer")
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, key)
        if id(node) in self.open:
            raise self.source.error(key, "recursive YAML alias")
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.SequenceNode):
                return [self._entry(str(i), item, item, key) for i, item in enumerate(node.value)]
            return self._mapping(node, key)
        finally:
            self.open.discard(id(node))

    def _entry(self, name: str, mark_node: yaml.Node, value: yaml.Node, parent: KeyPath) -> Any:
        key = (*parent, name)
        self.source.lines[key] = mark_node.start_mark.line + 1
        return self.build(value, key)

    def _mapping(self, node: yaml.MappingNode, key: KeyPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in self._entries(node, key):
            name = self._name(key_node, key)
            result[name] = self._entry(name, key_node, value_node, key)
        return result

    def _entries(self, node: yaml.MappingNode, key: KeyPath) -> list[tuple[yaml.Node, yaml.Node]]:
        """The mapping's entries with its YAML merge keys (which Ansible accepts) resolved as PyYAML
        resolves them: a key of its own wins over a merged one, and among merged mappings the first wins."""
        if id(node) in self.merged:
            return self.merged[id(node)]
        if id(node) in self.merging:
            raise self.source.error(key, "recursive YAML alias in a merge key (<<)")
        self._refuse_duplicates(node, key)
        self.merging.add(id(node))
        try:
            found: dict[object, tuple[yaml.Node, yaml.Node]] = {}
            for key_node, value_node in node.value:
                if key_node.tag == MERGE_TAG:
                    for merged in self._merge_sources(value_node, key):
                        for k, v in self._entries(merged, key):
                            found.setdefault(_identity(k), (k, v))
            found.update((_identity(k), (k, v)) for k, v in node.value if k.tag != MERGE_TAG)
        finally:
            self.merging.discard(id(node))
        self.merged[id(node)] = entries = list(found.values())
        return entries

    def _merge_sources(self, node: yaml.Node, key: KeyPath) -> list[yaml.MappingNode]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not all(isinstance(source, yaml.MappingNode) for source in sources):
            raise InventoryError(self.source.name, node.start_mark.line + 1, dotted(key),
                                 "a merge key (<<) takes a mapping or a list of mappings, such as <<: *defaults")
        return sources

    def _name(self, node: yaml.Node, parent: KeyPath) -> str:
        if not isinstance(node, yaml.ScalarNode):
            line = node.start_mark.line + 1
            raise InventoryError(self.source.name, line, dotted(parent), "expected a plain name as key, got a complex key")
        return str(node.value)

    def _refuse_duplicates(self, node: yaml.MappingNode, parent: KeyPath) -> None:
        """PyYAML keeps the last of two equal keys without a word: a second host would vanish."""
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise InventoryError(
                    self.source.name, line, dotted((*parent, key_node.value)),
                    f"duplicate key, already on line {seen[key_node.value]}: YAML keeps only the last one; merge them",
                )
            seen[key_node.value] = line

    def _scalar(self, node: yaml.ScalarNode, key: KeyPath) -> Any:
        if node.tag == "!unsafe":  # Ansible's "do not template" marker: a plain string to us
            return node.value
        if node.tag not in self.loader.yaml_constructors:
            return Tagged(node.tag)
        try:
            return self.loader.construct_object(node)
        except Exception:  # noqa: BLE001 - PyYAML's constructors fail with whatever they meet: ValueError
            # (2020-13-45, !!int abc), KeyError (!!bool maybe), AttributeError (!!timestamp x), IndexError (!!int '')
            line = node.start_mark.line + 1
            what = TAG_WORDS.get(node.tag, node.tag)
            raise InventoryError(self.source.name, line, dotted(key),
                                 f"cannot read {describe(node.value)} as {what}: write it plainly, "
                                 "or quote it to mean the text") from None


def _identity(node: yaml.Node) -> object:
    """What makes two keys of a mapping the same key: a scalar's text (a complex key is refused later)."""
    return node.value if isinstance(node, yaml.ScalarNode) else id(node)
