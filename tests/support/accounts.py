"""Creating users and API keys through the same code the CLI and dashboard use."""

from __future__ import annotations

from proxy.accounts import create_api_key, create_user, get_user, set_selected_model
from proxy.storage.models import User
from tests.support.gateway import GatewayServer


def make_key(gateway: GatewayServer, mode: str = "bypass", username: str = "alice", model: str | None = None) -> str:
    """An API key secret for ``username`` (created on first use), in ``mode``."""

    async def work() -> str:
        user = await User.filter(username=username).first() or await create_user(username, "correct horse battery")
        if model is not None:
            await set_selected_model(user.id, model)
        _, secret = await create_api_key(await get_user(username), mode, f"{mode} test key")
        return secret

    return gateway.run(work())
