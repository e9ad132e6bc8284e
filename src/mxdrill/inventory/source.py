"""Reading hosts.yml into plain values, keeping the line of every key so that any error can point at it.

PyYAML's loader forgets where values came from and silently keeps the last of two duplicate keys (a
second host of that name would vanish), so the document is composed here node by node: every key path
gets its line, duplicate keys are refused, Ansible's `!unsafe` is read as the plain string it marks,
and any other tag we do not construct (`!vault`) becomes a `Tagged` marker that no variable accepts.

Every problem found anywhere in the inventory becomes one `InventoryError`, built by a `Source`: the
file's name as the user gave it, plus those lines, is all it takes to say `file:line: key: message`.
An inventory may span several files (the inventory itself, then group_vars/ and host_vars/ beside it),
so each file read has its own `Source`, and each value remembers the one it came from.

Ansible reads any of those files as JSON first and as YAML only if that fails; valid JSON is YAML
but for one thing, tabs between tokens, which PyYAML refuses. A raw tab cannot be inside a JSON
string, so replacing every tab of a valid JSON text by a space changes neither a value nor a line.
"""

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str, ...]
"""Where a value sits in the YAML document, e.g. ("all", "vars", "mxdrill_domain")."""

MERGE_TAG = "tag:yaml.org,2002:merge"


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
        where = file if line is None else f"{file}:{line}"
        super().__init__(f"{where}: {key}: {self.message}" if key else f"{where}: {self.message}")


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
    """The file's text; an unreadable or non-UTF-8 file becomes an InventoryError naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise InventoryError(name, None, "", f"cannot read {what}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise InventoryError(name, None, "", f"not UTF-8 text (byte {error.start}); save it as UTF-8") from None


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def parse_yaml(text: str, source: Source) -> Any:
    """YAML (or JSON) text as plain values, None for an empty document; fills `source.lines`."""
    if "\t" in text and _is_json(text):
        text = text.replace("\t", " ")
    loader = yaml.SafeLoader(text)
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


class _TreeBuilder:
    """Composed YAML nodes -> plain values, recording each key's line and refusing duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, source: Source) -> None:
        self.loader = loader
        self.source = source
        self.open: set[int] = set()  # nodes being built: a recursive alias would loop forever

    def build(self, node: yaml.Node, key: KeyPath) -> Any:
        if not self.open:
            self.source.lines[()] = node.start_mark.line + 1
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
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
        self._refuse_duplicates(node, key)
        self.loader.flatten_mapping(node)  # YAML merge keys (<<: *defaults), which Ansible accepts
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            name = self._name(key_node, key)
            result[name] = self._entry(name, key_node, value_node, key)
        return result

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

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == "!unsafe":  # Ansible's "do not template" marker: a plain string to us
            return node.value
        if node.tag in self.loader.yaml_constructors:
            return self.loader.construct_object(node)
        return Tagged(node.tag)
