from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "journal_entries" (
    "id" SERIAL NOT NULL PRIMARY KEY,
    "text" TEXT NOT NULL,
    "reflection" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ NOT NULL,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztlmFvmzAQhv9KxKdW2iIti9pq31hC12wNmRq2VZ0my4EL9WJsaoxSVOW/zzY4QIIyZZ"
    "omRdqnwHvvmbvnDM6L85PngmHa/1j+ekyKwnnXe3EYTkBddBte9Rycpo2wViRe0GYKAuUl"
    "kBn3IpMCh1KFl5hmoKQIslCQVBLOlMpySrXIQ2UkLK6lnJGnHJDkMchHECrw/YeSCYvgWS"
    "1e3aYrtCRAo1btJNLPNjqSRWq0CZPXxqiftkAhp3nCanNayEfOtm7CpFZjYCCwBL28FLku"
    "X1dXNWw7KiutLWWJjZwIljinstHuAtWag5A/C9DcCxByjgAUcqbhqlIz032sS3g9eDO8HF"
    "69vRheKYspc6tcbspH12DKRIPHD5yNiWOJS4dhXEOV8Cz3sQZK7eZq/TtkVcm7ZC3HQ2it"
    "ULOt99M/gHuAXODdB3rlJMueqBb8r+7d6Ma9O5u69+cmUlSR25n/wdq5ei3K18Yf3c7eG/"
    "g1bAFLCqGp8gjk7az/4P8AfChAw0G4Y6+PVUSSBLrhtzN34EdVat9enOAo1PbC0YzRovqw"
    "HRrNZOrNA3f6uTWfsRt4OjJozcaqZxfn7fFsF+l9mwQ3PX3be5j5nsHLMxkL88TaFzw4ui"
    "acS44YXyMcNb7BVrXUWlPPMxDoqFOjkfH7o+MUhvsXTg99Hi9XnYeHxrVP95oLIDH7BIWB"
    "PFEVYRZCB9SER0Cz/pdqmRODu7G7x6r1thR4vf0D09xUqnfVMUjT/cidj9yx5xjCCxyu1l"
    "hEqIVaR/iA7yhb734oGSS7CmY4NnB0F5vNL/kiQBw="
)
