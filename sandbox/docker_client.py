"""A Docker client that takes nothing from the environment: imported only where a host's client is built.

requests lets ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` replace the CA a
session was given (psf/requests#3829), so on a machine that sets them (most
images do) a ``tcp://`` host's own CA would be ignored and its certificate
refused; and an ``HTTPS_PROXY`` has no business between aar and an engine.
The client's ``trust_env`` is pinned off, before its first request (the API
version probe in its constructor).
"""

from __future__ import annotations

from typing import Any

import docker


class _EnvFreeAPI(docker.APIClient):  # type: ignore[misc]
    @property
    def trust_env(self) -> bool:
        return False

    @trust_env.setter
    def trust_env(self, value: bool) -> None:  # requests.Session.__init__ sets it; it stays off
        pass


class EnvFreeClient(docker.DockerClient):  # type: ignore[misc]
    """``docker.DockerClient`` with the same arguments, on an API client that ignores the environment."""

    def __init__(self, **kwargs: Any) -> None:
        self.api = _EnvFreeAPI(**kwargs)
