"""Who may post OpenVidu's webhooks: the holder of the inbound token, and nobody else.

Webhooks drive real effects (a `stopped` ends a recording and stops its backup, a `failed`
starts a finalizer), so in AWS the token is never optional: the stack generates one in Secrets
Manager when the operator gives none. OpenVidu sends it through its OPENVIDU_WEBHOOK_HEADERS as
`X-Webhook-Token: <token>` (or `Authorization: Bearer <token>`); it is compared in constant
time. The local stack keeps "any sender" unless OPENVIDU_WEBHOOK_INBOUND_TOKEN is set, and says
so in its banner.

The secret is read once and cached; if Secrets Manager cannot be reached later, the last value
read keeps serving (a webhook refused for that would be lost: OpenVidu does not resend).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping

from hacore.settings import Settings

log = logging.getLogger("hacore.inbound")
SECRET_CACHE_SECONDS = 300


def read_secret(name: str) -> str:
    from aws_lambda_powertools.utilities import parameters  # only the AWS path needs it

    return str(parameters.get_secret(name, max_age=SECRET_CACHE_SECONDS))


class TokenUnavailable(Exception):
    """The token is in Secrets Manager and could never be read: nobody can be let in."""


class InboundToken:
    def __init__(self, settings: Settings, reader: Callable[[str], str] = read_secret) -> None:
        self._settings = settings
        self._reader = reader
        self._last: str | None = None

    @property
    def required(self) -> bool:
        return bool(self._settings.webhook_inbound_token or self._settings.webhook_inbound_token_secret)

    def expected(self) -> str | None:
        if self._settings.webhook_inbound_token is not None:
            return self._settings.webhook_inbound_token.get_secret_value()
        name = self._settings.webhook_inbound_token_secret
        if not name:
            return None
        try:
            self._last = self._reader(name)
        except Exception as error:
            if self._last is None:
                raise TokenUnavailable(f"the webhook token could not be read: {error}") from error
            log.warning("the webhook token could not be read again (%s); the last one read serves", error)
        return self._last

    def accepts(self, headers: Mapping[str, str]) -> bool:
        expected = self.expected()
        if expected is None:
            return True
        lowered = {k.lower(): v for k, v in headers.items()}
        bearer = lowered.get("authorization", "")
        offered = bearer[7:] if bearer.lower().startswith("bearer ") else lowered.get("x-webhook-token", "")
        return hmac.compare_digest(offered.strip().encode(), expected.encode())
