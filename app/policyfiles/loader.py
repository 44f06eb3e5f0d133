"""Reading policy files: YAML that remembers the line of every key and list item."""

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path_ = tuple[str | int, ...]
SUFFIXES = (".yaml", ".yml")


class _Loader(yaml.SafeLoader):
    """YAML 1.2 core scalars: `no`/`on` stay strings and `9:30` is not a base-60 number."""


_Loader.yaml_implicit_resolvers = {}
_CORE_SCALARS = (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^[-+]?(?:0|[1-9][0-9]*)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    ("merge", r"^(?:<<)$", ["<"]),
)
for _name, _pattern, _first in _CORE_SCALARS:
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_name}", re.compile(_pattern), _first)


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the files, where it is and why."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where} {self.field}: {self.message}" if self.field else f"{where} {self.message}"


def field_name(path: Iterable[str | int]) -> str:
    """`("levels", 1, "targets", 0)` as `levels[1].targets[0]`."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass
class Source:
    """One parsed file: its data and the line of every path in it."""

    path: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int:
        """The line of `path`, or of its nearest ancestor the file has (a missing key)."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def problem(self, path: Path_, message: str, *, depth: int = 2) -> Problem:
        """A problem at `path`; the field is named relative to the object `depth` levels down."""
        relative = path[depth:] if len(path) > depth else path
        return Problem(self.path, self.line(path), field_name(relative), message)


def _walk(loader: _Loader, node: Node, path: Path_, source: Source, problems: list[Problem]) -> Any:
    source.lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, MappingNode):
        loader.flatten_mapping(node)
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node) if isinstance(key_node, ScalarNode) else None
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                problems.append(Problem(source.path, line, field_name(path), "keys must be text"))
                continue
            if key in mapping:
                message = f"duplicate key {key!r}"
                problems.append(Problem(source.path, line, field_name(path), message))
                continue
            source.lines[(*path, key)] = line
            mapping[key] = _walk(loader, value_node, (*path, key), source, problems)
        return mapping
    if isinstance(node, SequenceNode):
        return [
            _walk(loader, item, (*path, i), source, problems) for i, item in enumerate(node.value)
        ]
    return loader.construct_object(node)


def load_text(text: str, display_path: str) -> tuple[Source, list[Problem]]:
    """Parse one YAML document, keeping line numbers; syntax errors become problems."""
    source = Source(display_path, None)
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            source.data = _walk(loader, node, (), source, problems)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problems.append(Problem(display_path, line, "", f"invalid YAML: {exc.problem or exc}"))
    except yaml.YAMLError as exc:
        problems.append(Problem(display_path, 1, "", f"invalid YAML: {exc}"))
    finally:
        loader.dispose()
    return source, problems


def policy_files(directory: Path) -> list[Path]:
    """The YAML files under `directory` (recursively), in a stable order; or the file itself."""
    if directory.is_file():
        return [directory]
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in SUFFIXES)


def load_dir(directory: Path) -> tuple[list[Source], list[Problem]]:
    """Every policy file of a directory, parsed."""
    if not directory.exists():
        return [], [Problem(str(directory), 1, "", "no such file or directory")]
    sources: list[Source] = []
    problems: list[Problem] = []
    for path in policy_files(directory):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 1, "", f"cannot read: {exc}"))
            continue
        source, found = load_text(text, str(path))
        sources.append(source)
        problems.extend(found)
    return sources, problems
