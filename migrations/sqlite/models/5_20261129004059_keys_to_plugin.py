"""usage_records.upstream_ref; OllamaKey and UpstreamAttempt leave the core's state, nothing is dropped."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # ollama_keys and upstream_attempts now belong to the ollama_keys plugin, whose migration 1 adopts
    # them (CREATE TABLE IF NOT EXISTS): they leave the core's state only, their rows stay.
    # usage_records.ollama_key_id leaves the state too but stays in the table, unread (SQLite cannot
    # drop a column a foreign key uses); the plugin's migration 1 copies it into upstream_ref.
    return """
        ALTER TABLE "usage_records" ADD "upstream_ref" VARCHAR(200);
        CREATE INDEX "idx_usage_recor_upstrea_4b86a2" ON "usage_records" ("upstream_ref");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_usage_recor_upstrea_4b86a2";
        ALTER TABLE "usage_records" DROP COLUMN "upstream_ref";"""


MODELS_STATE = (
    "eJztnF1z2jgUhv+KhpvNzrRM6nxu9grSdMs2gU6guzvd2XGELUATI7mSHMJ089/3yNj4E2"
    "JTSID1TQOSjiw/ko90Xh/6vTbmNnFkveHST2Rau0DfawyPCXxI1bxBNey6UbkuULjv+E2x"
    "S817MvULcV8qgS0F5QPsSAJFNpGWoK6inOnWDTTEikzwFDU+txDY1VGHOVOE0QjLEeIDpE"
    "YESWIJohCV0MJVv6K7O1eQAX28u0PUJkzRASUSUYU4Q9A9IUzW9fVtbsEAKBtu/lIeo988"
    "Yio+JNCNgAv+/Q8UU2aTRyLDr+69CfaOnYBLbd2BX26qqeuXtZj64DfUd9E3Le54YxY1dq"
    "dqxNm8NWVKlw4JIwLuUXevhKdxM89xgpkJZ2A20qjJbIgxG5sMsOfoSdPWswFEZTXTbHd6"
    "ZveqZ5q1zISGFjHwQZHFmV4MMFTp3/1QD+Gt8e747Pj86PT4HJr4w5yXnD3NLh2BmRn6eN"
    "q92pNfjxWetfAZR1D9vxmslyMs8rmG7VNkYchpsiHHZWjDgohttP5fAu4YP5oOYUM1gq/v"
    "Dg+XoPyjcXv5sXF7AK1+1pfk8MDOnuR2UGXM6jTvpEcowzdsv4d8j4wCeI+MhXR1VRLuzO"
    "WUwRtZrAfw6/qG5PI9LbJ6Txcv3tM0XvD9pvb5ZQDHbfYO8elxAcSnxwsR66okYtgZNQoT"
    "qyzk91Cj6Jjkg05aplDbgWk9/LCLzgNu0NYnj2DKl6DvtW6uur3GzWd9ubGU3xyfX6N3pW"
    "sMv3SaKj1IPwnzTtCfrd5HpL+ir532lY+XSzUU/hWjdr2vNT0m7CluMj4xsR1bnWFpSC0x"
    "6w6WyvTkSvOetl3DzAdD3paJ35GJDpksnWlBHvj9SvOctKxmeZtnGR5HYZYKT2IWz8cou+"
    "Cs1xCm6MBvcJ8bpWhcWbofuCB0yCDU9iG3YESYWXnH5yAu/xJ0s2Nwn8LVE5ZGT7PAk3mk"
    "HF9UcO9wx0TNTmuN7mXj/VXNJ9zH1v0EC9tciBoPiSmIxYUts8ybgfmHT7fEwf6dLMENXd"
    "36Pe2sf8pA9yFyg8fgJbBmq8bGOF2CGZCxg2vrK+UQy9GVUkAXi0uZSXxeYeowglzBHymx"
    "kSAwBVJdoMmIv0FqJLg3HMEXao20IIQws5HnQo8Ej9/43yYjrLTaY4FnzUpKa+57zRpSkw"
    "7/LzLSL4ZxdHRmHB6dnp8cn52dnB/OHXW2apnHbrZ+0047seM+LzbtVrTzkvOzT6ehSvLa"
    "oOTlO/uydJ2V8W7ZppykaxQSbI0lgq2RFWzDvacM47hNhbkUZjikDFZBHdptCPfraYwboQ"
    "2BkfJyTvMLzz2RQRWezg82cZ75LqLJuUMwW8R0gY/og9WmoM5LXvbQ0ux0rhPnlWYrdVps"
    "f7lpXt0evPOXMTSiiuSzpsz1FBz27wkrs4LTZi+3jg93ZBFzT61ENmNXoU2jtT3hayPmuA"
    "zYlFWFNY01yJkpJ7UmjVaCum3HszVjreTrSr7eBfk6xxWsgWqUrLdbXqAo1qT/S5CFIaD2"
    "l+vrZW8GNit3++ptjs49W+jLBG4iignbi3lWqYjblYqo57RsOmLcpko3SgkB2XQjF0s54f"
    "DYlk3ryhjuoVhrnJwUUV5OThYrL7ouFb1KE9tjykpqBXGzSi0ooRbYVGoAea/5lvGOm1W8"
    "S/CGLVrwh9K842YvyDv05TuLe7feoFb5ohcr54tmwskiyTvxHxWtnrdTOCLatiWwMGcnqX"
    "a8UoLTTtKSCuJp2wSHlCdlFoJFxh7UcVHv+n21oKs9pwVPvgvtyJqI3Qbd7S01IiX0uyot"
    "G0KSPodW9ffhp+6sx30CVkqHibNVCq63hG2HkR6Hf4q4OyK6sf72Qy97WkG0mlNYIF7FKS"
    "0Xscz4BD2fpfmZiLfaDFkjTi0i66jRl4QpJPgEceGPFc1u5CL4na54IOIniQKeEsF4nGk2"
    "R3OtPf+AtLYFLyP2WmWTxCGWDgRKZ5JlLatcp4K5TvaKQVvSsgratiVoy8mDnW8lBYO27H"
    "7+3PvCcKPe8NvCV/V+m/mpyw+9pGoQQa1R3k4f1Czd43HUpnpTtS97KJx7wvCi6OYZM6le"
    "nRR7daIfqhKEg+Z7SHcj/zEJXFERlnMi+b3baS+QkCOT9FGEWgr9ixwqdzH7ZwlcDSNx3g"
    "iZHtw0/krjvrzuNNMHCd1BMy876CUzLp7+A7YGBo4="
)
