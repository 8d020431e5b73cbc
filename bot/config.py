"""Server settings, read from the environment in one place, cast and validated here.

Every setting has a safe default so ``kefu serve`` runs on an empty environment; the CLI
overrides a few of them from flags. Limits are on by default.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from bot.errors import KefuError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(KefuError):
    """An environment variable holds a value of the wrong kind."""


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """An integer setting from the environment (blank means the default); validated."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def env_list(name: str) -> tuple[str, ...]:
    raw = os.environ.get(name, "")
    return tuple(item.strip() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class Limits:
    """Safe limits for the customer-facing websocket, all on by default."""

    # Largest text frame we parse; bigger ones get a `too_large` error and the socket stays open.
    max_frame_bytes: int = 16 * 1024
    # Longest customer message, in characters, after stripping.
    max_text_chars: int = 2000
    # Token bucket per connection: sustained messages per second and burst size.
    messages_per_second: float = 2.0
    message_burst: int = 8
    # Connections one IP may hold at once.
    connections_per_ip: int = 50
    # Token bucket per client IP over all its connections, so a flood spread across many
    # sockets is refused too. Roomy enough for an office NAT full of people chatting.
    ip_messages_per_second: float = 20.0
    ip_message_burst: int = 60
    # How long a turn may wait for the conversation lock before answering `busy`.
    lock_wait_s: float = 10.0
    # A lock expires by itself so a killed server never blocks a conversation for long; a
    # live holder renews it while its turn runs (see ConversationStore.lock).
    lock_ttl_ms: int = 10_000


@dataclass(frozen=True)
class Settings:
    """Everything the server needs, resolved from the environment by :func:`load_settings`."""

    redis_url: str | None = None
    redis_prefix: str = "kefu:"
    model_dir: Path | None = None
    project_dir: Path = PROJECT_ROOT / "dialogues"
    action_endpoint: str | None = None
    var_dir: Path = PROJECT_ROOT / "var"
    secret: bytes = b""
    # Idle time after which a conversation's tracker expires and a new session starts.
    session_ttl_s: int = 3600
    # How long the transcript stream is kept in Redis (the archive keeps it for longer).
    transcript_ttl_s: int = 30 * 24 * 3600
    # Below this NLU confidence the bot says it did not understand.
    fallback_threshold: float = 0.4
    allowed_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)

    def with_overrides(self, **changes: object) -> "Settings":
        """A copy with the given fields replaced (``None`` values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _load_or_create_secret(var_dir: Path) -> bytes:
    """The HMAC key that signs conversation tokens: env, else a file under var/ made once.

    Persisting it keeps tokens valid across restarts; every replica must share it.
    """
    raw = os.environ.get("KEFU_SECRET")
    if raw:
        return raw.encode()
    path = var_dir / "secret.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        var_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        # Create exclusively so two processes starting together agree on one key.
        try:
            with open(path, "xb") as handle:
                handle.write(key)
            os.chmod(path, 0o600)
        except FileExistsError:
            return path.read_bytes().strip()
        return key


def load_settings() -> Settings:
    """Read settings from ``KEFU_*`` / ``REDIS_URL`` environment variables."""
    var_dir = Path(os.environ.get("KEFU_VAR_DIR", PROJECT_ROOT / "var"))
    model = os.environ.get("KEFU_MODEL")
    limits = Limits(
        max_frame_bytes=env_int("KEFU_MAX_FRAME_BYTES", Limits.max_frame_bytes, minimum=256),
        max_text_chars=env_int("KEFU_MAX_TEXT_CHARS", Limits.max_text_chars, minimum=1),
        messages_per_second=env_float("KEFU_MESSAGES_PER_SECOND", Limits.messages_per_second),
        message_burst=env_int("KEFU_MESSAGE_BURST", Limits.message_burst, minimum=1),
        connections_per_ip=env_int("KEFU_CONNECTIONS_PER_IP", Limits.connections_per_ip, minimum=1),
        ip_messages_per_second=env_float("KEFU_IP_MESSAGES_PER_SECOND", Limits.ip_messages_per_second),
        ip_message_burst=env_int("KEFU_IP_MESSAGE_BURST", Limits.ip_message_burst, minimum=1),
    )
    return Settings(
        redis_url=os.environ.get("REDIS_URL") or None,
        redis_prefix=os.environ.get("KEFU_REDIS_PREFIX", "kefu:"),
        model_dir=Path(model) if model else None,
        project_dir=Path(os.environ.get("KEFU_PROJECT", PROJECT_ROOT / "dialogues")),
        action_endpoint=os.environ.get("KEFU_ACTION_ENDPOINT") or None,
        var_dir=var_dir,
        secret=_load_or_create_secret(var_dir),
        session_ttl_s=env_int("KEFU_SESSION_TTL_S", 3600, minimum=1),
        transcript_ttl_s=env_int("KEFU_TRANSCRIPT_TTL_S", 30 * 24 * 3600, minimum=60),
        fallback_threshold=env_float("KEFU_FALLBACK_THRESHOLD", 0.4),
        allowed_origins=env_list("KEFU_ALLOWED_ORIGINS"),
        limits=limits,
    )


def newest_model_dir(models_root: Path) -> Path | None:
    """The most recently trained model folder under ``models_root`` (has a config.json)."""
    if not models_root.is_dir():
        return None
    candidates = [p for p in models_root.iterdir() if (p / "config.json").is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: (p / "config.json").stat().st_mtime)
