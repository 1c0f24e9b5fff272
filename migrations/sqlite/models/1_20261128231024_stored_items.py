from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "stored_items" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "item_id" VARCHAR(64) NOT NULL,
    "expires_at" TIMESTAMP NOT NULL,
    "item" JSON NOT NULL,
    "response_id" VARCHAR(64) NOT NULL REFERENCES "stored_responses" ("id") ON DELETE CASCADE,
    "user_id" INT NOT NULL REFERENCES "users" ("id") ON DELETE CASCADE
) /* One item of a stored response, found by (user, item id) when a request references it. */;
CREATE INDEX IF NOT EXISTS "idx_stored_item_user_id_24849e" ON "stored_items" ("user_id", "item_id");
-- Responses stored before this table existed: their output items become referenceable too.
INSERT INTO "stored_items" ("item_id", "expires_at", "item", "response_id", "user_id")
SELECT json_extract("output"."value", '$.id'), "r"."expires_at", "output"."value", "r"."id", "r"."user_id"
FROM "stored_responses" AS "r", json_each("r"."response", '$.output') AS "output"
WHERE json_type("r"."response", '$.output') = 'array'
  AND json_type("output"."value", '$.id') = 'text' AND length(json_extract("output"."value", '$.id')) <= 64;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "stored_items";"""


MODELS_STATE = (
    "eJztXW1T27gW/iuafLl0hjIQKHDbT4HSXe5S0oH03p3d23EUW0k0OJbXUgiZvfz3K8l2/G"
    "7sxE4cV19aIutI8iPpSM85R/LfnRkxkEmPejb+DS07H8HfHQvOEP8j9uQQdKBtB+kigcGR"
    "KbNCG2tPaCkT4YgyB+qMp4+hSRFPMhDVHWwzTCyRuwcmkKEFXILet1vA5Y5A3zKXAIIppF"
    "NAxoBNEaBIdxADmPIcNvsEhkPbQWP8MhwCbCCL4TFGFGAGiAV48QhZ9EjUbxCdNwBbk/qr"
    "mlv4rznSGJkgXozDK/zzB0/GloFeEPV/2k8alzeNCLjYEAXIdI0tbZl2a7EvMqN4i5GmE3"
    "M+s4LM9pJNibXKjS0mUifIQg5/R1E8c+YCbmtuml7P+D3gtjTI4jYxJGOgMZybotOEtNuA"
    "IK2jaff9gfZ4M9C0TqJDfYkQ8F6STiwxGHhTqXz7iWjC++7J2cXZ5en52SXPIpu5Srl4da"
    "sOgHEFJTz3g86rfA4ZdHNIjANQ5f8JWK+n0EnH1c8fQ5Y3OY6sj2MetH5CgG0w/rcB7gy+"
    "aCayJmzKf54cH+dA+e/ew/WvvYcDnuudqJLwCevO5HvvUdd9JvCOaoQy+Pr5W4jvabcAvK"
    "fdTHTFoyi4rsopA28gUQ3Au9UN0eF7XmT0nmcP3vM4vFz3a0LnlwE4LNM6iM/PCkB8fpYJ"
    "sXgUhZivjAIKDbIkyJ/5E4ZnKB3oqGQMasMTPfL/2EflwV/QEDsPr8tzoB/cfr15HPS+fh"
    "PVzSj9y5T49QY34klXpi5jqQfxmbAqBPzndvArED/BH/37GwkvoWziyBqDfIM/OqJNcM6I"
    "ZpGFBo3Q6PRTfdQivW5CyrQ5Xavf47IV9LzX5KZ0/J50tI9Jbk876Jk8rdXPUUnVy03uZT"
    "4dHa0UPQlJvM1R9kFZV0BTBPEbP6WyFAFXEt0vxEF4YnGqLUG+5S2Clp62ffZ4+XevmD0D"
    "99UfPX5qMJsduFgx5fCg4u/O3xgxd7fWe7zufb7pSIRHUH9aQMfQMqGGE6Q5SCeOQZOYX3"
    "niX357QCaUb5IDNy/qQZa0t/opAboEkXRJCLwIrMlHs+4sngItjozh1S1q8hD7zHfOI8KL"
    "eUSUug1OGJcSeQ7zzEyGn1ujbvbCBifKpxYy3mMLjByy4EPrCAymCOiEPGEEpoS/D4DAgZ"
    "ZBZgAbnwARViLMqGsnwhRQxieokWZhqrTsik1K2dwmVV8rVuOzmmwjk06dMe+fJ2SVgTsq"
    "1UKDiKKTik5WQSfRi415aWv0elRyO72+TUW3J52sSIYiGbsGdwsko86dc58DO4MZ/tjgYe"
    "5emchspbyyAo1/UOBWAK5NMjeEy/QQIEt3ljbvfQAZ4FqAHYIFZlOwmPLfwoHqO1lNBB1L"
    "ZBuROeNb3LTtck21pGyc/1zNAgnhD+WbVb7ZJmyVa/HNujEM2moSJbEeoJeMMZwm2wrc87"
    "ZMN78PIrslH92Dr73f30V2THf9+1/87KHeuL7rX8Ud5JA+pUGf4yJfSbQC8Nqd5IRi305X"
    "UEGHRba3czxutJpWJPvnJtlQ18ncYqkMLFtXRaXW0ldv28V3GHPSvSyyLHcvs5dl8ew1FW"
    "k0g9hcB+yVYE1473B56H74UABwnisTcPkstkKYsJRh1s/fPnirX33RyxTOqVD6fGSmDee3"
    "DHQJcRUK0GQrXdBhFHtmovX6eyWu+ns/+nvB0eSZSujRNNn26dTq41Kx9QxNvOYMSwir+d"
    "Xk+SXDHZHjkBTTfLZ1JirVhjm1bbNMgOC6MaphYTXHmjzHZMhXso//9di/z3IsegLxfsU6"
    "A/8DJqZFjET706MCifwZFp9MsV4SBcRnmBtoN0ZMn65lTEqTV/Os8fOs/GIWE1OrWfnVzI"
    "XQ4hC7E2bt6ZYoQs24Zs84FTOzufNDxcw0ITAfMoZmNts0Jt/mTUVw1nNL21v1lIzLT+p7"
    "dYhhJ4cYHmVo/i0fX52UWKzQ08O8YCw3wF/DPGPBaKy+hYDILq6ogN4BAREUZfO3R+AAWo"
    "DMmS3Dn9DsEBAH8CRs+SkyXko3MbIYoOIfGUklshjvDjsxuGut7L8WJeLv4VBk5cN4jBzE"
    "9edwKGog5jOiYLQEB0KtHLrFcTFeOiCiVe5QA3wAOssj0BNlghlcAo41gg5/zstHz3wUm6"
    "sGU95ivzls6saSIcug7pELLF5v+e6TbLSFFogyzvGeEXDIgje88M0eQXCZfC+uEH+UCii7"
    "wpOfJabsn93u6elF9/j0/PLD2cXFh8vj1cKdfJS3gl/d/iIW8cgO7O3IM79/El2QczgmEG"
    "lhWE71RzX2K2hfMZA1GQj2FrqipjU//0aWtT3q0FpMa/6yVlKFxcSUGiugxhTDVgx7Hxh2"
    "mnqoAFaXzTyECmwpwDHd2KSjP7E+yOSc4V56k3eumFEx7tkDDysqJa5NXDFBcTsiGCEd8h"
    "GaIH3DoazNRXw4TDv6U1Wx6pB8M1bOnEPyKqz8Jwwr3y8aqM5ur8cCbQc9YzKn2prMJEu+"
    "Db7guhnKDFFhwk9xA2Sz8LCMYuIVMPEy4IdlFPgbRRgpbq64+c6pYyXe75UfcH1PbtTz2B"
    "Kwa/XkxoMFUqh1SjxBNreee5m1cCxDEXI9hthEBvDlgSd/6PLgMXEkB17ddQegZQBii/4l"
    "TuonDjYvsGJCrXyb2/Jt7hfPVoxrzcg/b2aXYVlhmRY6f7qF7lDp5tyh0k25Q4VBNk9ZmD"
    "OVWSCw1g6zaeS14rslPOKZxDM7PDwk0opBu+3Y8ODWr3JcKSGnxnNyPG+fgrYQ0MYw0IZh"
    "W4tzOJjWFeAauXiwneAm1GCTXMPh4O008hqN7c4hrvF48mLRyLZDXrCMC+ZdStlHsJiSQ8"
    "4sHTKfiEsasT5173EU9FLe2YgZ0PlOOElZNy9OEVZFWBVhbSxhVR8KrPEWJqnSy6Lb1ivE"
    "6jAD7MTc8vPBvG1rS+P0RMX0NGvQXhFiImhlYZoxakdcqi5QVynbXUav+v27yAp6dRs3qX"
    "z/enXzcHAihzHPhBlKx1oefnO/51JmBMfF1H20cWDdg4blkU3IKWjj0BpzRzqVtTTfcyaw"
    "MSkFaxxWaOPy9taokLINpigCZclukyW7jZuvxpiymwZuLbZsT2VWgGrPxq22YkcXlwiyvA"
    "ng/vvdnXIT1OcmCDDelZ9AGsRTHASuMsnzDCCnmEcgG9KKLfM/i1m+tu8uiT4t++2lsIw6"
    "/BazZCUPZdiQ0gXh01Z8z7cMzgnBFtq/a/nIA6YaNGY45UMPucausJgyd5UwdxmYCgDSPK"
    "d5eIfFFN4l8N4vL+l2tUu7js8mOGSR8yPeBn/DIySFaVDThkDm8ZHo9xAp5eVuiNFn/9DE"
    "o1tcW9GKfS12fcDKsL+9RCp+laM6wvUmVpHrRzbFq4XX06QGH2jqitwSoO3qity9GWKlDE"
    "7hVZQxXl8Opn0LDQj/pwiyyHkMldeScbiGdW6FQoaVLoxSvrVOC3fQ23G835DzXogBfUqw"
    "jugR6I3kLUvi8lviyLYC90U+ykOjPO+z/Fy7hycVF++ay2RIb6Ulb2BDbIBnq9XmRIpMpA"
    "uCWToKMSmp4uQKhiMaaxoDopLKGNAUY0BKDHViS2PLm9LF9nndSIicElRMxJse/DT0lHe0"
    "iHc0Z9xV4Cd9K8bC34/WHGGx00W+nstqNnI695CD9WnahtZ7kruVhUEe5XneJwWat1Xk23"
    "vfZFp0jxgSUa7QYq5QMalKIOxlbyG6J4X23ic5e++T5N6b18iQlbLxzr7xLySiLvwreeFf"
    "CW9Y9RFUr/8HgXnC1A=="
)
