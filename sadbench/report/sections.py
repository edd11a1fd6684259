"""What a report is made of, before it is rendered to HTML or Markdown: sections of tables, figures and
raw blocks (the interactive view), so that every format says the same thing."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Table:
    """Rows of cells under ``headers``; ``collapsed`` tables fold away in HTML (long per-member lists)."""

    id: str
    caption: str
    headers: list
    rows: list
    collapsed: bool = False


@dataclass
class Plot:
    id: str
    caption: str
    png: bytes


@dataclass
class Raw:
    """A block written as it is: ``html`` in the page, ``markdown`` in the Markdown file."""

    id: str
    html: str
    markdown: str


@dataclass
class Section:
    title: str
    text: str = ""
    items: list = field(default_factory=list)


def number(value, spec=".6g"):
    """A table cell: '' for a missing value, else ``format(value, spec)``."""
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else format(value, spec)
