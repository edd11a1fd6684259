"""A suite file as YAML: loaded safely and within limits, with the line of every key path, so that every
later mistake can be reported as ``FILE:LINE: KEY.PATH: message``.

The limits make a hostile or broken file cheap to refuse: a file over :data:`MAX_BYTES`, nesting deeper
than :data:`MAX_DEPTH`, a recursive alias, or aliases that would expand the document beyond
:data:`MAX_NODES` nodes (a "billion laughs" file) are refused while the file is composed, before any
object is built, in time and memory proportional to the file's size.
"""

import difflib
import re
from pathlib import Path

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent

from sadbench.errors import SadbenchError

#: Largest suite file read (bytes): suites are settings, data belong in files a target reads.
MAX_BYTES = 4 * 1024 * 1024
#: Most nodes of the document with every alias expanded.
MAX_NODES = 200_000
#: Deepest nesting of mappings and sequences.
MAX_DEPTH = 64


class SuiteError(SadbenchError):
    """A suite that cannot run; the message starts with ``FILE:LINE: KEY.PATH:``."""


class _Loader(yaml.SafeLoader):
    """The safe loader, reading ``1e-8`` as a float like YAML 1.2 instead of as a string, and counting the
    expanded size and depth of the document as it is composed (module docstring)."""

    def __init__(self, stream):
        super().__init__(stream)
        self._sizes = {}  # id(node) -> (nodes, levels) of its expansion, once it is complete
        self._total = 0
        self._depth = 0

    def compose_node(self, parent, index):
        start = self.peek_event().start_mark
        if self.check_event(AliasEvent):
            anchor = self.peek_event().anchor
            node = self.anchors.get(anchor)
            if node is not None and id(node) not in self._sizes:  # its anchor is still being composed
                raise ComposerError(None, None, f"alias *{anchor} refers to a node that contains it", start)
            size, height = self._sizes.get(id(node), (1, 1))
            self._count(size, start)
            self._check_depth(self._depth + height, start)
            return super().compose_node(parent, index)
        self._check_depth(self._depth + 1, start)
        self._count(1, start)
        before = self._total
        self._depth += 1
        node = super().compose_node(parent, index)
        self._depth -= 1
        self._sizes[id(node)] = (self._total - before + 1, 1 + max(map(self._height, _children(node)), default=0))
        return node

    def _height(self, node):
        return self._sizes[id(node)][1]

    def _check_depth(self, depth, mark):
        if depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)

    def _count(self, nodes, mark):
        self._total += nodes
        if self._total > MAX_NODES:
            raise ComposerError(None, None, f"the document expands to more than {MAX_NODES} nodes "
                                            "(aliases repeating aliases?)", mark)

def _children(node):
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return node.value if isinstance(node, yaml.SequenceNode) else []


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def _with_line(construct):
    """A scalar constructor whose ValueError (an integer of more than 4300 digits, the date 2024-13-45)
    becomes a YAML error at the scalar's line."""

    def constructor(loader, node):
        try:
            return construct(loader, node)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(None, None, f"cannot read {node.value[:40]!r}: {exc}", node.start_mark) from None

    return constructor


for _tag, _construct in (("int", yaml.SafeLoader.construct_yaml_int), ("float", yaml.SafeLoader.construct_yaml_float),
                         ("timestamp", yaml.SafeLoader.construct_yaml_timestamp)):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _with_line(_construct))


def parse_value(text):
    """A value written on the command line (``--set key=value``) read as the suite file would read it:
    ``1e-8`` a float, ``true`` a bool, ``[1, 8, 1]`` a list; raises yaml.YAMLError."""
    loader = _Loader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


class Document:
    """The parsed file: its data, the line of every key path, and ``FILE:LINE: KEY.PATH:`` errors."""

    def __init__(self, path):
        self.file = str(path)
        size = Path(path).stat().st_size
        if size > MAX_BYTES:
            raise SuiteError(f"{self.file}:1: {size} bytes; a suite file is at most {MAX_BYTES} "
                             "(put data in a file that a target reads)")
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise SuiteError(f"{self.file}:1: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        self.data, self.lines = None, {}
        try:
            loader = _Loader(text)
        except yaml.reader.ReaderError as exc:  # an unprintable character, found before any parsing
            line = text.count("\n", 0, exc.position) + 1
            raise SuiteError(f"{self.file}:{line}: invalid YAML: character #x{exc.character:04x} is not allowed "
                             f"(a control character)") from None
        try:
            node = loader.get_single_node()
            if node is not None:
                self._index(node, ())  # before construction, which flattens merge keys (<<) into the nodes
                self.data = loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise SuiteError(_yaml_message(self.file, exc)) from None
        finally:
            loader.dispose()

    def _index(self, node, path):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                child = path + (key.value,)
                self.lines[child] = key.start_mark.line + 1
                if key.value in seen:
                    raise self.error(child, "duplicate key")
                seen.add(key.value)
                self._index(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[path + (i,)] = item.start_mark.line + 1
                self._index(item, path + (i,))

    def line(self, path):
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return 1

    def name(self, path):
        """``cases[toy].network.widths``: list items by index, explicit cases by their label."""
        out = ""
        for i, part in enumerate(path):
            if isinstance(part, int):
                label = self._label(part) if path[:i] == ("cases",) else None
                out += f"[{label if label is not None else part}]"
            else:
                out += f".{part}" if out else str(part)
        return out

    def _label(self, index):
        cases = self.data.get("cases") if isinstance(self.data, dict) else None
        if isinstance(cases, list) and index < len(cases) and isinstance(cases[index], dict):
            label = cases[index].get("label")
            return label if isinstance(label, str) else None
        return None

    def error(self, path, message):
        where = f" {self.name(path)}:" if path else ""
        return SuiteError(f"{self.file}:{self.line(path)}:{where} {message}")


def _yaml_message(file, exc):
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{file}:1: invalid YAML: {exc}"
    message = f"{file}:{mark.line + 1}: invalid YAML: {exc.problem}"
    context_mark = getattr(exc, "context_mark", None)
    if exc.context and context_mark is not None and context_mark.line != mark.line:
        message += f" ({exc.context} started on line {context_mark.line + 1})"
    return message


def unknown_key(key, valid):
    """``unknown key 'x'; valid: ...`` with the closest valid spelling, if any."""
    message = f"unknown key {key!r}; valid: {', '.join(sorted(valid))}"
    close = difflib.get_close_matches(str(key), valid, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")
