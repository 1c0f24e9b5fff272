"""UserSettings.preferred_ollama_key leaves the core's state; nothing is dropped."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # The preferred Ollama key moves to the ollama_keys plugin's own table (ollama_key_preferences),
    # whose first migration copies it. The column leaves the core's state only: it stays in the
    # table, unread, so nothing is lost (and SQLite cannot drop a column a foreign key uses).
    return """
        SELECT 1;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztnVtz2zYWgP8KRi+bzrgeR3Zsb/okO07rrWNlbGXbaafDwCQkYUwBLABG1nT93xcASf"
    "FOk7qZYvCS2CAOCH4AzsE5uPif3ow6yOWHAw//iha99+CfHoEzJH/IPDkAPeh5cbpKEPDB"
    "1Vmhh61HtNCJ8IELBm0h08fQ5UgmOYjbDHsCU6JyD8AECjSHCzD4fA2k3CEYEncBIJhCPg"
    "V0DMQUAY5shgTAXObwxE/g61ePoTF++voVYAcRgccYcYAFoATI4hEi/FC936G2rAAmk+2/"
    "yif4bx9Zgk6QLIbJF/75l0zGxEFPiEe/eo+WlHedFFzsqAJ0uiUWnk67JuKjzqi+4sGyqe"
    "vPSJzZW4gpJcvcmAiVOkEEMfmNqnjBfIWb+K4btkzUAkFN4yxBFRMyDhpD31WNpqSDCsRp"
    "Pcu6HY6s+6uRZfVyDRpJJMCHSTYlqjPIqnL99RNVhR/7b0/OTs6PT0/OZRZdzWXK2XPw6h"
    "hMIKjx3I56z/o5FDDIoRnHUPX/OayXU8iKuUb5M2RllbNkI45VaKOEmG3c/3cBdwafLBeR"
    "iZjKX98eHVWg/O/g7vKXwd0bmesH9UoqB2wwkm/DR/3gmeKd1ghN+Eb5O8j3uF8D73G/lK"
    "56lIYbqJwmeGOJzQB+Xd2Q7r6ndXrvaXnnPc3ilbrfUjq/CeCkTOcQn57UQHx6UopYPUoj"
    "lpZRobCgyEP+IJ8IPEPFoNOSGdROKHoY/bCPykN+oKNmHmGTV6AfXX+6uh8NPn1Wr5tx/r"
    "er+Q1GV+pJX6cuMqlvsiNhWQj47Xr0C1C/gj+Gt1caL+ViwvQb43yjP3qqTtAX1CJ0bkEn"
    "0Tuj1IhaqtVdyIXl85XaPSu7gZYPq9yWht+Tho6YVLY0Q9/o40rtnJY0rdzmVpbDkVmN3J"
    "OExMs+yj4o6w24KcrxGz8WeikKV57uR8oQnhDpamvI17JGkNhF0+fQL/8SFrNncJ+j3hOl"
    "xqOZwfnSU052Kvnt8ouRCGZrg/vLwYernib8AO3HOWSOVYoaTpDFkE2Zw/PML0Lxj7/eIR"
    "fqL6nALYu60yXtrX7KQdcQaZ8m4KWw5h/N+rNsCiSSjBO+W70pJDaUNGawJKoUPzyoCixR"
    "na1RbEl1nH9xELwAXLrUd1Tg5wAgYrOFJ5sMQAGkwhQHYI7FFMyn8ncVBopCRS6CjKhsD9"
    "QXAIuisNKW3lIQUfpzqTA0wr9MhMlEmNoQAdlKhCmIxFrLQZRnPUJPJX24SLYT3Ktml1e/"
    "j1ITy4jum0+D339ITS5vhrc/R9kTrXF5M7zIhvkgfyxCXxHoW0p0AvjWQ32U42i2UVNBJ0"
    "V2N8k+arWaNpGn7zvyBG2b+kQUOqvluiottZK+enl2/4qR8/55HbPcPy83y+rZcyFpNIPY"
    "XQX2UnBLvF/RPPTfvasBXOYqBa6fZSyECwusQ8VSUJi/e3g3b33R0xT6XCl92TOLunO1xS"
    "gQNwHNNgc04wbjOIyordbeS3HT3vvR3nNJU2ZqoEeLZLunUze/uo7JN+jiFUdYTtiMrzaP"
    "L71oixijBasY5dGZtFQXxtSuwzIxwVVX2pPCZoy1eYzphat8G//nfnhbtgYbCmTbFdsC/A"
    "+4mNcJEu1PiyoS1SMsO5gyraQKyI6wYLlwjIQ9XSmYVCRvxlnrx1lzY5YRM9asuTULEBKJ"
    "OBgwKw+3XBFmxLV7xJntResvfpjtRW3YXgSFQDNPrLuzyJNVRXA2CErbW/WU312U1/dmK9"
    "arbMXKdrGCDVkFvbB8W5YfZraSI6DO5qwxxC5yQCQPQvkDffAOjCnTW6QcyKcPVH41gMQB"
    "1FPNS1nh8b71C9zwIb4LPPledln9u98/Pj7rHx2fnr87OTt7d360NGX5R1U27eL6Z2XWUn"
    "OSl/di7dei/y7bp1PzxXBkN4niJ2U6uCGpX2vnXb9i512/YOedgMIvMMylyiwWWGlW3jKz"
    "vOkdSTPEi0N45UGFhEgnOu2uIwrxXvFm/mVOzvTnfH/evdveQaCt8dpbxnZjTnuxOtgA19"
    "RxlW7CzanBpnGRrTqwCZe/yHlNRwQqHNdsFOJlp3VIEPAYfcLSzWRINikX78F8Sg+kZ8mo"
    "P1FHe7A9DU7/KPdSn/TBAthyJpx3WdcvzjisxmE1DmtrHVZzSc4W9+5qld6Ublc3nm8jDP"
    "Aq4ZbvD/Ouoy2t0xMbdk/LOu0FpS6CpIxpSa99kFLbgrpM2a0ZvRgOb1IW9OI6G1L58uni"
    "6u7NW92NZSYsUDFrTDxfyOnnIyJNenBWzJxizIKlvliJbE7OoM2idXymF5WtWROwGSmDNY"
    "s1vPe1WWAwLWRigwWKwESyuxTJ7uLkqzWh7LbB3UosO1SZG6Aa3+a9X1qgLta0cUmRlVUA"
    "t19ubswywfaWCWLGr7VOoAPiBQsEgTKpWhlArN6KQDlScx98u27rUm3a9MaupIy58zkTyc"
    "rf+exBzudUDtumd2vnBDsY/97K1SCYW9CZ4YLrQSqDXUkxE+5qEO5yMFcAilZOq3gnxQzv"
    "BryliWb0W2PeSbEd8o50+d7i3q9F6d0q825dnZZz2WsdcUr8ZafVT+zU9jrb1gVqHW3KXF"
    "K8OqYm7uNekio8N2ROzrX05NxedjEuKJNGSdq7oqWeWrDQzHfV+bDDe13WtSyq47SkYfFk"
    "PrQhYndhcZ2lhjiX5a5Ka3ka8fBD9NN9UGKXgDUK8yXZCiHfV8F2SNCIyn/qqDvE7hPldc"
    "Q4rBATXVIoiY0mKVXHSK1kA728e/ozYj8qMWBPKbYRPwSDB46IAIzOAWW6riD4kPfh3+Jk"
    "3/SfVgh5ciDr4y7yG6k3WvIakdsWrCd2OojLkYts5Wc23vuZlzS7E2tuAnVWjAmkJU1MoC"
    "0xgYKd60tTUjMmkLfnLy35R4Z6ywv+r6r9tnPfzFproAPEsD0tsvThk0obD+M8ZiG0KzZU"
    "znsi96Ku8UyImJW5eitzalA1IBxm7yDdrfxpKPlGgUjBjKT8UtSEyFrXoraNdgXcjd2Lut"
    "bMYF1j9vx/oiMDog=="
)
