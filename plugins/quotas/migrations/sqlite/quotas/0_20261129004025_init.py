from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "quotas_user_quotas" (
    "daily_tokens" BIGINT,
    "monthly_tokens" BIGINT,
    "user_id" INT NOT NULL PRIMARY KEY REFERENCES "users" ("id") ON DELETE CASCADE
) /* An admin's quota for one user. NULL: the configured default; 0: unlimited. */;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztld9r2zAQx/8V4Ze9bCF10jpNn9KuG4GSMpo+jSEU6+yI2CfXlulC8f++kxz/SNwNVs"
    "ZgsJfgfO9Ouvt8LfnFeyq1EcXosYD8i3305uzFQ5ECPQyD75knsqwLWcGITdLL5iVl8y4s"
    "NoXJRWgoIxJJASRJKMJcZUZptHULZEKmCt8VzJWxSOdMIzC70oitHu/u5sxsgYUaIxWXOU"
    "gmIRJlYq7YeM5KTFSqDMiR3U/qkDZUGP/5pUtUTyVwo2Ogmpw2+PqNZIUSvkPR/M12PFKQ"
    "yCOSDoqSdhUX5GafucASzSeXbVvf8FAnZYonFdnebDW2JQqNVWNAyAX11iOLZZIc7Gikum"
    "kSTF5C263shMO8JNjquo1O8zhf3a/5w+2ac2/gXVPRY36QCKj1nXotHIjYtvDBP5sG09nk"
    "YjqjFNdmqwRVvXWHpy50kFZrr3JxYUSd4XB3fKVQyZ6c2QEWQ8jXKv4p59PKN8E+oGxZNy"
    "kd7O7d/3u0L31/Mgn88eRidj4NgvPZuMU+DP2K//Xys7WAEjQd5fq0N550HqQazfaNLgxr"
    "//vwOz7Yiyfa9Y6GFTYi3D2LXPJBRPv61WNkL52hcfcIa00/zrolTSgwhFc8SrWEpP5c/H"
    "MXVNW8kY3a7Z+L5/ZG71/LNDnNC8bNfrN4uFl8vPWqI/DHnG0o9dNTRaCI3by2s6r6AYbW"
    "bkY="
)
