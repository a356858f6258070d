"""`make bench`: the relay's speed and memory, measured side by side in one run (not a timed test)."""
