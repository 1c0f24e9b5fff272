"""The keys and the failed attempts, adopted from the core; usage rows get their key's reference."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # Both tables were the core's up to its migration 5, which leaves them in place: on an existing
    # database they are taken over as they are. The core's usage rows referred to a key through
    # usage_records.ollama_key_id (still there, no longer read): copied once into upstream_ref.
    return """
        CREATE TABLE IF NOT EXISTS "ollama_keys" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "secret_encrypted" TEXT NOT NULL,
    "masked" VARCHAR(32) NOT NULL,
    "position" INT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "account_id" VARCHAR(128),
    "account_email" VARCHAR(255),
    "plan" VARCHAR(32),
    "exhausted_until" TIMESTAMPTZ,
    "exhausted_since" TIMESTAMPTZ,
    "exhausted_window" VARCHAR(16),
    "invalid_since" TIMESTAMPTZ,
    "last_error" TEXT,
    "last_error_at" TIMESTAMPTZ,
    "usage" JSONB,
    "usage_fetched_at" TIMESTAMPTZ,
    "usage_error" TEXT,
    "usage_next_fetch_at" TIMESTAMPTZ,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE,
    CONSTRAINT "uid_ollama_keys_user_id_c83f0f" UNIQUE ("user_id", "name")
);
CREATE INDEX IF NOT EXISTS "idx_ollama_keys_account_27a42b" ON "ollama_keys" ("account_id");
COMMENT ON TABLE "ollama_keys" IS 'A user''s Ollama Cloud key, encrypted at rest, with what the gateway learned about it.';
CREATE TABLE IF NOT EXISTS "upstream_attempts" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMPTZ NOT NULL,
    "upstream" VARCHAR(200) NOT NULL,
    "status" INT,
    "message" TEXT NOT NULL,
    "ollama_key_id" INT REFERENCES "ollama_keys" ("id") ON DELETE CASCADE,
    "user_id" INT REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_upstream_at_created_76e203" ON "upstream_attempts" ("created_at");
COMMENT ON TABLE "upstream_attempts" IS 'A failed upstream attempt, kept for the dashboard and operators.';
UPDATE "usage_records" SET "upstream_ref" = 'ollama_keys:' || "ollama_key_id" WHERE "ollama_key_id" IS NOT NULL AND "upstream_ref" IS NULL;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWltz2jgU/isaXjY7w2YSkwvbN5KQNpsGOom722mn4xG2AA+25EpyCdPNf19Jxvgmgy"
    "EJAZaXBEvnk+Tv3CT5/KoRz4M+tEZowg676vctmtTegV81DH0kfpRI1EENBkGuX7Zy2PPy"
    "OCXdY5xCm4uuPvQYEk0OYjZ1A+4SLAEtEDJEf2MgmgVceiR0gMDXAcI2nQQcOQByQBHjdT"
    "B2+RCMh+KZDxEYQI7GcAI8BCmWYj0ScuDyQzm1Q2wxt4sHrzpLiN0fIbI4GSAhS8Vc377V"
    "5FyyU5H5/bv45WIHPSImu+VjMLL6LvKcDOWuIzGq3eKTQLXdYH6tBOUL9SybeKGPE+Fgwo"
    "cEz6RdzGXrAGFExaLl8JyGknQciveOVBTrIVp5IhItMYVxUB+GnlSdREcLSNpqltXpmtZD"
    "27SsWkGtMSKlg2mTTbA0CbFUpt5+IJfwh3F8cn7SbJydNIWIWuas5fwpmjohJgIqejpm7U"
    "n1Qw4jCcVxQqr6X6D1cgipntdYPsesWHKe2ZjHedTGDQm3iResg1wfPloewgM+FI/HR0dz"
    "qPy7dX/5oXV/IKR+l1MS4baRS3emXUbUJ/lO+GXIpohbMycqcm2ixxIb1mF3gvc5NJvtL6"
    "Yc2Wfsh5dm9+Cu9UUR70+mPR+7nfexeEoblx+7Fzkl+JCNdNSXm3mC2AnCs4beMCrYecMo"
    "NXPZlSU4IMxVa6oeoNOQxWH6pTg+2ugwnRAqHF++uQV5kdIr0cNdH+l5zSJzzDpT6GH8Yx"
    "ttWbyg08XeZJqJ5wWTm7v2g9m6+5SJKFctsy17jEw0iVsPznJ2PxsE/HNjfgDyEXztdtqK"
    "XsL4gKoZEznza02uCYacWJiMLeikNg1xa8xaRuvQtkmIuaXb6ZTHqixqpXg1XdwcFa91z5"
    "NNy0azSlo2muVpWfY9aZlGPnS9VcieAV+J7zdMD8bpaQXChVQp4aovlyE8qMkO5TzH8rtH"
    "78tnX/Q4hCGTQV9Yps6c52cMDfwF0saG6WBLskTMydw0kSiMudjWHN+q6nsG3+t7O/Q9Fm"
    "wKoSXiqA67ezH1+KzKFiGvw9QO4SwfU138E3ruih5WAO/9a5P9y4NMbOgoJXSZ25ksahd8"
    "at3XMgmDK5xzC+C9j22yj4UMDjRx9K+Hbkev3xkgr1fX5uBf4LmsyiXR9mhUMjHfw/LOlN"
    "OSHCDvYYpEq4+4PVzpMkmH3/vZxvvZ8sksB9tns+WzWUQhFhRHDrOyuxWG2HvcZnscotob"
    "29JPHynE+r58bPg3avnVvz/SfqKOqwWy7F4TitwBvkUTRfKNWBHUn7Z84iCPHX6eDrNl5D"
    "7F1hO3Jt5M4XhWJpE2KvHu4o0Rj64GWg+Xrat2TTHcg/ZoDKljlVANOUd+wFmR7osp8vr2"
    "Hnmw5MNduijmcyDWi6Dfiobc2hhVIF4RSQySIjBDbbHLN/x8C8Qi0jvTueVM2nqiTxT1EU"
    "XSrBfWHqVk60tUIVnBDFexIMkcIlkYBGBcMkSR0BfjDAwI4AT0Xcr4IegQQMn4naoQYkNI"
    "kQPCqUkAgfuJmOqSYxTLkV5pDk0xUtXiow2I8jtdhyRNcSl6E8A+hy7OoaOoOHHVFFpa7b"
    "hlLFdNpolxLZtLi8lh0Uami5FJxJ9X3sa8afR4nU3M8zNtfpNSlmU1m5kFGTbOQ1Z6S1Wl"
    "2rcPXS+dx6b4usiHAQd9QlVKcyAb9oggAUDsABJIUyCU6Qp7nz/gM9KmLqRfuIP/S9nun4"
    "bRaJwbR42z5unJ+flp82gW14td8wL8xc17GePr6UPu4qS6XVVkbxCQduMCYurZy3wWTmN2"
    "sMLVqFTKbcwp5TY0pdwc8lBzNC4NZglgpS3qhp2HX7rE1UdM/02o/JY6BdkJo133FXXq2L"
    "/UWauA29tz0Z7Xf0Owg4RuzDXwhnH7YgcofTh4i7uBLWW4EAuff0Pw3EPt038Oj+PU"
)
