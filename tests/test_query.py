"""The query language parser: text in, tree out, BadQuery with a specific message."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from archive.query import (
    And,
    DateRange,
    Field,
    Needle,
    Not,
    Or,
    Term,
    parse_date_bound,
    parse_query,
)
from scraper.errors import EXIT_BAD_QUERY, BadQuery

NOW = datetime(2025, 3, 31, 15, 30, tzinfo=UTC)


def parse(text: str):
    return parse_query(text, now=NOW).root


def word(text: str, **kwargs) -> Term:
    return Term(text, **kwargs)


def test_empty_query_has_no_tree():
    assert parse("") is None
    assert parse("   ") is None
    assert not parse_query("")


def test_words_are_all_required():
    assert parse("kubernetes release") == And((word("kubernetes"), word("release")))


def test_explicit_and_is_the_same_as_a_space():
    assert parse("kubernetes AND release") == parse("kubernetes release")


def test_or_binds_tighter_than_the_implicit_and():
    assert parse("freeze code OR release") == And(
        (word("freeze"), Or((word("code"), word("release"))))
    )


def test_lowercase_or_is_a_word():
    assert parse("this or that") == And((word("this"), word("or"), word("that")))


def test_phrase_and_prefix():
    assert parse('"code freeze" kube*') == And(
        (word("code freeze", phrase=True), word("kube", prefix=True))
    )


def test_quoted_prefix_phrase():
    assert parse('"code fre"*') == word("code fre", phrase=True, prefix=True)


def test_typographic_quotes_make_a_phrase():
    assert parse("\u201ccode freeze\u201d") == word("code freeze", phrase=True)


@pytest.mark.parametrize("text", ["-draft", "NOT draft"])
def test_negation(text):
    assert parse(text) == Not(word("draft"))


def test_negated_phrase_field_and_group():
    assert parse('-"code freeze" -group:dev -(a OR b)') == And(
        (
            Not(word("code freeze", phrase=True)),
            Not(Field("group", "dev")),
            Not(Or((word("a"), word("b")))),
        )
    )


def test_parentheses_group():
    assert parse("(freeze OR thaw) release") == And(
        (Or((word("freeze"), word("thaw"))), word("release"))
    )


def test_a_dash_inside_a_word_is_not_negation():
    root = parse("pre-release")
    assert isinstance(root, Term) and root.text == "pre-release"


def test_parentheses_inside_a_word_belong_to_it():
    root = parse("os.Exit()")
    assert isinstance(root, Term) and root.text == "os.Exit()"
    assert parse("(os.Exit() OR panic)") == Or((root, word("panic")))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("CVE-2024-3177", Needle("CVE-2024-3177")),
        ("v1.30.2", Needle("v1.30.2")),
        ("go1.22.1", Needle("go1.22.1")),
        ("kubernetes/kubernetes#12345", Needle("kubernetes/kubernetes#12345")),
        ("v1.30.2.", Needle("v1.30.2")),  # sentence punctuation is not part of it
        ("v1.30*", Needle("v1.30", open_end=True)),
        ("+1", Needle("+1")),
    ],
)
def test_identifiers_carry_a_needle_for_the_exact_check(text, needle):
    root = parse(text)
    assert isinstance(root, Term)
    assert root.needles == (needle,)


@pytest.mark.parametrize("text", ["kubernetes", "café", "Überprüfung", "freeze,"])
def test_plain_words_need_no_exact_check(text):
    root = parse(text)
    assert isinstance(root, Term) and root.needles == ()


def test_phrase_checks_each_identifier_inside_it():
    root = parse('"fixed in v1.30.2 for CVE-2024-3177."')
    assert root.needles == (Needle("v1.30.2"), Needle("CVE-2024-3177"))


def test_unsegmented_scripts_are_substring_terms():
    root = parse("中文")
    assert isinstance(root, Term) and root.substring
    assert not parse("Überprüfung").substring


def test_field_operators():
    root = parse('from:"Jeremy Rickard" subject:v1.30.2 group:dev@example.org')
    author, subject, group = root.nodes
    assert (author.column, author.text, author.prefix, author.phrase) == (
        "author",
        "Jeremy Rickard",
        False,
        True,
    )
    assert (subject.column, subject.text, subject.needles) == (
        "subject",
        "v1.30.2",
        (Needle("v1.30.2"),),
    )
    assert group == Field("group", "dev@example.org")


def test_from_takes_a_prefix():
    assert parse("from:jer*") == Term("jer", phrase=True, prefix=True, column="author")


def test_field_names_are_case_insensitive_and_author_is_from():
    assert parse("FROM:ann") == parse("author:ann") == parse("from:ann")


def test_quoted_subject_is_a_phrase_and_can_be_a_prefix():
    assert parse('subject:"code fre"*') == Term(
        "code fre", phrase=True, prefix=True, column="subject"
    )


def test_unknown_field_is_just_a_word():
    root = parse("https://example.org/x")
    assert isinstance(root, Term) and root.text == "https://example.org/x"


def test_dates():
    assert parse("after:2024-03-01") == DateRange(start=datetime(2024, 3, 1, tzinfo=UTC))
    assert parse("before:2024-03-01") == DateRange(end=datetime(2024, 3, 1, tzinfo=UTC))
    assert parse("on:2024-03-12") == DateRange(
        start=datetime(2024, 3, 12, tzinfo=UTC), end=datetime(2024, 3, 13, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        ("7d", datetime(2025, 3, 24, 15, 30, tzinfo=UTC)),
        ("2w", datetime(2025, 3, 17, 15, 30, tzinfo=UTC)),
        ("1m", datetime(2025, 2, 28, 15, 30, tzinfo=UTC)),  # no 31 February: clamped
        ("3m", datetime(2024, 12, 31, 15, 30, tzinfo=UTC)),
        ("1y", datetime(2024, 3, 31, 15, 30, tzinfo=UTC)),
        ("0d", NOW),
    ],
)
def test_relative_dates_count_back_from_now(span, expected):
    assert parse(f"after:{span}") == DateRange(start=expected)


def test_on_with_a_span_is_that_whole_day():
    assert parse("on:1d") == DateRange(
        start=datetime(2025, 3, 30, tzinfo=UTC), end=datetime(2025, 3, 31, tzinfo=UTC)
    )


def test_option_bounds():
    assert parse_date_bound("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC)
    # --until includes the whole day it names
    assert parse_date_bound("2024-03-31", end=True) == datetime(2024, 4, 1, tzinfo=UTC)
    assert parse_date_bound(date(2024, 3, 31), end=True) == datetime(2024, 4, 1, tzinfo=UTC)
    assert parse_date_bound("7d", end=True, now=NOW) == datetime(2025, 3, 24, 15, 30, tzinfo=UTC)
    naive = datetime(2024, 3, 1, 12)
    assert parse_date_bound(naive) == datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_option_bound_error_names_the_option():
    with pytest.raises(BadQuery, match=r"^--until expects a date"):
        parse_date_bound("next week", end=True)


def test_everything_combines():
    root = parse('"code freeze" OR thaw -draft from:ann group:dev after:30d kube*')
    assert isinstance(root, And)
    kinds = [type(node).__name__ for node in root.nodes]
    assert kinds == ["Or", "Not", "Term", "Field", "DateRange", "Term"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"code freeze', r"^unbalanced quote: the quote at position 1 is never closed$"),
        ('release "code', r"^unbalanced quote: the quote at position 9"),
        ("OR", r"^OR needs a term on both sides"),
        ("OR freeze", r"^OR needs a term on both sides"),
        ("freeze OR", r"^OR needs a term on both sides"),
        ("freeze OR OR thaw", r"^OR needs a term on both sides"),
        ("(freeze OR)", r"^OR needs a term on both sides"),
        ("AND freeze", r"^AND needs a term before it$"),
        ("freeze AND", r"^AND needs a term after it$"),
        ("NOT", r"^NOT needs a term after it"),
        ("freeze NOT", r"^NOT needs a term after it"),
        ("-", r"^'-' at position 1 must be followed by a word"),
        ("freeze - thaw", r"^'-' at position 8 must be followed by a word"),
        ("(freeze", r"^unbalanced parentheses: '\(' at position 1 is never closed$"),
        ("freeze)", r"^unbalanced parentheses: '\)' at position 7 has no '\('$"),
        ("()", r"^empty parentheses"),
        ('""', r"^empty quotes"),
        ("*", r"^'\*' at position 1 must follow a word"),
        ("freeze -", r"^'-' at position 8 must be followed by a word to exclude$"),
        ("+++", r"^'\+\+\+' has no letters or digits to search for$"),
        ("🎉", r"has no letters or digits to search for$"),
        ("from:", r"^from: needs a value right after the colon, e\.g\. from:alice$"),
        ("group: dev", r"^group: needs a value"),
        ("after:", r"^after: needs a value right after the colon, e\.g\. after:2024-03-01$"),
        ("after:yesterday", r"^after: expects a date like 2024-03-01 or a span like 7d"),
        ("before:2024/03/01", r"^before: expects a date like 2024-03-01"),
        ("on:2024-02-30", r"^2024-02-30 is not a date on the calendar$"),
        ("after:99999y", r"^after: expects a date"),
    ],
)
def test_malformed_queries_say_what_is_wrong(text, message):
    with pytest.raises(BadQuery, match=message) as caught:
        parse(text)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == EXIT_BAD_QUERY


def test_relative_dates_default_to_the_current_time():
    before = datetime.now(UTC)
    start = parse_query("after:0d").root.start
    assert before <= start <= datetime.now(UTC)
