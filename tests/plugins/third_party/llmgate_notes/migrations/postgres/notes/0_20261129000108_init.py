from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "notes_plugin_notes" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "text" TEXT NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJzVlVFL5DAUhf+K5ElBBWeHVXzrjuMqqx3Q7iKIhLS9U8OkSU1u0UH63zdJp02dGRRhWf"
    "BlmJ57kpz7cZu+EqkQzGFsf8npziuRrHR/hvL+DmFV1YvuGVkqgo1Woi64pH2ZpQY1y9A6"
    "5kwYsFIOJtO8Qq6kVWUthBNVZo1cFkGqJX+qgaIqAB9B28L9g5W5zOHFbr56rBZ0zkHkby"
    "Lz3J3tdYrLymuXEs+90Z2W0kyJupTBXC3xUcnezSU6tQAJmiG47VHXLr5Lt+q566hNGixt"
    "xMGaHOasFjhoN6VBI5TGs4TeThNKyScAZUo6uDaq8d0XLsLB6Gh8PD759n18Yi0+Zq8cN+"
    "3RAUy70OOJE9L4OkPWOjzjABXhBTexJlbdzrXzr5G1kdfJdhzfQ9sJgW2Yp/8A9x1yyfQu"
    "cTuXxjwJJ8R/opvJRXSzex3d7fnKclW5msU/O7uyr0X75sSTq9kPDz/Arg1o+qkxHqz4eJ"
    "a/APF/Mc7ugpgvtk6zw7VJ91xp4IX8BUsP+dImYjKDLVBLlYMwh79X23wxuE03PZ0a7irN"
    "nvsbdThUtnfbMfiPA5lEt5PobEo84ZRli2emc/oGtauokVpTeu9mqRyV6wqTrPBwXBdN8x"
    "c5kyAb"
)
