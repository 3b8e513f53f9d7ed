"""HTTP Basic credentials: where they come from and how a request's are checked.

In AWS they come from Secrets Manager (cached by powertools' parameters utility);
locally from HA_CONTROLLER_USERNAME / HA_CONTROLLER_PASSWORD. With neither, every
protected request is refused: there are no built-in default credentials.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from hacore.settings import Settings

SECRET_CACHE_SECONDS = 300


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password, not even by accident
        return f"Credentials(username={self.username!r}, password='***')"


class CredentialSource:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    def get(self) -> Credentials | None:
        if self._settings.credentials_secret:
            from aws_lambda_powertools.utilities import parameters  # only the AWS path needs it

            secret = parameters.get_secret(
                self._settings.credentials_secret, transform="json", max_age=SECRET_CACHE_SECONDS
            )
            return Credentials(str(secret["username"]), str(secret["password"]))
        if self._settings.username and self._settings.password:
            return Credentials(self._settings.username, self._settings.password.get_secret_value())
        return None


def verify_basic(header: str | None, expected: Credentials | None) -> bool:
    """Checks an Authorization header; both fields are always compared, in constant time."""
    if expected is None or not header:
        return False
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    username, separator, password = decoded.partition(":")
    same_user = hmac.compare_digest(username.encode(), expected.username.encode())
    same_password = hmac.compare_digest(password.encode(), expected.password.encode())
    return bool(separator) and same_user and same_password
