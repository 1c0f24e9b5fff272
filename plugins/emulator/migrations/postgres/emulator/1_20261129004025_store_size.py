from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "stored_responses" ADD "size_bytes" BIGINT NOT NULL DEFAULT 0;
        UPDATE "stored_responses" SET "size_bytes" = octet_length("messages"::text) + octet_length("response"::text);"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "stored_responses" DROP COLUMN "size_bytes";"""


MODELS_STATE = (
    "eJztWW1z2jgQ/isafyIzOSZHKMn1m5OSK9cLdIB7mTYdI+wFNLFl15JDuB7//VbyC7Yx5K"
    "VJrmT4QmC1u1o9u1rpUb4Z4EUulX5YH+AHOB0JnvGWfDM49QC/VI4fEoMGQX5UiSQdu9pE"
    "aE2LoarQumMhQ2pLHJtQVwCKHBB2yALJfK4sehyIUif+hFAS25MQROBzpT7xI+6Q8YLUIg"
    "HhYazKnAMynwFHgxC+RiAk/p1ACNwGgSp1NbXj2zg349Nnm+WKX/FeJINIagNxSCh6YTwT"
    "EDkDYrsMuCRCfcyZnKESuq4THRJ34BYjQe/hQsXjuzfom7ruFR+NlA8rm3I0SpzqJSQR1Y"
    "mpvBGPLgjmBWiIPnGuGwipmy1QkBpN45AzKq84jgB31CoEmTGFx+LgrQ6Xw1yt1GU3QEJ/"
    "jiFzofGMOMMpLelPAfVCRPXzFxTHSxDq52dDoad0deTMMb4ojeDamjBwnUJt4SAOabklF4"
    "GWnbFph8sLrasSOLZs3408vtIPFnLm88yAcamkU+C4XAlqBhlGqsh45LpJTaZ1F8e/Ukmw"
    "XwkcmNDIVaWqrOMAVjLDsrq9oTVoDy3LWCvj1CJXc4nIxgTgFsBQhQZgqkL46ZdG4/j4pH"
    "F03Dp90zw5eXN6dIq6Ot71oZNlHMwKrdiVxqzza6c7VAH5uM/iTagES21DJY2tdH5y6Cf5"
    "WUvB+YyGGxKwMillAZdXzkKK+bY0pIJVHlYd4iUS4dFbywU+lTP82WpuwfhPs3/+3uzXWs"
    "2DItDdZKShhxTkueZ5GzDcZRaV6yi/Q5gk86Aa6aJlCWwnMa2nX3YQ+i1QDzuX7cHQvPyo"
    "3HtCfHU1XuawrUYaWrooSWutUloyJ+SvzvA9UT/Jp163reH0hZyGesaV3vCToWKikfQt7s"
    "8t6uQxScWpqJBmlhyKxQT/Nuh1N2+jqrQyW5J/seuKtY622wlVSBRyme6Z2qX5d3k7nf/e"
    "OysnSTk4K+2t9Fx7YAsrme3b2D3amDrRK2HeeFLnLO4+rncB4fjEbvzcPGmeHrea2UGdSb"
    "adz/FZrK5Bk+vKozi9MhXRvcALKpvyD7DQIHcwIop3wApQPd8BV9T/SNzsGLjLtHpS6eo6"
    "FtJ5dm/MFxWuHVcMMt7s5uDcfNc2KtvD98Ba4j79nMtXCnGpO1bDrAp5TO3rOQ0dq1DRas"
    "Rv+CVJprs+5DW8soRyOtUAqZWouDdlYQtLzWfqHkw1o0j3Y6sm6WecyvzYyRgWuYZAkjHY"
    "FCt1jfaNRnq2GPfRaJ2ePp3bu1nagyjZFj7whGfo/8vInuUE3cy97BAUNI8gBkXLV0gMsA"
    "dRp8fdRVICO0IUkmrdyhN2iw6+5P7bkSTfiw0GIdwwPxLWIxnKJvtHtdkkiT/M5n5mpuKB"
    "EHh9EA9h43mbPSN/Akb+EPDzNnvwvwN8wf4Ba7yQVbW/7U29aPdyZP3ouTrMC76t719I9i"
    "8kPxR9v/OFZDN1L75mVzWRxOziQx+QSasVrMO84b/FrwTu5dO/byz/A22oMCU="
)
