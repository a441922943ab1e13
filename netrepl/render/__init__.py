"""Results and peer bytes -> text that is safe to write to a terminal."""
