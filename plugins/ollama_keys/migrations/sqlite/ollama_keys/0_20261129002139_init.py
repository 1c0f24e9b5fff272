"""The preferred key per user, adopted from the core's user_settings."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # The preference was user_settings.preferred_ollama_key_id (the core's, up to its migration 4,
    # which leaves the column in place): copied here once.
    return """
        CREATE TABLE IF NOT EXISTS "ollama_key_preferences" (
    "key_id" INT NOT NULL REFERENCES "ollama_keys" ("id") ON DELETE CASCADE,
    "user_id" INT NOT NULL PRIMARY KEY REFERENCES "users" ("id") ON DELETE CASCADE
) /* The key a user's requests go to first. No row: the shared upstream serves the user. */;
INSERT INTO "ollama_key_preferences" ("user_id", "key_id")
    SELECT "user_id", "preferred_ollama_key_id" FROM "user_settings" WHERE "preferred_ollama_key_id" IS NOT NULL;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJzVlE1r20AQhv/KoksvraGuaUJuIU0gFOxC1FMpy1g7koWlXXV3VdcE/ffOrKwPyy11ID"
    "34IqR3Pnbm2dE8R6YooAS5xb2brcL7Z9x/sZiiRZ1gdCOeIw0lv/zT962IoKomnqx6WBeT"
    "DLLq44ILrJ23kHjySqFwSJJCl9i88rnRHBtvUFCgAFE7tG+csPijRuedyIzwRqS5dX4mlk"
    "ZYs7sRntzdBiwqUVeUG6EUFPcTXTBxjhkfrExC1lxn//GMWueURnqTIemWTvr2neRcK/xF"
    "7R8+q61McyzUEXPOIXPFWYJR+n0VDI/aPwRv7mEtE1PUpZ5EVHu/MboPybVnNUONFjyqEW"
    "td0820l9RJbdEkeFtjX60aBIUp1AXfGEe3ZQxaJOVyFcun+1jK6OQ2u4gR/IOUGM2TQLW6"
    "ACLjEt7N3y+uFtcfPi6uySWU2StXTXv0gKcNDJCWcdQEO3hoPQLugS+P4ovwDgGvQ7cTBr"
    "zD/F8IXx7edPs3vKdsH4zFPNO0PALiRyoIDvtjwrQ0CovRsrlAwE03QJ06/EAWdv0fP5or"
    "6p+6Rh8I3N0+3d1+uo8C5DUk2x1YJY9os8XMzR/58zI4vYCVxtjQ40z8Xw9JLmpxnMt9tC"
    "7PAH/MmU3lvJwqoCEL/XJlTfMb+Alszw=="
)
