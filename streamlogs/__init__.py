"""`python -m streamlogs` (`make logs STACK=...`): follow the function's log, one line per request."""
