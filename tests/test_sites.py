"""Exports published for real: a hostile archive built into a Jekyll site (minima 2.5
with jekyll-seo-tag and jekyll-feed) and a Hugo site, and a post opened in headless
Chromium.

Anyone can post to a public group, so the archive below is written by an attacker:
scripts and event handlers in subjects, author names and bodies, quotes and ``>``
that break attributes, ``]]>`` that ends CDATA, ``|`` and underscores that kramdown
makes tables and emphasis of, Liquid and shortcodes. Every script in it tries to set
``data-pwned`` on the page's root element, so a browser's DOM shows whether one ran.

The sites are built once per module (Jekyll about a second, Hugo less). The tests
skip, saying which, when the Debian packages are not installed; ``.ci/run`` installs
them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import unquote, urlsplit

import feedparser
import pytest
from bs4 import BeautifulSoup

from archive.db import Archive
from archive.export import export_threads, select_threads
from archive.feed import build_feed, render_atom, site_timezone
from scraper.models import Group, GroupRef, Message, Thread

GEMS = Path("/usr/share/rubygems-integration/all/gems")
SITE_URL = "https://example.org"
SITE_ZONE = "Asia/Tokyo"  # UTC+9: a thread started after 15:00 UTC is dated the next day
PWN = "document.documentElement.dataset.pwned='1'"

ANN = Group(GroupRef("demo-announce"), None, "demo-announce@googlegroups.com", "Demo announce")
DEV = Group(GroupRef("dev", "example.org"), None, "dev@example.org", "Example <b>dev</b>")

AUTHORS = [
    f'Mallory <img src=x onerror="{PWN}">',
    f'Eve "the quote" > </script><script>{PWN}</script>',
    "Dana O'Brien & Q&A &lt;b&gt; __init__.py",
]
# (subject, body): subjects carry no list tags, so the title is the subject.
THREADS = [
    (
        f"<script>{PWN}</script> | __init__.py \"x\" > y",
        f'<div>Run ps aux | grep x</div><div>__init__.py and _word_ and snake_case</div>'
        f'<img src=x onerror="{PWN}">',
    ),
    ("Run ps aux | grep x", "<p>a | b | c</p><p>| --- | --- |</p><p>| d | e |</p>"),
    (
        "{{ site.title }} {% raw %} {{< shortcode >}} ]]> done",
        "<p>]]&gt; ends CDATA; {{ site.title }} {% include x.html %} {{< s >}}</p>",
    ),
    (
        f'Quote " and > and <img src=x onerror="{PWN}">',
        f"<p>&lt;script&gt;{PWN}&lt;/script&gt; is text.</p>"
        f'<p><a href="javascript:{PWN}">link</a> <a href="https://example.net/">ok</a></p>'
        f'<iframe src="javascript:{PWN}"></iframe><svg onload="{PWN}"></svg>',
    ),
    ("Ordinary release notes", "<p>Release <b>1.2</b> is out: see the notes.</p>"),
]
# Start times around the day, in UTC, so a site time zone moves some of them.
HOURS = [0.5, 8, 14.99, 15, 15.5, 20, 23.99]


def _message(mid: str, topic: str, author: str, at: datetime, subject: str, body: str):
    return Message(mid, topic, author, at, subject, body, masked_address="m...@example.com")


def build_archive(path: Path) -> Archive:
    archive = Archive(path)
    day = datetime(2024, 1, 8, tzinfo=UTC)
    n = 0
    for days in range(3):
        for hours in HOURS:
            subject, body = THREADS[n % len(THREADS)]
            author = AUTHORS[n % len(AUTHORS)]
            at = day + timedelta(days=days, hours=hours)
            topic = f"topic{n:06d}"
            messages = [_message(f"m{n:06d}a", topic, author, at, subject, body)]
            if n % 3 == 0:
                reply = AUTHORS[(n + 1) % len(AUTHORS)]
                messages.append(
                    _message(f"m{n:06d}b", topic, reply, at + timedelta(hours=5),
                             "Re: " + subject, f"<p>Reply {n} &lt;b&gt; | x</p>")
                )  # fmt: skip
            thread = Thread(ANN, topic, subject, tuple(messages))
            archive.save_thread(thread, seen_at=at + timedelta(days=1))
            n += 1
    # A cross-post: the same announcement in the second group, archived after.
    first = archive.get_thread(ANN.email, "topic000000")["messages"][0]
    crossed = _message("x000000a", "crosspost0", first["author"],
                       datetime.fromisoformat(first["posted_at"]), first["subject"],
                       first["body_html"])  # fmt: skip
    archive.save_thread(
        Thread(DEV, "crosspost0", first["subject"], (crossed,)), seen_at=day + timedelta(days=9)
    )
    return archive


def reads(text: str) -> str:
    """Text as a reader compares it: Unicode compatibility folding (the front
    matter's full-width look-alikes fold back), whitespace folded, and typographic
    quotes as plain ones (kramdown's and smartify's "smart quotes")."""
    text = unicodedata.normalize("NFKC", " ".join(text.split()))
    return text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'}))


# --- checks on built HTML -------------------------------------------------------------

SAFE_SCHEMES = {"", "http", "https", "mailto"}
# (No <svg> here: minima draws its own icons with one; a message's would be caught by
# its event handlers and links.)
NEVER = {"iframe", "frame", "object", "embed", "math", "form", "base", "applet"}


def live_markup(html: str) -> list[str]:
    """Everything in a built page that could run or load: event handlers, scripts
    other than JSON-LD data, frames and the like, script URLs, and images not from
    the web. Empty for an inert page."""
    soup = BeautifulSoup(html, "html.parser")
    found = []
    for element in soup.find_all(True):
        for name, value in element.attrs.items():
            values = value if isinstance(value, list) else [value]
            if name.lower().startswith("on"):
                found.append(f"<{element.name} {name}>")
            if name.lower() in ("href", "src", "action", "formaction", "srcset", "data"):
                for item in values:
                    scheme = urlsplit(item.strip()).scheme.lower()
                    if scheme not in SAFE_SCHEMES:
                        found.append(f"<{element.name} {name}={item!r}>")
            if "pwned" in name.lower():
                found.append(f"<{element.name} {name}>")
        if element.name in NEVER:
            found.append(f"<{element.name}>")
        if element.name == "script":
            if element.get("type") != "application/ld+json":
                found.append(f"<script>{element.get_text()[:60]}")
            else:
                json.loads(element.get_text())  # data, and whole: nothing broke out
        if element.name == "img" and urlsplit(element.get("src", "")).scheme not in ("http",
                                                                                  "https"):
            found.append(f"<img src={element.get('src')!r}>")
    return found


def test_live_markup_finds_what_it_is_for():
    page = (
        f'<html><body><p>ok</p><img src=x onerror="{PWN}"><script>{PWN}</script>'
        '<a href="javascript:alert(1)">x</a><iframe></iframe>'
        '<script type="application/ld+json">{"a": 1}</script></body></html>'
    )
    assert live_markup(page) == [
        "<img onerror>", "<img src='x'>", "<script>" + PWN,
        "<a href='javascript:alert(1)'>", "<iframe>",
    ]  # fmt: skip
    assert live_markup('<p>&lt;script&gt;</p><a href="https://x/">y</a>') == []


# --- the sites ----------------------------------------------------------------------------


def _missing(*commands: str, gems: tuple[str, ...] = ()) -> list[str]:
    missing = [c for c in commands if shutil.which(c) is None]
    for gem in gems:
        if not any(GEMS.glob(gem + "-*")):
            missing.append(gem)
    return missing


def _run(argv: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    with build_archive(tmp_path_factory.mktemp("hostile") / "archive.db") as archive:
        yield archive


def _export(archive: Archive, out: Path) -> list[Path]:
    return export_threads(archive, select_threads(archive, since="2000-01-01"), out)


def jekyll_config(zone: str) -> str:
    return f"""\
title: Hostile archive
url: {SITE_URL}
timezone: {zone}
theme: minima
show_excerpts: true
plugins:
  - jekyll-feed
  - jekyll-seo-tag
"""


def _build_jekyll(archive: Archive, root: Path, zone: str) -> tuple[Path, list[Path]]:
    missing = _missing("jekyll", gems=("minima", "jekyll-seo-tag", "jekyll-feed"))
    if missing:
        pytest.skip(
            f"Debian's jekyll, jekyll-theme-minima, ruby-jekyll-seo-tag and ruby-jekyll-feed"
            f" are needed (missing: {', '.join(missing)}); .ci/run installs them"
        )
    source = root / "source"
    source.mkdir()
    (source / "_config.yml").write_text(jekyll_config(zone), encoding="utf-8")
    (source / "index.md").write_text("---\nlayout: home\n---\n", encoding="utf-8")
    files = _export(archive, source / "_posts")
    _run(["jekyll", "build", "--quiet", "-s", str(source), "-d", str(root / "site")], root)
    return root / "site", files


@pytest.fixture(scope="module")
def jekyll_site(archive, tmp_path_factory):
    """``(built site folder, exported files)``: the export in ``_posts`` of a minima
    site with jekyll-seo-tag and jekyll-feed, in Tokyo time."""
    return _build_jekyll(archive, tmp_path_factory.mktemp("jekyll"), SITE_ZONE)


HUGO_CONFIG = f"""\
baseURL: {SITE_URL}/
title: Hostile archive
timeZone: {SITE_ZONE}
disableKinds: [taxonomy, term]
permalinks:
  posts: /:year/:month/:day/:filename/
"""
# What Hugo themes commonly do with a post's fields (Hugo ships no theme of its own):
# its internal Open Graph, Twitter and schema.org templates, the title, the author
# parameter, the description or else the summary, and the content.
HUGO_BASEOF = """\
<!DOCTYPE html>
<html><head>
<title>{{ .Title }} | {{ site.Title }}</title>
<meta name="description"
 content="{{ with .Description }}{{ . }}{{ else }}{{ .Summary | plainify }}{{ end }}">
{{ with .Params.author }}<meta name="author" content="{{ . }}">{{ end }}
{{ template "_internal/opengraph.html" . }}
{{ template "_internal/twitter_cards.html" . }}
{{ template "_internal/schema.html" . }}
</head><body>{{ block "main" . }}{{ end }}</body></html>
"""
HUGO_SINGLE = """\
{{ define "main" }}<article>
<h1 class="title">{{ .Title }}</h1>
<p class="byline">{{ with .Params.author }}<span class="author">{{ . }}</span>{{ end }}
<time>{{ .Date.Format "2006-01-02" }}</time></p>
<div class="content">{{ .Content }}</div>
</article>{{ end }}
"""
HUGO_LIST = """\
{{ define "main" }}{{ range .Pages }}<article class="summary">
<h2><a href="{{ .RelPermalink }}">{{ .Title }}</a></h2>
<p class="author">{{ .Params.author }}</p><div class="summary">{{ .Summary }}</div>
</article>{{ end }}{{ end }}
"""


@pytest.fixture(scope="module")
def hugo_site(archive, tmp_path_factory):
    """``(built site folder, exported files)``: the export in ``content/posts`` of a
    Hugo site with dated permalinks, in Tokyo time."""
    if _missing("hugo"):
        pytest.skip("Debian's hugo is needed (not installed); .ci/run installs it")
    root = tmp_path_factory.mktemp("hugo")
    source = root / "source"
    layouts = source / "layouts" / "_default"
    layouts.mkdir(parents=True)
    (source / "config.yaml").write_text(HUGO_CONFIG, encoding="utf-8")
    (layouts / "baseof.html").write_text(HUGO_BASEOF, encoding="utf-8")
    (layouts / "single.html").write_text(HUGO_SINGLE, encoding="utf-8")
    (layouts / "list.html").write_text(HUGO_LIST, encoding="utf-8")
    files = _export(archive, source / "content" / "posts")
    _run(["hugo", "--quiet", "-s", str(source), "-d", str(root / "site")], root)
    return root / "site", files


def _front(path: Path) -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1])


def _expected(archive: Archive, path: Path) -> dict:
    """What the post should show: the thread's subject and author, as written."""
    source = _front(path)["source"]
    topic = source.rsplit("/", 1)[1]
    group = ANN.email if "/g/demo-announce/" in source else DEV.email
    thread = archive.get_thread(group, topic)
    first = thread["messages"][0]
    return {"title": thread["subject"], "author": first["author"], "thread": thread}


def _page(site: Path, url: str) -> Path:
    path = unquote(urlsplit(url).path)
    page = site / path.lstrip("/")
    return page / "index.html" if path.endswith("/") else page


def _links(archive: Archive, base_link: str, timezone: str | None) -> set[str]:
    zone = site_timezone(timezone) if timezone else None
    links = set()
    for threads in (False, True):
        feed = build_feed(archive, limit=None, threads=threads, base_link=base_link,
                          timezone=zone)  # fmt: skip
        parsed = feedparser.parse(render_atom(feed))
        assert not parsed.bozo and len(parsed.entries) == len(feed.entries) > 0
        links |= {entry.link for entry in parsed.entries}
    return links


# --- Jekyll -------------------------------------------------------------------------------


def _jekyll_posts(site: Path) -> list[Path]:
    return sorted(p for p in site.glob("20*/**/*.html"))


def test_a_cross_post_is_one_post(jekyll_site, archive):
    site, files = jekyll_site
    assert len(files) == 3 * len(HOURS)  # the cross-post's second group adds no post
    assert len(_jekyll_posts(site)) == len(files)
    crossed = [f for f in files if "dev@example.org" in _front(f)["groups"]]
    assert len(crossed) == 1 and "/g/demo-announce/" in _front(crossed[0])["source"]


def test_jekyll_pages_have_no_live_message_markup_and_no_tables(jekyll_site):
    site, _ = jekyll_site
    bodies = 0
    for page in [*_jekyll_posts(site), site / "index.html"]:
        html = page.read_text(encoding="utf-8")
        assert live_markup(html) == [], page
        assert "<table" not in html, page  # no "|" became a table
        soup = BeautifulSoup(html, "html.parser")
        # kramdown made no emphasis of __init__.py or _word_.
        assert not soup.find(["strong", "em"], string=["init", "word", "s"]), page
        content = soup.select_one(".post-content")
        if content is not None and "snake_case" in content.get_text():
            assert "__init__.py and _word_ and snake_case" in content.get_text()
            bodies += 1
    assert bodies == len(range(0, 3 * len(HOURS), len(THREADS)))  # each of the first kind


def test_jekyll_titles_authors_and_descriptions_read_as_written(jekyll_site, archive):
    site, files = jekyll_site
    feed = feedparser.parse((site / "feed.xml").read_bytes())
    assert not feed.bozo
    by_link = {entry.link: entry for entry in feed.entries}
    checked_feed = 0
    for path in files:
        expected = _expected(archive, path)
        page = _page(site, _jekyll_url(path))
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        title, author = reads(expected["title"]), reads(expected["author"])
        # minima: the heading escapes the title, the byline prints the author raw.
        assert reads(soup.select_one("h1.post-title").get_text()) == title
        assert reads(soup.select_one(".p-author").get_text()) == author
        # jekyll-seo-tag: the author raw into <meta> and JSON-LD, the title through
        # markdownify and strip_html.
        assert reads(soup.find("meta", attrs={"name": "author"})["content"]) == author
        ld = json.loads(soup.find("script", type="application/ld+json").get_text())
        assert reads(ld["author"]["name"]) == author
        assert reads(soup.find("meta", property="og:title")["content"]) == title
        # The description is the message, not the credit line.
        description = soup.find("meta", attrs={"name": "description"})["content"]
        assert not description.startswith("Originally"), description
        assert description == soup.find("meta", property="og:description")["content"]
        assert description.strip()
        # jekyll-feed (the newest ten posts): smartify, strip_html and xml_escape.
        entry = by_link.get(SITE_URL + _jekyll_url(path))
        if entry is not None:
            assert reads(entry.title) == title
            assert reads(entry.author) == author
            assert not entry.summary.startswith("Originally")
            checked_feed += 1
    assert checked_feed == 10


def _jekyll_url(path: Path) -> str:
    """Where Jekyll serves a post: its default permalink, dated in the site's zone."""
    day = _front(path)["date"].astimezone(site_timezone(SITE_ZONE))
    return f"/{day:%Y/%m/%d}/{path.stem[11:]}.html"


def test_feed_base_links_resolve_to_jekyll_posts_in_the_sites_time_zone(jekyll_site, archive):
    site, _ = jekyll_site
    pattern = SITE_URL + "/{year}/{month}/{day}/{slug}.html"
    links = _links(archive, pattern, SITE_ZONE)
    assert links and all(_page(site, link).is_file() for link in links), sorted(
        link for link in links if not _page(site, link).is_file()
    )
    # Without the site's zone, the threads started after 15:00 UTC would be missed:
    # the check above can fail.
    utc = _links(archive, pattern, None)
    assert any(not _page(site, link).is_file() for link in utc)


def test_feed_base_links_resolve_to_jekyll_posts_in_utc(archive, tmp_path):
    site, _ = _build_jekyll(archive, tmp_path, "UTC")
    pattern = SITE_URL + "/{year}/{month}/{day}/{slug}.html"
    for zone in (None, "UTC"):
        links = _links(archive, pattern, zone)
        assert links and all(_page(site, link).is_file() for link in links), sorted(
            link for link in links if not _page(site, link).is_file()
        )


# --- Hugo ---------------------------------------------------------------------------------


def _hugo_posts(site: Path) -> list[Path]:
    return sorted(site.glob("20*/**/index.html"))


def test_hugo_pages_have_no_live_message_markup_and_no_tables(hugo_site):
    site, files = hugo_site
    posts = _hugo_posts(site)
    assert len(posts) == len(files)
    for page in [*posts, site / "index.html", site / "posts" / "index.html"]:
        html = page.read_text(encoding="utf-8")
        assert live_markup(html) == [], page
        assert "<table" not in html, page
    for feed in (site / "index.xml", site / "posts" / "index.xml"):
        assert not feedparser.parse(feed.read_bytes()).bozo


def test_hugo_titles_authors_and_summaries_read_as_written(hugo_site, archive):
    site, files = hugo_site
    for path in files:
        expected = _expected(archive, path)
        link = SITE_URL + "/" + "/".join(path.stem[:10].split("-")) + f"/{path.stem}/"
        # Dated by the front matter's UTC date, whatever the site's timeZone.
        page = _page(site, link)
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        title, author = reads(expected["title"]), reads(expected["author"])
        assert reads(soup.select_one("h1.title").get_text()) == title
        assert reads(soup.select_one(".author").get_text()) == author
        assert reads(soup.find("meta", attrs={"name": "author"})["content"]) == author
        assert reads(soup.find("meta", property="og:title")["content"]) == title
        description = soup.find("meta", attrs={"name": "description"})["content"]
        assert description.strip() and not description.startswith("Originally")
    listing = BeautifulSoup((site / "posts" / "index.html").read_text(encoding="utf-8"),
                            "html.parser")  # fmt: skip
    summaries = [s.get_text().strip() for s in listing.select("div.summary")]
    assert len(summaries) == len(files)
    assert not [s for s in summaries if s.startswith("Originally")]


def test_feed_base_links_resolve_to_hugo_posts(hugo_site, archive):
    site, _ = hugo_site
    links = _links(archive, SITE_URL + "/{year}/{month}/{day}/{stem}/", None)
    assert links and all(_page(site, link).is_file() for link in links), sorted(
        link for link in links if not _page(site, link).is_file()
    )


# --- Chromium -----------------------------------------------------------------------------


def _chromium_dom(page: Path, tmp_path: Path) -> BeautifulSoup:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.skip("Debian's chromium is needed (not installed); .ci/run installs it")
    result = _run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=3000", "--dump-dom", page.as_uri(),
        ],  # fmt: skip
        tmp_path,
    )
    return BeautifulSoup(result.stdout, "html.parser")


def test_chromium_runs_no_message_script_in_a_built_post(jekyll_site, archive, tmp_path):
    site, files = jekyll_site
    # Control: the same payload in a page of our own does run, and shows in the DOM.
    control = tmp_path / "control.html"
    control.write_text(f'<html><body><img src=x onerror="{PWN}"></body></html>')
    assert _chromium_dom(control, tmp_path).html.get("data-pwned") == "1"

    hostile = next(f for f in files if "script" in _expected(archive, f)["title"])
    page = _page(site, _jekyll_url(hostile))
    dom = _chromium_dom(page, tmp_path)
    assert dom.html is not None and dom.html.get("data-pwned") is None
    assert reads(dom.select_one("h1.post-title").get_text()) == reads(
        _expected(archive, hostile)["title"]
    )
    assert live_markup(str(dom)) == []
