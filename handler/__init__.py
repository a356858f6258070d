"""The Lambda app: a Starlette service that relays an agent's or a model's answer as it is generated."""
