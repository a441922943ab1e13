"""The shared floor: small modules every layer may import (byte escaping, compiled patterns,
the record decorator, exit statuses, Unix-name words, the lab kinds table).

It imports nothing from netrepl above it, so language/, core/ and the rest can all lean on it
without an import running up or round.
"""
