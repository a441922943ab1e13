"""Built-in lab servers on loopback: their lifecycle, the table of kinds, HTTP."""
