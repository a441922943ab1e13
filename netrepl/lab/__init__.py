"""Built-in lab servers on loopback: kinds.py (the table of kinds, import-free), server.py
(lifecycle and concurrency), handlers.py (the classic kinds), http.py (the http kind)."""
