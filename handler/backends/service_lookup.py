"""botocore's data loader, except that finding one service looks in that service's folder only.

To make a client, botocore checks that the service is known by listing every service it ships, twice
(for the service model and for the endpoint rules): about 880 directory listings and 1800 `stat`s for
the 440-odd folders under botocore/data, some 20 ms of a cold start spent to find one name. Here the
same question is answered from the one folder; only a caller that really iterates (botocore's
"unknown service" error, which names all of them) gets the full listing, botocore's own.
"""

from __future__ import annotations

from collections.abc import Iterator, Set

from botocore.exceptions import DataNotFoundError
from botocore.loaders import Loader, create_loader


class ServiceLookupLoader(Loader):
    """A `Loader` whose `list_available_services` is a set that looks a name up instead of listing."""

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


def loader_for(data_path: str | None) -> ServiceLookupLoader:
    """The loader botocore would make for the session's `data_path` (AWS_DATA_PATH): same folders, same order."""
    folders = create_loader(data_path).search_paths
    return ServiceLookupLoader(extra_search_paths=list(folders), include_default_search_paths=False)
