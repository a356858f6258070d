"""Sign the invoke request with SigV4 for an `AWS_IAM` function URL (or an IAM-authorised API)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# <url-id>.lambda-url.<region>.on.aws and <api-id>.execute-api.<region>.amazonaws.com
_AWS_HOST = re.compile(r"\.(?P<kind>lambda-url|execute-api)\.(?P<region>[a-z0-9-]+)\.(?:on\.aws|amazonaws\.com)$")
_SERVICE = {"lambda-url": "lambda", "execute-api": "execute-api"}


class SigningError(Exception):
    """Signing is impossible: no credentials, or no region to sign for."""


def service_and_region(url: str, region: str | None = None) -> tuple[str, str]:
    """The SigV4 service and region for `url`; `region` overrides what the host says."""
    match = _AWS_HOST.search(urlsplit(url).hostname or "")
    service = _SERVICE[match["kind"]] if match else "lambda"
    region = region or (match["region"] if match else None)
    if not region:
        raise SigningError(f"cannot tell the AWS region from {urlsplit(url).hostname!r}; pass --region")
    return service, region


class SigV4Signer:
    """A `probe.Signer` using botocore's default credential chain (env, profile, SSO, instance role)."""

    def __init__(self, region: str | None = None) -> None:
        # botocore is only needed (and only imported) when signing.
        import botocore.exceptions
        import botocore.session

        try:
            credentials = botocore.session.Session().get_credentials()
        except botocore.exceptions.BotoCoreError as error:
            raise SigningError(f"--sigv4: cannot load AWS credentials: {error}") from None
        if credentials is None:
            raise SigningError(
                "--sigv4: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)"
            )
        self._credentials = credentials.get_frozen_credentials()
        self._region = region

    def __call__(self, method: str, url: str, headers: dict[str, str], body: bytes) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        service, region = service_and_region(url, self._region)
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(self._credentials, service, region).add_auth(request)
        return dict(request.headers.items())
