from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "users" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "username" VARCHAR(64) NOT NULL UNIQUE,
    "password_hash" VARCHAR(255) NOT NULL,
    "is_admin" BOOL NOT NULL,
    "disabled" BOOL NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS "api_keys" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "name" VARCHAR(100) NOT NULL,
    "mode" VARCHAR(32) NOT NULL,
    "prefix" VARCHAR(16) NOT NULL UNIQUE,
    "key_hash" VARCHAR(64) NOT NULL UNIQUE,
    "created_at" TIMESTAMPTZ NOT NULL,
    "last_used_at" TIMESTAMPTZ,
    "revoked_at" TIMESTAMPTZ,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "api_keys" IS 'A gateway API key. Only a hash of the secret is kept; ``prefix`` identifies it on screens.';
CREATE TABLE IF NOT EXISTS "dashboard_sessions" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "csrf_token" VARCHAR(64) NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_dashboard_s_expires_81f310" ON "dashboard_sessions" ("expires_at");
COMMENT ON TABLE "dashboard_sessions" IS 'A signed-in browser. The cookie holds a random id; only its hash is stored.';
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
CREATE TABLE IF NOT EXISTS "stored_responses" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMPTZ NOT NULL,
    "expires_at" TIMESTAMPTZ NOT NULL,
    "previous_response_id" VARCHAR(64),
    "messages" JSONB NOT NULL,
    "response" JSONB NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_stored_resp_expires_6ea41d" ON "stored_responses" ("expires_at");
COMMENT ON TABLE "stored_responses" IS 'A Responses API response kept because the client sent ``store: true``.';
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
CREATE TABLE IF NOT EXISTS "usage_records" (
    "id" BIGSERIAL NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMPTZ NOT NULL,
    "mode" VARCHAR(32) NOT NULL,
    "model" VARCHAR(200),
    "upstream" VARCHAR(200),
    "status" INT NOT NULL,
    "stream" BOOL NOT NULL,
    "input_tokens" INT NOT NULL,
    "output_tokens" INT NOT NULL,
    "duration_ms" INT NOT NULL,
    "api_key_id" INT REFERENCES "api_keys" ("id") ON DELETE SET NULL,
    "ollama_key_id" INT REFERENCES "ollama_keys" ("id") ON DELETE SET NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS "idx_usage_recor_created_abe4dd" ON "usage_records" ("created_at");
COMMENT ON TABLE "usage_records" IS 'One proxied request: who, through which key, and what it cost.';
CREATE TABLE IF NOT EXISTS "user_settings" (
    "selected_model" VARCHAR(200),
    "updated_at" TIMESTAMPTZ NOT NULL,
    "preferred_ollama_key_id" INT REFERENCES "ollama_keys" ("id") ON DELETE SET NULL,
    "user_id" INT NOT NULL PRIMARY KEY REFERENCES "users" ("id") ON DELETE CASCADE
);
COMMENT ON TABLE "user_settings" IS 'Per-user choices. Absent row or null fields: the server''s defaults apply.';
CREATE TABLE IF NOT EXISTS "aerich" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "version" VARCHAR(255) NOT NULL,
    "app" VARCHAR(100) NOT NULL,
    "content" JSONB NOT NULL
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztXW1T27gW/iuafLndGcrQQIHb/RQo3eUuJR1Id3d2Z8cotpJocCyvJDcwu/z3K8l24h"
    "fZ2CYJjqsvtJF1JPk50tF5k/xPb04c5LL9gY9/QY+9D+CfngfnSPwn82QP9KDvr8plAYdj"
    "V1WFPrbu0aMqhGPGKbS5KJ9AlyFR5CBmU+xzTDxZewCmkKMFfASDL5dA0O2Doec+AghmkM"
    "0AmQA+Q4AhmyIOMBM1fP4juLvzKZrgh7s7gB3kcTzBiAHMAfGAaB4hj+3L/h1iiwFgb7r5"
    "rgIP/x0gi5MpEs1Q0eGff4li7DnoAbH4p39vCXrXSYGLHdmAKrf4o6/KLj3+SVWUbzG2bO"
    "IGc29V2X/kM+Ita2OPy9Ip8hAV7yib5zSQcHuB60aciTkQjnRVJRxigsZBExi4kmmSOhzA"
    "qqxnWdfDkXV7MbKsXo6hMUUC+KjIJp6cDGKoTL39VA7hbf/d0cnR6eHx0amoooa5LDl5Cr"
    "teARMSKniuR70n9RxyGNZQGK9AVf/mYD2fQarHNa6fQVYMOYtsjGMZtHHBCtvV/N8GuHP4"
    "YLnIm/KZ+Pnu4KAEyl8HN+c/D27eiFo/yC6JWLDhSr6OHvXDZxLvtESog29cv4P4HvYrwH"
    "vYL0RXPkqDG4qcOvCuKNYD8OvKhvT0Pa4ye4+LJ+9xFl4h+y0p8+sAnKTpHMTHRxUgPj4q"
    "hFg+SkMsdkYJhQV5HuSP4gnHc6QHOk2ZgdqJSPfj/+yi8BAv6EjNI2J5CfSjy88Xt6PB5y"
    "+yuzljf7sKv8HoQj7pq9LHTOmb7EpYNgJ+uxz9DORP8Mfw+kLBSxifUtXjqt7oj54cEww4"
    "sTyysKCTmJ1xaYxaiusuZNwKWCO+Z2nXwPloyG1h/I4wOsaklNMUfSP3jficpjRcbjOXxX"
    "KkVi3zJEHxvI2yC8J6DWaKNPwm91orRcKVR/cToQhPPWFqK5AvxYigZ+vU58gu/xo1s2Pg"
    "PsWzJy5drWYKF0tLOTmpxLuLN0Y81NYGt+eDjxc9hfAY2vcLSB2rEGo4RRZFNqEOy2N+Fp"
    "F/+uUGuVC9SQncoqkb1dLOyqcc6ApE0icJ8FKw5h/N+/NsCfQEMk7Ut+wpQuyj0JzHRDRz"
    "ixgLB5xzLuXq7JW5mZy4tsXC6pUdTkwsLeS8xR4YU7IQU2sfjGYI2ITcYwRmRLwPgIBCzy"
    "FzgJ0fAZFeIsxZ6CfCDDAuFqij8zCtte01u5SKbRutvDZWTWzVFDuZbEYngj/3yKsDd5qq"
    "gw4RY04ac3Id5iR68LForQHX05Tb4fo2Bd2OMNkYGcbIeG1wt2BkbFJzHgpg57AgHrt6WK"
    "orE1WtVlRWovEfBsIOwLlLAkeGTPcA8mz66AvuA8iBkAJ8Dywwn4HFTPyWAdQ4yOoiSD1Z"
    "bUwCLlRcnbq8oV40ivOfy1WgIPzLxGZNbLYNqvJGYrNhDoO1XER5rEfooWAO62g7gXuZyn"
    "Tx+yilLcXovvk8+P2HlMZ0Nbz+Ka6e4Mb51fAsGyCH7F4HfUmIfEnRCcA3HiQnDMd+uooC"
    "OkmyPc3xoNVi2hjZ37eRDW2bBB7XWmDFsipN1UhePe8Xf8Wck/5plW25f1q8LctnT1qk0R"
    "xitwnYS8IN4f2K20P//fsKgItahYCrZ5kdwoW1HLNx/e7Bu/7dFz3MYMCk0BczUzedn3PQ"
    "5chNKkCbvXQrhjEcuYma8XtJbvi9G/xeCDRFpRpyVEfbPZm6/rxU7H2DLm64wnLEZn21eX"
    "2pdEdEKdG45ou9M2mqLqypbbtlVgg2zVFNEps11uY1plK+8jz+3+3wuiiwGBFk+YptDv4F"
    "LmZVnES7w1GJRPkKyy6mDJdkA9kVFibaTRC3Z42cSTp6s85av87qb2YZMrOb1d/NQgg9AX"
    "G4YBovt1wTZsW1e8WZnJmXBz9MzkwbEvMh52ju85fm5PtiqAjOB2FrOyue8nn5eXlvDjG8"
    "yiGGW5Waf4OYL7pFPU0+VqbGXllSVpjoL3gZVq6cmRW3ztQ1FjG5uq0CjJENxZpUGVK2i5"
    "HHAZN/7u5UbyFGd3e6VKx1NWsOLbQjd77k0IIJ83+HYX6TS/892AU+Rd8wCdhyW6mZ1lFE"
    "3wXbfNNnlOaISZVKo5YVOxyTNC/yObZNkm7b6UgTOldV8JM0BvwXeXyNN8J4I3bZG7FJsz"
    "HrmdDYjRrnRbHhGESVraTjpIrlOIHYRQ6I6UFEvxcaeRNClYG3PFgPoOcA4suZQqj2PsWX"
    "N7hma/EMT7+Xwzn/7fcPD0/6B4fHp++PTk7enx4sZU7+UZnwObv8ScqflOR//gjPbhmRxp"
    "xoGGaIVnYdEyJJ08FzLP1KB7b6JQe2+poDWxzyQGM4FAqzFUEj9altltmaD7JEVlWdWHSC"
    "pBOTdtuB6NUR43qGQI7OzOf8fN6+fdVBQFtjXrUM27VZV3pxsAZcU7ccdBPcnBhslQGbiB"
    "TrjNd0ILnEcM0Gr583WoceAj4lD1iYmRQJljL+ASxmZE9YlpQEU3kjBLZn4aUR0rxUF0Rg"
    "DmyhCedN1pc3ZwxWY7Aag7W1Bqv5KsEGj3wqkV4X3a6eV96EG+BV3C3fH8zb9ra0Tk6s2T"
    "wtmrRnhLgIekWYFszasaDaFKjLku1uo2fD4VVqBz27zLpUvn4+u7h5805NY1EJc6THGnt+"
    "wMPLY+vM4CyZufwmCywJeCNkc3QG2iy0TkBVLrI1rwNshsrAmoU1+tBePcdgmsj4BjWCwH"
    "iyu+TJ7qLy1RpXdtvA3YgvOxKZa0B19fnU3ZICVWFNby4pZMUQwPXXqysTJthcmGCF8WvF"
    "CZRDXBMgCIVJWWQA0WoRgWJIzQd423XJs+Rp3YuekzTmZFfGk5U/ceBDxhZELNu6HzPNEX"
    "bQ/72RGyUxs6Azx5pbJUudXUky4+6q4e5yMJMA6CKnZXgnyQzeNfDerSjpdqVLt86G5mzI"
    "Slc1hAr+C28eqGwGtW0KVLqiIfk5wuYY6T6G2EW0Mp+maQ5YHetvJ5HS3RfRHK78TRVdxE"
    "x7VKo5aOaOmbqA1bpjZmemWC0nSnJn4Fz0V4Lp0EMjIv5UQRbR20R7HZmHDTxOSxQKPE9J"
    "lMo9UFaSQc/npn5B9K0kA/aMYBuxfTAYq2txKFkAQtVYQfgiH9RBSFH3m/reWYQnA2I87m"
    "M+TXWtLb/AL9aCaE2nXWQMuciWRlPtzLo8pcn9qphi5zQ0cNOUxsBti4GryQvOqTQ+RRNE"
    "pfrcNLpf0oKJ8z8bldahZyJ+VSJ+JfNuDbG/5/IGYn10w1kDr7rJb+Z2kRcFUgeIYnumU2"
    "ijJ6WqLFzVMdHUXRKgZaqiUO9jN2BVHTFBYsJ71cJ7clHVQDiq3kF0N/JZYtEjR55G8S6+"
    "oi1BYm5oq3lDW40Iz/qzgp7+DwyeUDs="
)
