from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "stored_responses" (
    "id" VARCHAR(64) NOT NULL PRIMARY KEY,
    "created_at" TIMESTAMP NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "previous_response_id" VARCHAR(64),
    "messages" JSON NOT NULL,
    "response" JSON NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
) /* A Responses API response kept because the client sent ``store: true``. */;
CREATE INDEX IF NOT EXISTS "idx_stored_resp_expires_6ea41d" ON "stored_responses" ("expires_at");
CREATE TABLE IF NOT EXISTS "stored_items" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "item_id" VARCHAR(64) NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "item" JSON NOT NULL,
    "response_id" VARCHAR(64) NOT NULL REFERENCES "stored_responses" ("id") ON DELETE CASCADE,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
) /* One item of a stored response, found by (user, item id) when a request references it. */;
CREATE INDEX IF NOT EXISTS "idx_stored_item_user_id_24849e" ON "stored_items" ("user_id", "item_id");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztWW1z2jgQ/isafyIzOaZHKKT95qTkyvUCHeBepk3HCFuAJrbsWnII0+O/3678bl7y0q"
    "RXMnwhYbW7Wj272tWTfDOYF7lU+WF9CB/M6SrmGW/JN0NQj8EvG9ePiUGDoLiKIkUnrjaR"
    "WtPioCq17kSqkNoK1qbUlQxEDpN2yAPFfYEWfcEIqhN/SiiJ7UnIZOALVJ/6kXDIZElqkW"
    "ThcazKnSOymDMBBiH7GjGp4OeUhUzYTIJKHbd2fBv25mL2bLtciSvRj1QQKW0gjwkFL1xk"
    "AqLmjNguZ0IRiR8LruagBK7rRIckHHYLkYD3cInx+O4N+KaueyXGY/RhZVuOx4lTfYQkoj"
    "ox0Rvx6JJAXhgNwSfsdcNC6mYHlKRG0zjUnKorAStMOHgKSeYc8VgevdXhCrbAk7r8hpHQ"
    "X0DIQmo8I8FhS0v5MwZ6IaD6+QuI4yNI/PrZQPRQV0fOHeMLagTX1pQz1ynVFizCkpZbah"
    "lo2RmfdYW60LqYwIll+27kiVw/WKq5LzIDLhRKZ0zAcRXDHVQYYZGJyHWTmkzrLo4/V0mw"
    "zwUOm9LIxVJF6ziAXGZYVq8/soadkWUZa2WcWhRqLhHZkAC4AhCq1ADMMIRf3jQaJyftxq"
    "uT1unrZrv9+vTVKejqeNeX2qs4mByt2JXGrPtbtzfCgHy4Z/ElRMFK21BFYyudnwL6SX7W"
    "UnA+p+GWBOQmlSzA8apZSDHflYZUkOch7xA/IhEevbVcJmZqDl9bzR0Y/2UOzt+bg1qreV"
    "QGupesNPQSQl5onrcBh1tmUbWO8juASXGPbUa6bFkB20lM6+kvewj9DqhH3cvOcGRefkT3"
    "npRfXY2XOergSkNLlxVprVVJS+aE/N0dvSf4lXzq9zoaTl+qWah3zPVGnwyMiUbKt4S/sK"
    "hTxCQVp6JSmnkyFMsJ/n3Y722/RpvSym1F/oWuK9c62n4nFJEo5TK9M7VL85/qdTr/o39W"
    "TRI6OKvcrXSuPbCFVcwObewebQwn+kaYt07qgsXd43ofEI4nduPXZrt5etJqZoM6k+yaz/"
    "EsxmfQ9HrjKE6fTGV0L+CBymfiA1tqkLsQEYU34AZQPd9hrqz/mbjZM3BXafWk0vw5FtJF"
    "9m4sFhWcHU7MVHzZzeG5+a5jbGwP3wNrhfsMCi5fKMSV7rgZZizkCbWvFzR0rFJF44rf8C"
    "uSTHd9yWt4VQkVdKYBwpNg3NuysIOlFjN1D6aaUaT7sVWTDDJOZX7sZgyLXLNAkQmzKVTq"
    "Gu0bj/VuMe7j8To9fTq3d7O0B1GyHXzgCWfo/8vInmWCbudedsgQmkcQg7LlCyQG0IOo0x"
    "fuMimBPSEKSbXu5An7RQd/5P3bkyTfiw0GIbvhfiStRzKUbfaParNJEn+ay/3MTMVjUsLz"
    "QT6EjRdtDoz8CRj5Q8Av2hzA/w7wDxz9wNF/AgJ5J0ffTh7Lf0/d0MLPErOLDwMGXA5PsA"
    "7zlv9XvhC4V0/PsFf/ARXWur4="
)
