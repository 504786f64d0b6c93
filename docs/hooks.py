"""MkDocs hook (mkdocs.yml: ``hooks``): docstrings' bare ``>>>`` examples become code blocks.

A docstring's examples outside an ``Examples:`` section are plain text to Markdown, where
``[p.path_of(x) for x in ...]`` followed by ``['0.weight', ...]`` reads as a reference link.
This extension fences each run of ``>>>`` lines (and the output below them, up to a blank
line) as ``pycon`` code before the other Markdown processing, shows Sphinx roles
(``:func:`~gluon_params_kit.select.select```) as code (``select``), and ends a paragraph that
introduces a reST literal block (``...::``, the block indented below it) with one colon.
"""
import re

import mkdocs.plugins
from markdown import Extension
from markdown.preprocessors import Preprocessor

_ROLE = re.compile(r":(?:func|class|meth|data|attr|mod|exc|obj):`(~?)([^`]+)`")


def _role(m: "re.Match") -> str:
    return "`" + (m.group(2).rsplit(".", 1)[-1] if m.group(1) else m.group(2)) + "`"


def _prose(line: str) -> str:
    line = _ROLE.sub(_role, line)
    return line[:-1] if line.endswith("::") and not line.strip() == "::" else line


class _DoctestFences(Preprocessor):
    def run(self, lines):
        out, in_fence, in_doctest, indent = [], False, False, ""
        for line in lines:
            stripped = line.lstrip()
            if in_doctest and not stripped:
                out += [indent + "```", line]
                in_doctest = False
                continue
            if not in_doctest and stripped.startswith("```"):
                in_fence = not in_fence
            elif not in_fence and not in_doctest and stripped.startswith(">>>"):
                indent = line[:len(line) - len(stripped)]
                out += ["", indent + "```pycon"]
                in_doctest = True
            out.append(line if in_fence or in_doctest else _prose(line))
        if in_doctest:
            out.append(indent + "```")
        return out


class DoctestFences(Extension):
    def extendMarkdown(self, md):
        md.preprocessors.register(_DoctestFences(md), "gpk_doctest_fences", 40)


@mkdocs.plugins.event_priority(100)  # before mkdocstrings reads the Markdown extensions
def on_config(config, **kwargs):
    config.markdown_extensions.append(DoctestFences())
    return config
