"""Store, search and export mailing-list archives built by :mod:`scraper`."""

__version__ = "0.1.0"
