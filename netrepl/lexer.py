"""A Pygments lexer for netrepl commands and .nrs scripts, built from the registry.

Registered under the `pygments.lexers` entry point (`pygmentize -l nrs`);
netrepl itself imports the class directly (a lookup by name scans every
installed plugin). Importable without prompt_toolkit.
"""

from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, default, include
from pygments.token import (Comment, Error, Keyword, Name, Number, Operator, String, Text, Whitespace)

from netrepl.commands import REGISTRY


def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def _rules():
    """Command position rules: which words are commands, which take raw text."""
    text_rules = []
    plain = []
    for cmd in REGISTRY:
        variants = list(cmd.subcommands.values()) or [cmd]
        for spec in variants:
            rest = [a for a in spec.args if a.rest and a.type != "command"]
            lead = [a for a in spec.args if not a.rest]
            words = [spec.name, *([] if spec.subcommands else cmd.aliases if spec is cmd else [])]
            plain.extend(words)  # also a text command typed so far, before its leading arguments
            if not rest:
                continue
            head = r"(%s)" % _alternation(words).replace(r"\ ", r"[ \t]+")
            flags = r"((?:[ \t]+(?:%s))*)" % _alternation(spec.flags) if spec.flags else r"()"
            pattern = head + flags + r"([ \t]+\S+)" * len(lead) + r"(?=[ \t]|$)"
            groups = (Keyword, Name.Attribute) + (Name.Other,) * len(lead)
            state = "expect" if rest[0].type == "expect" else "text"
            text_rules.append((pattern, bygroups(*groups), state))
    plain_rule = (r"(%s)(?=[ \t]|$)" % _alternation(plain).replace(r"\ ", r"[ \t]+"), Keyword, "args")
    return text_rules, plain_rule


_TEXT_RULES, _PLAIN_RULE = _rules()
_KEYWORDS = _alternation(REGISTRY.keywords())
_FAIL_KINDS = r"[A-Za-z_-]+"
_VARIABLE = r"\$(\$|\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}|[A-Za-z_][A-Za-z0-9_]*)"


class NrsLexer(RegexLexer):
    """netrepl commands and .nrs scripts."""

    name = "netrepl"
    aliases = ["nrs", "netrepl"]
    filenames = ["*.nrs"]
    mimetypes = ["text/x-netrepl"]
    url = "https://pypi.org/project/netrepl/"

    tokens = {
        "root": [
            (r"\n", Whitespace),
            (r"[ \t]+", Whitespace),
            (r"#.*$", Comment.Single),
            (r"(must-fail)([ \t]+)(" + _FAIL_KINDS + r")", bygroups(Keyword, Whitespace, Name.Exception)),
            *_TEXT_RULES,
            _PLAIN_RULE,
            (r"\S+", Error, "args"),
        ],
        "variables": [
            (_VARIABLE, Name.Variable),
        ],
        "args": [
            (r"\n", Whitespace, "#pop"),
            (r"[ \t]+", Whitespace),
            include("variables"),
            (r"(?:%s)(?=[ \t]|$)" % _KEYWORDS, Keyword.Constant),
            (r"-?\d+(\.\d+)?(?=[ \t]|$)", Number),
            (r"-[A-Za-z](?=[ \t]|$)", Name.Attribute),
            (r">", Operator),
            (r'"[^"\n]*"', String.Double),
            (r"'[^'\n]*'", String.Single),
            (r"[^\s$\"'>]+", Name.Other),
            (r"[\"'$]", Text),
        ],
        "text": [
            (r"\n", Whitespace, "#pop"),
            (r"\\(x[0-9A-Fa-f]{2}|[rnt0e\\])", String.Escape),
            (r"\\.?", Error),
            include("variables"),
            (r"[^\\$\n]+", String),
            (r"\$", String),
        ],
        "expect": [
            (r"[ \t](eof)[ \t]*$", Keyword.Constant, "#pop"),
            (r"[ \t](/.*/)[ \t]*$", String.Regex, "#pop"),
            default(("#pop", "text")),  # the line ends in "text", back at the root
        ],
    }
