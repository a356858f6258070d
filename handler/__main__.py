"""`python -m handler`: validate the settings, then serve the app on $PORT (default 8080)."""

from __future__ import annotations

import os
import sys

import uvicorn

from handler.settings import ConfigError, Settings


def main() -> int:
    try:
        Settings.from_env()
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
    # access_log off: the app writes its own structured line per request.
    uvicorn.run("handler.app:app", host=os.environ.get("HOST", "0.0.0.0"), port=port, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
