"""botocore's data loader, made for a cold start: the same files, found and read with less work.

Making one client costs botocore two things this loader does without:
- It checks that the service is known by listing every service it ships, twice (for the service model
  and for the endpoint rules): some 880 directory listings and 1800 `stat`s of the 440-odd folders
  under botocore/data, about 20 ms. Here the question is answered from the service's own folder; only
  a caller that really iterates (botocore's "unknown service" error, which names them all) gets
  botocore's own listing.
- It reads every JSON file into `OrderedDict`s, through a Python hook called for each object: that
  doubles the parse of endpoints.json (1.2 MB) and of the service model, about 25 ms. Plain dicts keep
  the files' order too (Python 3.7+), and botocore builds its own ordered maps from them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Set
from typing import Any

from botocore.exceptions import DataNotFoundError
from botocore.loaders import JSONFileLoader, Loader, create_loader


class PlainJSONFileLoader(JSONFileLoader):
    """botocore's JSON file loader (plain and gzipped files), parsing into plain dicts."""

    def _load_file(self, full_path: str, open_method: Callable[..., Any]) -> Any:
        if not os.path.isfile(full_path):
            return None
        with open_method(full_path, "rb") as file:
            return json.loads(file.read())


class DataLoader(Loader):
    """A `Loader` whose `list_available_services` looks a name up instead of listing every service."""

    FILE_LOADER_CLASS = PlainJSONFileLoader

    def list_available_services(self, type_name: str) -> KnownServices:  # type: ignore[override]
        return KnownServices(self, type_name)


class KnownServices(Set[str]):
    """The services with a `type_name` model (service-2, endpoint-rule-set-1, ...) in `loader`'s paths."""

    def __init__(self, loader: Loader, type_name: str) -> None:
        self._loader = loader
        self._type_name = type_name

    def __contains__(self, service: object) -> bool:
        if not isinstance(service, str) or not service:
            return False
        try:
            return bool(self._loader.list_api_versions(service, self._type_name))
        except DataNotFoundError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self._listing())

    def __len__(self) -> int:
        return len(self._listing())

    def _listing(self) -> list[str]:
        return Loader.list_available_services(self._loader, self._type_name)


def loader_for(data_path: str | None) -> DataLoader:
    """The loader botocore would make for the session's `data_path` (AWS_DATA_PATH): same folders, same order."""
    folders = create_loader(data_path).search_paths
    return DataLoader(extra_search_paths=list(folders), include_default_search_paths=False)
