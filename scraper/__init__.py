"""Fetch and parse public Google Groups over plain HTTP.

Nothing in this package knows about storage. Importing it is cheap: the HTTP
client (httpx) is only imported by :mod:`scraper.http`, and HTML parsers only by
:mod:`scraper.pages`.
"""
