"""Who is calling, may they be served, and are they over their rate.

With a registry (``afinar users init``), ``Authorization: Bearer <API key>`` must name an active
user whose role has the ``serve`` permission (``deploy`` to add or remove adapters): 401 without
a valid key, 403 without the permission. Without a registry the server runs in local mode (every
caller is the OS user), which :func:`afinar.serve.server.serve` allows only on a loopback address.

Rate limits are a token bucket per caller: ``rate_per_minute`` requests, refilled continuously,
with bursts up to the same number; over it, 429 with ``Retry-After`` in whole seconds.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from afinar.errors import AfinarError
from afinar.registry import Caller, Registry
from afinar.security.audit import local_actor

__all__ = ["LOCAL", "ApiError", "Gatekeeper"]

LOCAL = "local"
"""The role of the caller in local mode (no registry): the OS user, allowed everything."""


@dataclass
class ApiError(Exception):
    """An OpenAI-shaped error: ``{"error": {"message", "type", "code"}}`` with an HTTP status."""

    status: int
    code: str
    message: str
    type: str = "invalid_request_error"
    headers: dict | None = None
    actor: str | None = None

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": None}}


class Gatekeeper:
    def __init__(self, registry_url: str | None, rate_per_minute: int = 600):

        self.registry = Registry(registry_url) if registry_url else None
        self.rate = rate_per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last refill)
        self._lock = threading.Lock()

    def caller(self, authorization: str | None, permission: str = "serve") -> str:
        """The caller's name.

        Raises:
            ApiError: 401 (no or unknown key) or 403 (no ``permission``).
        """
        return self.who(authorization, permission).name

    def who(self, authorization: str | None, permission: str = "serve") -> Caller:
        """The caller, with their role (:data:`LOCAL` in local mode, where everything is allowed).

        Raises:
            ApiError: 401 (no or unknown key) or 403 (no ``permission``).
        """
        if self.registry is None:
            return Caller(local_actor(), LOCAL)
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise ApiError(401, "missing_api_key", "send 'Authorization: Bearer <API key>'", "authentication_error")

        try:
            who = self.registry.authenticate(key.strip())
        except AfinarError:
            raise ApiError(
                401, "invalid_api_key", "the API key is unknown or disabled", "authentication_error"
            ) from None
        allowed, reason = self.registry.allowed(Caller(who.name, who.role), permission)
        if not allowed:
            message = f"{reason}: needs '{permission}'"
            raise ApiError(403, "permission_denied", message, "permission_error", actor=who.name)
        return who

    def take(self, caller: str) -> None:
        """Spend one request from ``caller``'s bucket.

        Raises:
            ApiError: 429 with ``Retry-After`` when the bucket is empty.
        """
        now = time.monotonic()
        per_second = self.rate / 60.0
        with self._lock:
            tokens, last = self._buckets.get(caller, (float(self.rate), now))
            tokens = min(float(self.rate), tokens + (now - last) * per_second)
            if tokens < 1.0:
                self._buckets[caller] = (tokens, now)
                wait = math.ceil((1.0 - tokens) / per_second)
                raise ApiError(
                    429,
                    "rate_limit_exceeded",
                    f"more than {self.rate} requests per minute; retry in {wait} s",
                    "rate_limit_error",
                    headers={"Retry-After": str(wait)},
                    actor=caller,
                )
            self._buckets[caller] = (tokens - 1.0, now)
