"""prompt_toolkit completion from the registry's suggestions (suggest.py)."""

from __future__ import annotations

from typing import Callable, Iterable

from prompt_toolkit.completion import Completer, Completion, PathCompleter
from prompt_toolkit.document import Document

from netrepl.language.registry import Registry
from netrepl.suggest import service_names, suggest


class NetreplCompleter(Completer):
    """Commands, keyword arguments, service names, hosts used earlier, paths."""

    def __init__(self, registry: Registry, hosts: Callable[[], Iterable[str]] = tuple):
        self.registry = registry
        self.hosts = hosts
        self.paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event):
        s = suggest(document.text_before_cursor, self.registry)
        if s.kind == "path":
            sub = Document(s.word, len(s.word))
            yield from self.paths.get_completions(sub, complete_event)
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
                yield Completion(word, start_position=-len(s.word), display_meta=self._meta(word, s.kind) or meta)

    def _meta(self, word: str, kind: str) -> str | None:
        if kind == "command":
            cmd = self.registry.get(word)
            return cmd.help[:60] if cmd else None
        return None
