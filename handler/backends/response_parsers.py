"""botocore's response parser factory, making each protocol's parser once instead of once a call.

botocore makes a new parser for every response it parses. Each holds a bound method of itself (its
blob parser), a reference cycle: every call would leave its parsers to the cyclic garbage collector,
whose collections hold the GIL while the streams already open wait. The parsers keep no state between
calls (their attributes are set in `__init__` alone), so one each is shared by every call and thread.
"""

from __future__ import annotations

from typing import Any

from botocore.parsers import ResponseParser, ResponseParserFactory


class ParserPerProtocol(ResponseParserFactory):
    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, ResponseParser] = {}

    def set_parser_defaults(self, **kwargs: Any) -> None:
        super().set_parser_defaults(**kwargs)
        self._made.clear()  # made with the old defaults

    def create_parser(self, protocol_name: str) -> ResponseParser:
        parser = self._made.get(protocol_name)
        if parser is None:
            # Two threads may both make one; the first stored wins and the other is dropped.
            parser = self._made.setdefault(protocol_name, super().create_parser(protocol_name))
        return parser
