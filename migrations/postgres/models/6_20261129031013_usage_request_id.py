from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "usage_records" ADD "request_id" VARCHAR(32) UNIQUE;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "uid_usage_recor_request_7353ab";
        ALTER TABLE "usage_records" DROP COLUMN "request_id";"""


MODELS_STATE = (
    "eJztnG1z2jgQgP+Khi+Xm2mZ1Hm93CdI0yvXBDqB3t305sYRtgBNjORKcgjTy38/Sdj43b"
    "EpJMD5SwOSVpIfyavd1dLvjSm1kcObLRd/QvPGBfjeIHCK5IdEzRvQgK4blqsCAYeObgpd"
    "bN6juS6EQy4YtIQsH0GHI1lkI24x7ApMiWrdAmMo0AzOQetzB0i5JugRZw4gmEA+AXQExA"
    "QBjiyGBMBctnDFr+DuzmVohB/v7gC2ERF4hBEHWABKgOweIcKbanybWnICmIw3P5RH8DcP"
    "mYKOkeyGyQH//kcWY2KjR8SDr+69KeUdOwYX26oDXW6KuavLOkR80A3VUwxNizrelISN3b"
    "mYULJsjYlQpWNEEJPPqLoXzFO4iec4/soEK7CYadhkMcWIjI1G0HPUoinpxQTCsoZpdnsD"
    "s381MM1GakEDiQh4v8iiRG0GOVWun36spvDWeHd8dnx+dHp8LpvoaS5Lzp4WQ4dgFoIaT3"
    "fQeNL1UMBFC804hKr/prBeTiDL5hq0T5CVU06SDTgWoQ0KQrbh/n8JuFP4aDqIjMVEfn13"
    "eFiA8o/W7eXH1u2BbPWzGpLKF3bxJnf9KmNRp3jHNUIVvkH7PeR7ZJTAe2Tk0lVVcbgLlV"
    "MFbyixHsCvqxvi2/e0zO49zd+8p0m8UvebSudXARyV2TvEp8clEJ8e5yJWVXHE8mRUKEwo"
    "0pDfyxqBpygbdFwygdr2RZvBh11UHvIBbWV5+EtegH7QubnqD1o3n9VwU86/OZpfa3Clag"
    "xdOk+UHiTfhGUn4M/O4CNQX8HXXvdK46VcjJkeMWw3+NpQc4KeoCahMxPakd0ZlAbUYqvu"
    "QC5Mj6+07knZNay8P+VtWfgdWeiASeFKM/RA71da57hkvcrbvMrydWRmJfckIvG8j7ILyn"
    "oNbopy/Eb3mV6KwpWm+4EyhMdEutoackfOCBIry3z2/fIvfjc7Bvcp2D1Bafg2MzhbesrR"
    "TSWfXT4xEgtrrdW/bL2/amjCQ2jdzyCzzVzUcIxMhizKbJ5m3vbFP3y6RQ7UT1KAW3Z1q3"
    "vaWf2Ugq4hUoNG4MWwpqumxjRZAokkY/tjq5EyiGXElRJA84NLqUV8PsLUIwi4jD5iZAOG"
    "5BJwcQFmE/oGiAmj3ngiv2BrogJCABIbeK7sEcHpG/1tNoFCRXssqVnTIaU1973mGFIbj/"
    "8vYaRfDOPo6Mw4PDo9Pzk+Ozs5P1wq6nRVkcZud35TSjt24j4fbNotb+cl12efrKE65LXB"
    "kJdW9lXpOivj3bJDOU7XKBWwNQoCtkY6YBucPVUYR2VqzJUwSyNltArqQG5DuF8vxrgR2t"
    "IxEl6GNZ9r94QCtXu6NGyiPLNVRJtSB0GSxzRHRwyl1KagLkte1mhp93rXMXul3UlYi90v"
    "N+2r24N3ehvLRligbNaYuJ6Qxv49IlV2cFLs5fbx4Y5sYuqJlcim5Gq0SbS2x3RsxJxWAZ"
    "uQqrEmsfqxg8xQa77JEJdai8GwRXeS63cx/MykagHtuNBKW3fbjOA1b976kqC+JNiFS4IM"
    "VbAGqmFK5G5pgbJY4/ovRlZOAXS/XF8X3b9s9lJBx8gzbhMWG73oGgGxctcH+TzrhM/tSv"
    "hUa1o16TMqUyd1JQyodFKXCzmfUfnaVk2eSwnuYUjcODkpE986OcmPb6m6RIyAm9CeYlIx"
    "IhMVq2MyFWIyNuYKQNZlahHvqFjNuwJveUQz+lCZd1TsBXkHunxnce/WPXWdlXuxclZuyp"
    "0skyIV/enW6tlRpT2ibdsCuZlR8WjHK6WR7SQtLqQ/bZtSIWUFjEvBQlNP1lHW7Ou+OrKr"
    "Pacl33xXtkNrInbrd7e31BDnst9VadnSJRlS2ar5PvjUX/S4T8AqxWGibIWQ4xWw7RE0oP"
    "KfMuoOsX6kv/2Ilz2tELRaUsgJXkUpFQexzOgCPZ8L+xmxt0oMWBOKLcSboDXkiAjA6AxQ"
    "pucKFg9y4f8amj0g9hMHPk8O5HyceToTdq09/0BobQsuI/Y6ysaRgyzlCFTO10tL1hllJT"
    "PK7BWdtrhk7bRti9OWkW28PEpKOm3p8/y5+8LgoN7wbeGrar/N/KDohy6pWohha5J10vs1"
    "hWc8DNvUN1X7coZKuydwL8oenhGR+uqk3NWJeqkqEPab7yHdjfz3L3JEgUiGRfJ7v9fNCS"
    "GHIklTBFsC/AsczHcx+6cAroIRszcCpgc3rb+SuC+ve+2kIaE6aGdlB71kxsXTf1faeSA="
)
