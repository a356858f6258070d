"""`python -m handler`: validate the settings, then serve the app on $HOST:$PORT (default 127.0.0.1:8080).

127.0.0.1 by default: Lambda Web Adapter reaches the app on localhost, and `make local` should not face
the network unless asked to (`HOST=0.0.0.0`).
"""

from __future__ import annotations

import gc

# Start-up makes some 70 000 objects that live as long as the process, and the cyclic collector would
# walk them again and again while they are being made: about 40 ms of CPU, a tenth of a cold start. It
# stays off until the warm-up has run; `warm_up.settle_heap` then freezes them out of its sight and
# turns it back on. Every import below comes after this on purpose (E402).
gc.disable()

import os  # noqa: E402
import sys  # noqa: E402

import uvicorn  # noqa: E402

from handler import allocator, serving  # noqa: E402
from handler.settings import ConfigError, Settings  # noqa: E402


def main() -> int:
    allocator.keep_buffers()  # before any thread of the app has an arena of its own
    try:
        settings = Settings.from_env()
        port = int(os.environ.get("PORT", "8080"))
    except ConfigError as error:
        print(f"streamgate: bad configuration: {error}", file=sys.stderr)
        return 2
    except ValueError:
        print(
            f"streamgate: bad configuration: PORT={os.environ['PORT']!r} is not a port number",
            file=sys.stderr,
        )
        return 2
    host = os.environ.get("HOST") or "127.0.0.1"
    uvicorn.Server(serving.config("handler.app:app", host, port, settings.max_connections)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
