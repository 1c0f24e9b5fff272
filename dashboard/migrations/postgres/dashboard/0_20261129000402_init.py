from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "auth_throttle" (
    "key" VARCHAR(128) NOT NULL PRIMARY KEY,
    "attempts" INT NOT NULL,
    "delay" DOUBLE PRECISION NOT NULL,
    "blocked_until" DOUBLE PRECISION NOT NULL,
    "updated_at" DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS "idx_auth_thrott_updated_b4f66b" ON "auth_throttle" ("updated_at");
COMMENT ON TABLE "auth_throttle" IS 'Sign-in, registration and password-change attempts per account or client address.';
CREATE TABLE IF NOT EXISTS "dashboard_sessions" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "csrf_token" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_dashboard_s_expires_81f310" ON "dashboard_sessions" ("expires_at");
COMMENT ON TABLE "dashboard_sessions" IS 'A signed-in browser. The cookie holds a random id; only its hash is stored.';"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWNtu2zgQ/RVCTymQGK1rpMH2Seu4qLGpncZKC3SzUGhxLBGWSJWk1jEK/3uHkmVJvj"
    "XpxkFT7Jt85kae4eXQ3xxGdTSWVLGWm5nIi5Q0JgbnD/LNETSxH7tcjolD07ThYDFDx3m8"
    "Q9HZN3XvsTaKBgaNExprQIiBDhRPDZfChox4KE64OCYKQm6drYFQwUhKtZ5JxU6CiIoQCD"
    "UGktRokoIiNAhkJgyRigQxB/yijCnQumXLMhlgKi7Cg1S4ETdiFFEFjIznBP4FNSeYZmqD"
    "MCsX2lARwFsyUxwzCjLjJiJS2AIy4QFBOxayKfNCRdUbcXR7W/Fesnh7+6JFPJ6AJliRXA"
    "t+RzQEUjB9TLQkJsK0WCdKwGBqrnNEYx9xIGT08QIL43A/XnAD+fAupTahAkRyqjLBv2bg"
    "GxkCBiok7O9/EOaCwR3o8mc69SccYtZYJFOY2wy5wTfzNAe7SMy73NX2YewHMs4SUXNP5y"
    "aSYuWPDbFoCAKwM8BqK0VkcbxcWSVUjBYBozJYDZNVAIMJzWK73mx0MYQKc3x/MPT8Uc/z"
    "fWdjLZYRtcWzhJBuu3C4MDpnIKF3fgwiNBH+fNU+WxSFKiYKN1vxk3vVfe9eHaHXC1tS4n"
    "YoNstgaWoXtkWehBpapMmpr7gul+Ym4X1htvNdD1kjHSfyM6SXQMV6talLil8eivPQjuCk"
    "/arzpnP2+rRzhi75KFfImz1d6A+8nODaCQcx3bJ838WS7uBzFbFG5sSGPDc693B1Prz+86"
    "JHLq963f6oPxzYKslcf40ro4UQwCPFYlc992KN3XEsgykwHw9QHj+I5Y3I/9n+IdtZyiwR"
    "fkHMvaluhh2O56c8mg/AtL3/JtPaqWyBMQ2mM7yn/Q2LbMtdvpumpJ2sI1TQMKfNTrC4E0"
    "pNcF5+jVCGFMRsk2wbbj+SbSvU10WEvp92c4lGbQUM1RUZKznToFCroPwIpJxyIJHEiRFK"
    "FOoOmRDO3qIYieeEo8SKsKZVK9pIFFKbqu2Rc/8HmcPZQ1RO4f3biZzTzj00zmlnp8Sxpv"
    "0KJ9Bqgv2ZgngI3c2ox6H9PjfFsyO+RrSCnbfFOVoMPjZ2kN2IXCObLUNb5cdzpB4nyIZ4"
    "jCz32h7qvf6H3shzP1zm14gurxHX61lLu3m5LNGj07U2rZKQz33vPbE/yZfhIL+H0uKdph"
    "t+3hfHjgnf2dIXcubjk7Q6Fkq0ZK3RdbhLOWb7ia43I5+m67+IZPiVmlyStLfLGV6T/rYL"
    "a+crsRbxdI/EQ27hR3gnbii+JsFbRDbqDFQrf8E8J7m//AdoC6mJxGekbl0v0zwzchfl6i"
    "nRaqsqOltpp/qiwrnjjKFQ1F131HXPe87iKSX04jvtmcvU"
)
