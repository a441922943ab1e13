"""The session and what runs on it: socket state, receive buffer, executor, results, errors, recorder.

The core never prints: it returns results for a front end to render.
"""
