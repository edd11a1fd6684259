"""A griffe extension for the API reference: sadbench's docstrings are written in reST (Sphinx roles such as
``:class:`~sadbench.specs.Loss```, literal blocks introduced by ``::``), and mkdocstrings renders Markdown.
Each role becomes inline code (the last dotted part for ``~``-names) and ``::`` a plain colon before the
indented block, which Markdown shows as code. Docstrings stay as they are in the source."""

import re

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|obj|data|exc|const):`(~?)([^`]+)`")


def _code(match):
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def markdown_of(text):
    text = _ROLE.sub(_code, text)
    return re.sub(r"(\S)::\n", r"\1:\n", text)


class ReSTRoles(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
