"""Models moved into plugins leave the core's state; nothing is dropped."""

from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    # stored_responses, stored_items (emulator), dashboard_sessions and auth_throttle (dashboard)
    # now belong to those plugins, whose first migrations adopt them (CREATE TABLE IF NOT EXISTS).
    # They leave the core's state only: their tables and rows stay.
    return """
        SELECT 1;"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        """


MODELS_STATE = (
    "eJztnf9z2yYUwP8Vzr+su8tyqZMmWfeTk6ZbtjTuJe62226nEgnbXGShAqrj2/K/D5BkfU"
    "OK5NiOrPJLGyMewh/gwXs88L+9GXGQy/YHPv4NLXpvwb89D86Q+CP3ZA/0oO8n6TKBwztX"
    "ZYU+tu7RQiXCO8YptLlIH0OXIZHkIGZT7HNMPJl7ACaQozlcgMHHSyDk9sHQcxcAgilkU0"
    "DGgE8RYMimiAPMRA6f/wQ+f/YpGuOHz58BdpDH8RgjBjAHxAOieIQ8ti/f7xBbVAB7k82/"
    "KvDwlwBZnEyQKIaKF/79j0jGnoMeEIs/+veWkHedDFzsyAJUusUXvkq79Ph7lVF+izvLJm"
    "4w85LM/oJPibfMjT0uUyfIQ1R8R1k8p4HE7QWuG7VM3AJhTZMsYRVTMg4aw8CVjSalwwok"
    "aT3Luh6OrNuLkWX1Cg0aS6TAR0k28WRnEFVl6ttPZBV+6L8+Ojk6PTw+OhVZVDWXKSeP4a"
    "sTMKGgwnM96j2q55DDMIdinEBV/xewnk8h1XON8+fIiirnycYcq9DGCQnbpP9vA+4MPlgu"
    "8iZ8Kj6+PjioQPn74Ob8l8HNK5Hre/lKIgZsOJKvo0f98JnkndUITfjG+TvI97BfA+9hv5"
    "SufJSFG6qcJngTifUAflndkO2+x3V673F55z3O4xW635I6vwngtEznEB8f1UB8fFSKWD7K"
    "IhYzo0RhQV6E/E484XiG9KCzkjnUTiS6H/+xi8pDfEFHrjyiJq9AP7r8cHE7Gnz4KF83Y+"
    "yLq/gNRhfySV+lLnKpr/IjYVkI+ONy9AuQH8Ffw+sLhZcwPqHqjUm+0V89WScYcGJ5ZG5B"
    "J9U749SYWqbVXci4FbCV2j0vu4aWj6rclobfkYaOmVS2NEVfyf1K7ZyVNK3c5lYWw5Fajc"
    "yTlMTTNsouKOs1mCnS8Bvfa60UiatI9z2hCE88YWoryJeiRtCzdcvnyC7/FBWzY3Af494T"
    "pyajmcL50lJOdyrx3cU3RjxcrQ1uzwfvLnqK8B207+eQOlYpajhBFkU2oQ4rMj+LxN//do"
    "NcqL5JBW5R1I0qaWf1UwG6gkj6JAUvg7X4aNaf5VOgJ8g40bvlmyJiQ0FjBku8SsnDvSrH"
    "ElHZGvmWZMf5joHwBeDcJYEjHT97AHk2XfiiyQDkQChMvgfmmE/BfCo+SzdQ7CpyEaSezH"
    "ZHAg4w17mVNvQWjUfp76XCUAj/MR4m42FqgwdkIx6m0BNrLQdRkfUIPZT0YZ1sJ7hXrS4v"
    "/hxlFpYx3VcfBn9+n1lcXg2vf46zp1rj/Gp4lnfzQXavQ1/h6FtKdAL4xl19hOF4tVFTQa"
    "dFtrfIPmi1mjaep2/b8wRtmwQe1xqr5boqK7WSvnp6df+CnvP+aZ1puX9aPi3LZ49a0mgG"
    "sbsK7KXghni/4PTQf/OmBnCRqxS4epabIVyomR0qtoKi/N3Du/7ZFz1MYcCk0hc9U9edq2"
    "cMjbhxaLbZoZk0GMORR2219l6Km/bejfaeC5oiUwM9qpPtnk5d/+469r5CF684wgrCZny1"
    "eXypTVtEKdHsYpR7Z7JSXRhT23bLJARX3WlPC5sx1uYxpjauim386+3wumwPNhLItyu2Of"
    "gPuJjVcRLtTotKEtUjLD+Ycq0kC8iPsHC7cIy4PV3JmaSTN+Os9eOs+WSWEzOzWfPZLETo"
    "CcThgFl5uBWKMCOu3SPOhBc9f/PDhBe1IbwIco5mPn9uZJEvqorgbBCWtrPqqRhdVNT3Jh"
    "TrRUKx8l1ME5Cl6YXlYVlBlNlKj4A6wVljiF3kgFgeRPJ76uAdGBOqQqQcyKZ3RHxrAD0H"
    "EF82L6Ha433PL3DNh/jO8ORbibL6sd8/PDzpHxwen745Ojl5c3qwnMqKj6rmtLPLn+W0ll"
    "mTPB2LtVub/ttsn06tF6OR3cSLn5bpYEBSv1bkXb8i8q6vibzjkAeaiblUmSUCK63KWzYt"
    "rzsiaYaY3oVX7lRIiXSi027bo5DEijezLwtypj8X+/P2zfYOAm2N1d4ytmsz2vXqYA1cM8"
    "dVugm3oAab+kU2asCmTH6d8Zr1CFQYrnkvxNNG69BDwKfkAQszkyLRpIy/BfMp2ROWJSXB"
    "RB7twfY0PP0jzUt10gdzYIuVcNFkfX5xxmA1BqsxWFtrsJpLcjYYu6tUelO6XQ0834Qb4E"
    "XcLd8e5m17W1qnJ9ZsnpZ12jNCXAS9MqYlvfZOSG0K6jJlu9Po2XB4lZlBzy7zLpVPH84u"
    "bl69Vt1YZMIc6Vljzw+4WH7eI69JD86LmVOMebAk4CuRLcgZtHm0TkDVprI1awI2J2Ww5r"
    "FG9742cwxmhYxvUKMIjCe7S57sLi6+WuPKbhvcjfiyI5W5BqrJbd67pQXqYs1OLhmyogrg"
    "+tPVldkm2Nw2QcL4pfYJlENcs0EQKpOqnQFE6+0IlCM198G367Yu2aZNb+xKy5g7n3OerO"
    "Kdzz5kbE7EsG16t3ZBsIP+741cDYKZBZ0Z1lwPUunsSosZd1cDd5eDmQSg2zmt4p0WM7wb"
    "8BZTNCVfG/NOi22Rd6zLdxb3bm1Kb1eZd+vqtILJXuuIU+qXnVY/sVPb6mxbF6h1tCl3Sf"
    "HqmJqYjztJSntuyJyca+nJuZ3sYowTKiYlMd/ptnpqwUKzwJXnw/ZvVVmXoqiO0xITiy/y"
    "oTURu4mK6yw1xJgod1Vay9OI++/iv27DErsErJGbL82Wc/G+CrZDD42I+KeOukP0NlVeRy"
    "aHFXyiSwolvtE0pWofqZVuoKejpz8i+oMUA/aUYBuxfTC4Y8jjgJI5IFTVFYRf5G30W5z0"
    "q/pphYgnA6I+7qIYSL3Wkp/huW3BfmKnnbgMuciWdmbj2M+ipIlOrBkE6qzoE8hKGp9AW3"
    "wCmsj1wqpG/pwoonI5uGr8SUUJJhLlybgJHT2zJ11nT7qi361hd/qpyJZ4PbrhuJYXneQ3"
    "c63Ss7b6B4hie6pb0EZPKpeyMMlj9vt3SYFWLRXF8j62ouuuEVMiZgO63ga0HFQNCEfZO0"
    "h3I7+AJt7IkadZeJff/ZsSedbtv22jXQF3bdf/NtgUW3/c2uP/m2/44g=="
)
