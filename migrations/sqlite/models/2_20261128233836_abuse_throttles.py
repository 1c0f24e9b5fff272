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
    "eJztXW1z2rgW/iuafNl0Js00JE1z208kTXdzNw3dQO/d2e2OEbYATYzltUQIs7f//R7JNv"
    "gdmwAxrr60QdaR5OdIR+dN8j8HE2YRmx+3XformR+8R/8cOHhC4I/EkyN0gF13WS4LBB7Y"
    "qip2qfFA5qoQD7jwsCmgfIhtTqDIItz0qCsoc2TtNhphQWZ4jtpfbhDQHaOOY88RRmPMx4"
    "gNkRgTxInpEYEohxqu+ID6fdcjQ/rU7yNqEUfQISUcUYGYg6B5Qhx+LPu3mAkDoM5o+11N"
    "Hfr3lBiCjQg040GHf/4FxdSxyBPh4U/3wQB624qBSy3ZgCo3xNxVZTeO+KQqyrcYGCazpx"
    "NnWdmdizFzFrWpI2TpiDjEg3eUzQtvKuF2prYdcCbkgD/SZRV/iBEaiwzx1JZMk9T+AJZl"
    "B4Zx1+kZ3eueYRykGBpSRIAPikzmyMkAQ+Xq7UdyCK9bJ2fvzi5Oz88uoIoa5qLk3Xe/6y"
    "UwPqGC56538F09xwL7NRTGS1DV/ylYr8bYy8Y1rJ9AFoacRDbEsQjasGCJ7XL+7wLcCX4y"
    "bOKMxBh+nrx5UwDlf9r3V7+07w+h1ivZJYMF66/ku+BRy38m8Y5LhCr4hvUbiO9pqwS8p6"
    "1cdOWjOLi+yKkC75JiMwC/rGyIT9/zMrP3PH/ynifhBdlvSJlfBeAoTeMgPj8rAfH5WS7E"
    "8lEcYtgZJRQGFmmQP8ITQSckG+g4ZQJqKyA9Dv/YR+EBL2hJzSNgeQH0vZvP191e+/MX2d"
    "2E879thV+7dy2ftFTpPFF6mFwJi0bQf296vyD5E/3RubtW8DIuRp7qcVmv98eBHBOeCmY4"
    "bGZgKzI7w9IQtRjXbcyFMeVr8T1JuwHOB0OuC+P3hNEhJoWc9sgje1iLz3FKzeU6cxmWo2"
    "dUMk8iFKttlH0Q1hswU6ThN3zItFIkXGl0PzGP0JEDprYC+QZGhB0zS30O7PKvQTN7Bu73"
    "cPaEpcvV7OHZwlKOTip4d3hjInxtrd29an+8PlAID7D5MMOeZeRCjUfE8IjJPIunMb8MyD"
    "/9ek9srN6kAG5o6l61tLfyKQW6ApG1WAS8GKzpR5PWJFmCHUDGCvqWPYWOo6kY98YeE0JB"
    "knYsRZ8fFbqXoKYholVX+pi6sJZeU+cIeWREZWX5AGHHQi7mfAZcfG2OsTMiCAtBJq7gyC"
    "UewqbJpo5AzEOmTQn8BZIThGuGa2njPXxzvjldsEWIhQZzRB6JN0fQzIMkglZpIBE+oJlH"
    "oUUHzagYI+bIDtiEmgieQ0eySdWR3+s357Dft8CIGTDg6HGIYr//6hj1YLPlCHpEXx36JN"
    "1gzLH4EeJMucUw9DOewJZsSteYcpQBB2EgqPvbLXQMw/3tlgqihvfF34ag5LmusQff21jB"
    "SGukfXbSuihjA7cu8o1g+azYYxZOzQq7fZRkd9v9mxrv9VHtCWQXzpi+n2yGc/BcUCTAHE"
    "qSfYOzAKuPna+Xt9foy/311U33pnMX13zVQ1kEBdTf6e+v27cJdAc2M6UdAQKU2pVQTlFq"
    "tFeiPXWtXH9OAdRxsu3hvEvRvAWkUxZCvkK7TS3tY6gadEEH8VFJaWqpOoXa2kLZMLhfvX"
    "RYkINKRSxQqtDAYzMwAEBFAa3DZOyBEjRm8D4IIw/UDTZB1PoAOog9RxQ0KxXNAyWFCzCj"
    "rKw44Ebb3nDgL1+5ybSq91+32ZTvOV+xMbk3BP48EKcK3HGqBoattNNfO/034fQnTy6F1t"
    "bgepxyN1yviaZQJyZrV3C5JaxdwXvtCt6m5twBYCc4J2tu+bBQV2aqWqXcOYnGTxz5HaAr"
    "m00tmdh2hIhjenMXuI+wQCAFxJHvIZyN4bf03oWpcDbBniOrDdhUgIqbpS5vqZcMxfnPxS"
    "pQEP6lM+h0Bl0dVOWtZND5mabGYhGlse6Rp5w5nEXbCNyLVKbr33sxbSlE9/Bz+/dXMY3p"
    "tnP3c1g9wo2r285lMo0R84cs6AsSGRcUjQB866mMjNMwmlpSQEdJdFQhGVXQRnY+1M01so"
    "NQcaYFli+r4lRryavV2QuNCIumkSYTnBVXWg32gnBLeL/g9tB6+7YE4FArF3D1LLFD2LiS"
    "Yzas3zx4N7/7kqcxnnKRHyZd5aBLkeuEzTp76ZYM4zRwE63H7wW55vd+8HsGaEKlCnI0i7"
    "Z5MnXzp4eo84htuuYKSxHr9VXn9aUOpRDPYxmu+XzvTJyqCWtq126ZJYLrniSKEus1Vuc1"
    "phLz0zz+d7dzlxdYDAiSfKWmQP9DNuVlnET7w1GJRPEKSy6mBJdkA8kV5h+HGBJhjtdyJm"
    "XR63VW+3VWfTNLkOndrPpu5kPoAMT+gll7uaWa0Cuu3itO58w8P/ihc2bqcHwy/3RQpZOT"
    "LgyV4Enbb21vxVP69GRa3uujpi9y1LSrUvNvYH4dZORiRZ4eFSVj+Qn+BoWKJbOxOg5Bsr"
    "q8SAwHBwRkUpQLbw/Vh2zqqMOch3I5HvlVqfUKzcbEkacNCLCMyzSqIfEIiCuemY21lV7k"
    "adPOVLgqNwte+Cg4ZLooUMlcwRFVLv9RaV7YgablJWryHKiaYAha9+ZyPMx+lMdJbfub0+"
    "/LNoxFl/ImNdWoeoVgRMeoLVtDEzxHwBWCPXm2lMuTr9hevCBHhzgchxhj8c2BJ8SxuH84"
    "g0o85q/eq+E6ZCbf1KaPBHlsBkMufVPbMg1NjRxE51+VUs8u6ehHyT77V6t1evqu9eb0/O"
    "Lt2bt3by/eLLb49KOivf7y5me53cd0tdU5aiF/UiwoOEazJGlgAs/mD3XsV3q/tlXWtFVo"
    "sCWWdcKF9Z/lg9sjhm7FCRfuaxVFWIJMi7ESYkzb4toW3wdbPEs8bABW3+65jzTYUIATsr"
    "FOh4QSPMi1TqNcWmmhLkyjclZqG90vbCl5DXZIrm67RgNiYpihKXOv31e9+Yj3+1mHhDbV"
    "rD5OX4+ds+A4vU5A/wET0PfLDNSnvNezAl2PPFI25caalkkefROixtu2UCaES2d/RsAg3w"
    "qP0mhLfAOWeBXwozQa/GflImnbXNvmL246biROvogYrh/zjccoGwL2VmO+ybSCDNM6I/Mg"
    "37aeBpWNaNZDGeN6iKlNLBTShxfvHvl28JB5ygZe3Iqn4qzMlfxlXuYnq57f4IYNah3b3F"
    "Vsc7/sbG1xrZkjGKzsKlZWlKaBwZ9WqdtWWgW3rbQyblsRWEyr3G29JFhLw6yb8brhWygC"
    "wzONZ34ieYSkEZN211nky/vBqtlKKTo9n9PzefcmaAMBrY0FWjNstxIcXi7rDeAau6Kwme"
    "CmxGCdQsPRNO8s4zWeBV5guCYzz8vlLbsee6IqkVgl475HszE7QvL7MNORvM6RmmP/xkdp"
    "XqrbHalAJmjC2QnKz2tOG6zaYNUGa20NVv3h5y3e16REelV0m3rZ2DbcAC/ibvnxYN61t6"
    "V2cmLD5mnepL1kzCbYycM0Z9YOgGpboC5KdruNXnY6t7Ed9PIm6VL5+vny+v7wRE3j5ReY"
    "0lirc2/+l1+qzOAkmb65NgksU0cMqyObotPQpj41OPW/OWpkxZ5zgU1QaViTsGKXVve3xo"
    "m0bzBDEGhPdpM82U1Uvmrjyq4buFvxZQcicwOotl3aaC92fHOJIQtDQHdfb291mGB7YYIl"
    "xi8VJ1AO8YwAgS9MiiIDxCsXEciHdMOe+R/FLb+1LzRJnlb9SlOURh9+S3iy0ocyXMz5jM"
    "GylV/+rYJzirCB/u+tfA6CcgNbE5rxSYhCZ1eUTLu7Kri7LMolAFmR0yK8o2Qa7wp4wxbt"
    "scfKeEfJdoh3KMv3Fu79CkrvVpg367RyymQvc1wnsKeeeWKntNVZtymQe1on/qFKzqHdZ2"
    "L0MTyj0vWbaypaic/4rg9YFWN7L5FK3rGpT8ytxCp228tz8WrgbUCZuR6Gvru4AmgvdXfx"
    "3kyxSv696C4qBPRXgGnHIT0G/5RBlnjdSHsNmYdrOEMXKOQ4RaMoFTtHjSiDVqdNfyHea0"
    "mGzDGjJuHHqD1Ql1rJu4aZp8aK/Bfx7yOGuo/E+4mjAE8u7zm25+kM6o22/AyXbQ0CiY32"
    "3nJiE1MamJWTPtOUOi2xZPantaYzIE6pnQF1cQZkpKynVBpXXT0v1ed1E08KWtApKCsTJr"
    "LQ08HoMsHognm3gbD0qpSWUB/dckLLi27y27kb6Fkx/jbxqDnOUmiDJ4WqLF7W0YH+fRKg"
    "RaoiqPehy7Ssjhgh0ZHncpFnuagqIBxUbyC6J6V075MC3fskrXtDj4I4GYp3/gWLERJ9v2"
    "LF+xUrRMM2n7D2/f8MXW1K"
)
