"""Account operations shared by the CLI and the dashboard: users, API keys, settings."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.exceptions import IntegrityError

from proxy import auth_events
from proxy.security import display_prefix, hash_api_key, hash_password_off_loop, new_api_key
from proxy.storage.models import ApiKey, User, UserSettings

MIN_PASSWORD_LENGTH = 8
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-@")


class AccountError(ValueError):
    """A user-facing reason an account operation cannot be done."""


def check_username(username: str) -> str:
    username = username.strip()
    if not 3 <= len(username) <= 64:
        raise AccountError("Usernames are 3 to 64 characters long.")
    if not set(username) <= USERNAME_CHARS:
        raise AccountError("Usernames may use letters, digits and _ . - @ only.")
    return username


def check_password(password: str, username: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"Passwords need at least {MIN_PASSWORD_LENGTH} characters.")
    if username and password.lower() == username.lower():
        raise AccountError("The password must not be the username.")
    if len(set(password)) < 4:
        raise AccountError("That password is too easy to guess; use more different characters.")


def check_new_account(username: str, password: str) -> str:
    """The cleaned username, or AccountError; cheap, so it runs before any throttle or hashing."""
    username = check_username(username)
    check_password(password, username)
    return username


async def create_user(
    username: str,
    password: str,
    *,
    is_admin: bool = False,
    approved: bool = True,
    first_becomes_admin: bool = False,
) -> User:
    """A new account. ``first_becomes_admin``: the first account of an empty database is made an
    approved admin (registration on the dashboard; the CLI says --admin explicitly)."""
    username = check_new_account(username, password)
    if await User.filter(username=username).exists():
        raise AccountError(f"The username {username!r} is taken.")
    password_hash = await hash_password_off_loop(password)
    try:
        user = await User.create(
            username=username, password_hash=password_hash, is_admin=is_admin, approved=approved
        )
    except IntegrityError:
        raise AccountError(f"The username {username!r} is taken.") from None
    if first_becomes_admin and not is_admin:
        # Ids only grow, so of two accounts registered at once on an empty database exactly one
        # (the lower id) finds itself first.
        first = await User.all().order_by("id").first()
        if first is not None and first.id == user.id:
            user.is_admin, user.approved = True, True
            await user.save(update_fields=["is_admin", "approved"])
    return user


async def get_user(username: str) -> User:
    user = await User.filter(username=username).first()
    if user is None:
        raise AccountError(f"No user named {username!r}.")
    return user


async def create_api_key(user: User, mode: str, name: str = "") -> tuple[ApiKey, str]:
    """A new key; the secret is returned once and only its hash is kept."""
    secret = new_api_key()
    api_key = await ApiKey.create(
        user=user,
        name=(name.strip() or f"{mode} key")[:100],
        mode=mode,
        prefix=display_prefix(secret),
        key_hash=hash_api_key(secret),
    )
    return api_key, secret


def key_label(api_key: ApiKey) -> str:
    """How the audit log names a key: id, display prefix, mode and name; never the secret."""
    return f"key {api_key.id} ({api_key.prefix}…, {api_key.mode}, {api_key.name!r})"


async def revoke_api_key(api_key: ApiKey, redis_url: str = "") -> None:
    """Revoke; with ``redis_url``, every running instance is told to forget the key at once."""
    if api_key.revoked_at is None:
        api_key.revoked_at = datetime.now(UTC)
        await api_key.save(update_fields=["revoked_at"])
    await auth_events.announce(redis_url)


async def user_settings(user_id: int) -> UserSettings:
    settings, _ = await UserSettings.get_or_create(user_id=user_id)
    return settings


async def set_selected_model(user_id: int, model: str | None) -> None:
    settings = await user_settings(user_id)
    settings.selected_model = (model or "").strip() or None
    await settings.save()
