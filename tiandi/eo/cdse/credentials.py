"""Copernicus Data Space credentials and the ``SHConfig`` built from them.

The OAuth client id and secret come from the settings only (the environment:
``TIANDI_CDSE_CLIENT_ID``/``TIANDI_CDSE_CLIENT_SECRET``, else sentinelhub's own
``SH_CLIENT_ID``/``SH_CLIENT_SECRET``), or from a secrets file of ``client_id=...`` and
``client_secret=...`` lines that only its owner may read (mode 0600). Never from
sentinelhub's ``config.toml``: the config is built with ``use_defaults=True``, so
sentinelhub neither reads nor writes a file in the user's home. Neither value appears in
a message, a log line or ``repr``.
"""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sentinelhub.config import SHConfig

from tiandi.errors import InputError
from tiandi.settings import Settings

__all__ = ["CdseCredentials", "load_credentials", "quiet_oauth_logs", "sh_config"]

_ENV_HINT = (
    "set TIANDI_CDSE_CLIENT_ID and TIANDI_CDSE_CLIENT_SECRET (or SH_CLIENT_ID and "
    "SH_CLIENT_SECRET) in the environment, or TIANDI_CDSE_SECRETS_FILE to a file of "
    "client_id=... and client_secret=... lines with mode 0600; create an OAuth client in "
    "the Copernicus Data Space dashboard (User settings, OAuth clients)"
)
_ID_KEYS = ("client_id", "tiandi_cdse_client_id", "sh_client_id")
_SECRET_KEYS = ("client_secret", "tiandi_cdse_client_secret", "sh_client_secret")


@dataclass(frozen=True)
class CdseCredentials:
    """An OAuth client of the Copernicus Data Space (both values hidden from ``repr``)."""

    client_id: str = field(repr=False)
    client_secret: str = field(repr=False)
    source: str  # where they came from, for messages: "the environment" or the file


def load_credentials(settings: Settings) -> CdseCredentials:
    """The client id and secret from the settings (environment), else the secrets file.

    ``InputError`` saying which variables to set when neither has both; naming the file
    when it is unreadable, malformed or readable by others than its owner.
    """
    cid, secret = settings.cdse_client_id, settings.cdse_client_secret
    pair = tuple("" if v is None else v.get_secret_value().strip() for v in (cid, secret))
    if all(pair):
        return CdseCredentials(pair[0], pair[1], "environment")
    if settings.cdse_secrets_file is not None:
        return _from_file(Path(settings.cdse_secrets_file).expanduser())
    have = (
        "only the client id is set"
        if cid is not None
        else ("only the client secret is set" if secret is not None else "none are set")
    )
    raise InputError(f"no Copernicus Data Space credentials ({have}): {_ENV_HINT}")


def _from_file(path: Path) -> CdseCredentials:
    if not path.is_file():
        raise InputError(f"CDSE secrets file {path} does not exist; create it or {_ENV_HINT}")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InputError(
            f"CDSE secrets file {path} can be read by others (mode {mode:04o}); run "
            f"`chmod 600 {path}` so only you can read it"
        )
    values: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"CDSE secrets file {path} cannot be read ({exc.__class__.__name__}); check it"
        ) from None
    for line in lines:
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip().lower().removeprefix("export ")] = value.strip().strip("'\"")
    cid = next((values[k] for k in _ID_KEYS if values.get(k)), "")
    secret = next((values[k] for k in _SECRET_KEYS if values.get(k)), "")
    if not (cid and secret):
        raise InputError(
            f"CDSE secrets file {path} lacks a client_id=... or client_secret=... line; "
            "write both, one per line"
        )
    return CdseCredentials(cid, secret, str(path))


def sh_config(settings: Settings, credentials: CdseCredentials, *, attempts: int = 3,
              sleep_s: float = 2.0) -> SHConfig:  # fmt: skip
    """The sentinelhub configuration: the settings' base and token URLs, the credentials,
    ``attempts`` tries per request on a 5xx or a dropped connection (``sleep_s`` before the
    second, three times longer each next); no ``config.toml`` read or written."""
    return SHConfig(
        use_defaults=True,
        sh_client_id=credentials.client_id,
        sh_client_secret=credentials.client_secret,
        sh_base_url=settings.cdse_base_url.rstrip("/"),
        sh_token_url=settings.cdse_token_url,
        max_download_attempts=attempts,
        download_sleep_time=sleep_s,
    )


#: requests-oauthlib logs the token request's body (client id and secret) and the token
#: itself at DEBUG level; those records are dropped while tiandi talks to the service.
_OAUTH_LOGGER = "requests_oauthlib.oauth2_session"


class _DropAll(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


@contextmanager
def quiet_oauth_logs() -> Iterator[None]:
    """Drop requests-oauthlib's log records (they carry the secret and the token)."""
    logger = logging.getLogger(_OAUTH_LOGGER)
    drop = _DropAll()
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
