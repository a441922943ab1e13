"""The command language: registry, argument types, tokens, escapes, parser, .nrs loading.

Nothing here touches a socket or a terminal.
"""
