"""Renderers: typed events in, one wire format's bytes out (`sse` native, `openai` chat-completion chunks)."""
