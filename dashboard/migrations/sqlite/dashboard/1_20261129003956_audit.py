from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "dashboard_audit" (
    "id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    "at" TIMESTAMP NOT NULL,
    "actor" VARCHAR(150) NOT NULL,
    "action" VARCHAR(64) NOT NULL,
    "subject" VARCHAR(150) NOT NULL,
    "target" VARCHAR(200) NOT NULL,
    "address" VARCHAR(64) NOT NULL,
    "details" VARCHAR(300) NOT NULL
) /* One recorded account action (``proxy.audit``): time, actor, address, never a secret. */;
CREATE INDEX IF NOT EXISTS "idx_dashboard_a_at_cbec5c" ON "dashboard_audit" ("at");
CREATE INDEX IF NOT EXISTS "idx_dashboard_a_action_c2fc96" ON "dashboard_audit" ("action");
CREATE INDEX IF NOT EXISTS "idx_dashboard_a_subject_0b3d94" ON "dashboard_audit" ("subject");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP TABLE IF EXISTS "dashboard_audit";"""


MODELS_STATE = (
    "eJztWm1z2jgQ/isavlw6kzIpkIRrPtGEXplLQxrI3UwvN0bYwtZhS64klzAd/vutZBvbmJ"
    "fQEppk+il4tbuSn12t95HyreJg6Q05Fk61FTlUtZkS08pb9K3CcEDgx3KFQ1TBYVgY1jKF"
    "h37RyMLayOgPpRLYVjA8wr4kIHKItAUNFeVMG3UZQYLYXDjEQdi2ecQU/NXD6GAwCAW/n1"
    "aNv8Hg1VukaABOYJwL+OM4gkh5iBj5SgTCSBJbEFXVMzvchqkpcx9rkjt2xwYDGQ3/IzaY"
    "ISqR8giKJBEaRfOQTGFzZoMUfEgODrTKbxLxCUMelTDJVBtzWCNlDrknzh3zOR9H4RliHI"
    "24INRlaEymxl779bmLeKR8+pVIcOgQn6jszcz7R4x+iYiluEvAQgAK//wL4ngGmT6GY2tE"
    "ie8Ugk9NWI3cUtPQyN5Rt8PUe6Or0R1aNvejgGX64VR5nM0NKDMJ4BJGBIbFgUyJSCcAi3"
    "w/SZk0J+LFZioJDpnAISMc+TqNtHW8gExWsayrbt/qtfuWVSmlWGqRS4hEBHHR6QlLlQYA"
    "Vy/h9e+1Wr1+WjuqnzSPG6enx82jJuia9ZaHTmfxYjK0YlcGs84fnau+XhCHPRDvES2YGR"
    "uscGxlgpGhj1UZ/QtAUCflcvxjiwX8ncSkmv5YjEaK/bpwpIKfE4810PY7H9u9fuvjtXYf"
    "SPnFNzC1+m09UjPS6YL04ORVMRZzJ+jvTv8D0o/oc/eqbdDkUrnCzJjp9T9X9JpwpLjF+M"
    "SC0pADKRWnIlDNRVUXk3Jgzz0sVgQ1NViIKwC0m0hm9XgfWyvA95ZPmKs8eHxzfLQmtn+1"
    "bs4/tG4OQGshYFfJUC0emy0irBe1HcSJxWNhvNfqVYD4pPEAhE8aKwHWQ0V8ky/dNgDnTP"
    "aGcKXyfFNYYQFf620Qziz2Vyb2hHDt6CEIg9ZKhM3YQpGIm7mtqkRm8uIw3n2VcIjC1N8K"
    "4JzJiwO4/qAkrq9J4nqcxLpZH41zDaMWDLE9nmi+VRrhNb5KtzwU1IJFCWbYNcjpl4zb1Y"
    "wQKq/vCa6UWepyzphTOdzAGqFt8iyV197IGXvAh15TdgiczqVa2bAszBwUYiknQPNe2x5m"
    "LhAwpUgQKolCTd0S4scFsn1KNAWM93aZMO58Bs0We7AFgKUNp0gzySkCN2NtBF4p5BAGkn"
    "iGJoKCR4YmVHmGE2LFA2ojGIeJtEszUTzrHQP2muGeoggktor60PMDORQE3TJ6r1krZ46c"
    "U0gM83gBMAM7Za5Ss1bKUO/TJUwMy/10SRUxy7uOu2GQ/Ci3BBa7TW1I1HdTF34uuSy2D7"
    "XmQ9qHWnN1+6DHNjHJODXLgK+k8nmTzYR+V8X46LEwjwl97U3jtNGsnzTmPH4uWUffU6qe"
    "/7j5eEn6vvc5XoHn3GIBzJE2eW5wrsHqonv77rKNrm/a551ep3tVJOBmUItAACVFy27arc"
    "sFdIc+t8fEsaCAUn8rlEuWv9DeiHYU6oMhx1p23LQG6qLZ4+H8RM6Zvhfpp9OuXaS/etCG"
    "xMAsa9lKapvatuywX8YW8mG9WwtJ6K2IA90VGgo+kURArwLth835mBLkcXgxhJGAvoMHiD"
    "pn0Iz4U0ShxfJgTt2t6DNz4pS7th373vER+uouZ+kB+vNvcnbFLld3OLYUI4jPmGx17le0"
    "eoHnq7un9bYgK78W6y8nipb7uaTYL/Twgk4Xykiy157JrUVSFtZeWpD7kIK374h60fLX1d"
    "RTvprS19HWsg/WSpaYs9gfSXz8i98f4omljq8I8JImO77X/5NMDcid5ARoCagBBxopq7eJ"
    "m2cG7izNnlSabVWBJ/PeKZ9U8O7xvzSY73ird966aFdm+2yhZ/8D8nlU1Q=="
)
