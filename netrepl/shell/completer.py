"""prompt_toolkit completion from the parser's suggestions (suggest.py).

Candidates can come from history (hosts) or the file system (paths), so what
is shown in the menu goes through the terminal escaper like any other
untrusted text; what is inserted is the word itself.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Callable, Iterable, Mapping

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from netrepl.language.registry import Registry
from netrepl.render.text import safe
from netrepl.shell.suggest import service_names, suggest


class NetreplCompleter(Completer):
    """Commands, keyword arguments, service names, hosts used earlier, paths."""

    def __init__(self, registry: Registry, hosts: Callable[[], Iterable[str]] = tuple,
                 variables: Mapping[str, str] | None = None):
        self.registry = registry
        self.hosts = hosts
        self.variables = variables  # the session's, so `$NAME` in earlier words parses as it will run
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event):
        s = suggest(document.text_before_cursor, self.registry, self.variables)
        if s.kind == "host" and "/" in s.word:  # a Unix socket path (connect, listen, bind take one)
            s = replace(s, kind="path")
        if s.kind == "path":
            sub = Document(s.word, len(s.word))
            for c in self.paths.get_completions(sub, complete_event):
                yield Completion(c.text, c.start_position, display=safe(c.display_text),
                                 display_meta=safe(c.display_meta_text))
            candidates: Iterable[str] = s.words
        elif s.kind == "host":
            candidates = dict.fromkeys([*self.hosts(), *s.words])
        elif s.kind == "service":
            candidates = (*s.words, *service_names())
        else:
            candidates = s.words
        meta = s.label or s.kind
        for word in candidates:
            if word.startswith(s.word):
                yield Completion(word, start_position=-len(s.word), display=safe(word),
                                 display_meta=safe(self._meta(word, s.kind) or meta))

    def _meta(self, word: str, kind: str) -> str | None:
        if kind == "command":
            cmd = self.registry.get(word)
            return cmd.help[:60] if cmd else None
        return None
