from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        CREATE TABLE IF NOT EXISTS "auth_throttle" (
    "key" VARCHAR(128) NOT NULL PRIMARY KEY,
    "attempts" INT NOT NULL,
    "delay" REAL NOT NULL,
    "blocked_until" REAL NOT NULL,
    "updated_at" REAL NOT NULL
) /* Sign-in, registration and password-change attempts per account or client address. */;
CREATE INDEX IF NOT EXISTS "idx_auth_thrott_updated_b4f66b" ON "auth_throttle" ("updated_at");
        ALTER TABLE "users" ADD "approved" INT NOT NULL DEFAULT 1;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "users" DROP COLUMN "approved";
        DROP TABLE IF EXISTS "auth_throttle";"""


MODELS_STATE = (
    "eJztXW1z2rgW/iuafLnpTJpJSZpm208kTXdzNw3dQO/d2e2OEbYATYzllUUIs7f//R7JNv"
    "gdmwAxrr60QdaR5OdIR+dN8j8HE2YR2ztuu/RXMj94j/45cPCEwB+JJ0foALvuslwWCDyw"
    "VVXsUuOBzFUhHniCY1NA+RDbHoEii3gmp66gzJG122iEBZnhOWp/uUFAd4w6jj1HGI2xN0"
    "ZsiMSYII+YnAhEPajhig+o33c5GdKnfh9RiziCDinxEBWIOQiaJ8TxjmX/FjNhANQZbb+r"
    "qUP/nhJDsBGBZjh0+OdfUEwdizwRL/zpPhhAb1sxcKklG1Dlhpi7quzGEZ9URfkWA8Nk9n"
    "TiLCu7czFmzqI2dYQsHRGHcHhH2bzgUwm3M7XtgDMhB/yRLqv4Q4zQWGSIp7ZkmqT2B7As"
    "OzCMu07P6F73DOMgxdCQIgJ8UGQyR04GGKqn3n4kh/C69ebs3dnF6fnZBVRRw1yUvPvud7"
    "0ExidU8Nz1Dr6r51hgv4bCeAmq+j8F69UY82xcw/oJZGHISWRDHIugDQuW2C7n/y7AneAn"
    "wybOSIzh55uTkwIo/9O+v/qlfX8ItV7JLhksWH8l3wWPWv4ziXdcIlTBN6zfQHxPWyXgPW"
    "3loisfxcH1RU4VeJcUmwH4ZWVDfPqel5m95/mT9zwJL8h+Q8r8KgBHaRoH8flZCYjPz3Ih"
    "lo/iEMPOKKEwsEiD/BGeCDoh2UDHKRNQWwHpcfjHPgoPeEFLah4Bywug7918vu722p+/yO"
    "4mnve3rfBr967lk5YqnSdKD5MrYdEI+u9N7xckf6I/OnfXCl7miRFXPS7r9f44kGPCU8EM"
    "h80MbEVmZ1gaohbjuo09YUy9tfiepN0A54Mh14Xxe8LoEJNCTnPyyB7W4nOcUnO5zlyG5c"
    "iNSuZJhGK1jbIPwnoDZoo0/IYPmVaKhCuN7ifGCR05YGorkG9gRNgxs9TnwC7/GjSzZ+B+"
    "D2dPWLpczRzPFpZydFLBu8MbE+Fra+3uVfvj9YFCeIDNhxnmlpELNR4RgxOTcctLY34ZkH"
    "/69Z7YWL1JAdzQ1L1qaW/lUwp0BSJrsQh4MVjTjyatSbIEO4CMFfQtewodR1Mx7o05E0JB"
    "knYsRZ8fFbqXoKYholVX+pi6sJZeU+cIcTKisrJ8gLBjIRd73gy4+NocY2dEEBaCTFzhIZ"
    "dwhE2TTR2BGEemTQn8BZIThGuGa2njPXxzvjldsEWIhQZzRB4JnyNo5kESQas0kAgf0IxT"
    "aNFBMyrGiDmyAzahJoLn0JFsUnXk9/rNOez3LTBiBgw4ehyi2O+/OkY92Gw9BD2irw59km"
    "4w5ljeEfKYcoth6Gc8gS3ZlK4x5SgDDsJAUPe3W+gYhvvbLRVEDe+Lvw1ByXNdYw++t7GC"
    "kdZI++xN66KMDdy6yDeC5bNij1k4NSvs9lGS3W33JzXe66PaE8gunDF9P9kM5+C5oEiAOZ"
    "Qk+wZnAVYfO18vb6/Rl/vrq5vuTecurvmqh7IICqi/099ft28T6A5sZko7AgQotSuhnKLU"
    "aK9Ee+pauf6cAqjjZNvDeZeieQtIpyyEfIV2m1rax1A16IIO4qOS0tRSdQq1tYWyYXh+9d"
    "JhQQ9UKmKBUoUGnM3AAAAVBbQOk7EHStCYwfsgjDioG2yCqPUBdBB7jihoViqaB0qKJ8CM"
    "srLigBtte8OBv3zlJtOq3n/dZlO+53zFxvT4EPjzQJwqcMepGhi20k5/7fTfhNOfPLkUWl"
    "uD63HK3XC9JppCnZisXcHllrB2Be+1K3ibmnMHgJ3gnKy55cNCXZmpapVy5yQa//KQ3wG6"
    "stnUkoltR4g4Jp+7wH2EBQIpII58D+FsDL+l9y5MhbMJ5o6sNmBTASpulrq8pV4yFOc/F6"
    "tAQfiXzqDTGXR1UJW3kkHnZ5oai0WUxrpHnnLmcBZtI3AvUpmuf+/FtKUQ3cPP7d9fxTSm"
    "287dz2H1CDeubjuXyTRG7D1kQV+QyLigaATgW09lZB4No6klBXSUREcVklEFbWTnQ91cIz"
    "sIFWdaYPmyKk61lrxanb3QiLBoGmkywVlxpdVgLwi3hPcLbg+tt29LAA61cgFXzxI7hI0r"
    "OWbD+s2Dd/O7L3ka46kn8sOkqxx0KXKdsFlnL92SYR4N3ETr8XtBrvm9H/yeAZpQqYIcza"
    "Jtnkzd/Okh6jxim665wlLEen3VeX2pQymEc5bhms/3zsSpmrCmdu2WWSK47kmiKLFeY3Ve"
    "YyoxP83jf3c7d3mBxYAgyVdqCvQ/ZFOvjJNofzgqkSheYcnFlOCSbCC5wvzjEEMizPFazq"
    "Qser3Oar/Oqm9mCTK9m1XfzXwIHYDYXzBrL7dUE3rF1XvF6ZyZ5wc/dM5MHY5P5p8OqnRy"
    "0oWhEjxp+63trXhKn55My3t91PRFjpp2VWr+PfFc6JYcZORjJWocFSVl+Yn+wEu/cunMrL"
    "B1T102FpKrO8XQgJgY1qTKkArOfXryn35f9eZj1O9npWJtqll9aKEeufMFhxZ0mP8HDPPr"
    "XPofwS5wOXmkbOottpWKaR159E2wzbd9RmlCPKlSZahl+Q7HKM2zfI51k6S7djryiM5VFv"
    "wojQb/WR5f7Y3Q3oh99kZs02xMeiYy7MYM50W+4TgNKhtRx0kZy3GIqU0sFNKHd/cc+Ube"
    "kHFl4C0O1qsLd5grZwrjmbdeP7/BDVuLl3T0oxzO+anVOj191zo5Pb94e/bu3duLk4XMST"
    "8qEj6XNz9L+ROT/KuP8OyXEanNiTXDDMHKrmJCRGkaeI6lVerAVqvgwFYr48CWwGJa5Xqs"
    "JcFa6lPdLLMNH2QJrKoqsegISSMm7a4D0csjxtUMgRSdns/p+bx7+6qBgNbGvKoZthuzrr"
    "LFwQZwjd1y0ExwU2KwVgZsJFKcZbzGA8kFhmsyeL3aaO04BLmcPVEwMzkBlnriPZqN2RGS"
    "V8xOR/JGCGqO/UsjpHmpLoigApmgCadN1uc3pw1WbbBqg7W2Bqv+dtQWj3wqkV4V3aaeV9"
    "6GG+BF3C0/Hsy79rbUTk5s2DzNm7SXjNkEO3mY5szaAVBtC9RFyW630ctO5za2g17eJF0q"
    "Xz9fXt8fvlHTeHmJcxpr6rhT4V8eW2UGJ8n05TdJYNlUrIVsik5Dm/pawdT/bIkxqQJsgk"
    "rDmoQ1+BxyNcdgnEj7BjMEgfZkN8mT3UTlqzau7LqBuxVfdiAyN4Dq8iP3+yUFysIa31xi"
    "yMIQ0N3X21sdJthemGCJ8UvFCZRDPCNA4AuTosgA4eUiAvmQbtgz/6O45bd2ybPkadWLnq"
    "M0+mRXwpOVPnEQfgKy8ifnU4QN9H9v5UZJ6hnYmtCMWyULnV1RMu3uquDusqgnAciKnBbh"
    "HSXTeFfAG7Zozh4r4x0l2yHeoSzfW7j3Kyi9W2HerKO4KZO91M0Yvj31zIseSluddZsCpW"
    "7EiH79cX2Msr492US0El8CWh+wKsb2XiKVdT3H+nClLwZpImaZJ9PWB01f6VMVsEpX+uzN"
    "FKvks4ruDEJAfwWYdhzSY/BPGWQJ70baa8g8XMPBt0Ahx9EXRanY4WdEGbQ6FfgL4a8lGT"
    "LHjJrEO0btgbqFiLMZYlyNFfkv8l6dO4W6j+rzcgGeHoLx2PN0VvBGW36GG7IGwbFGeyQ9"
    "YhNTGk2VExnTlDrVrmRGo7WmgRun1AZuXQzcjDTslErjcjIkXKrP6yZTFLSg0ypWJgFkoa"
    "cDrGUCrAXzbgOh1lVpGqE+uuUkjRfd5Ldzmcuz4tZtwqk5zlJogyeFqixe1tHB630SoEWq"
    "Iqj3oRuwrI4YIdHR1HLRVLmoKiAcVG8gulv5CjT0KIiToXjn34gXIdEX4lW8EK9ChGfzSV"
    "jf/w/ufeo2"
)
