"""The benchmark code paths, run end to end on tiny sizes so they never rot.

No timing is asserted here (speed belongs in bench/); what is checked is that each
benchmark measured what it claims to: the right number of messages, requests and
hits, and a table with a row for every target.
"""

from __future__ import annotations

import json

import pytest

from bench import corpus, run


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    return run.run(run.Plan.tiny(), out=out, command="smoke")


def test_results_are_written_as_json_with_a_table(document):
    with open(document["path"]) as file:
        saved = json.load(file)
    assert saved["command"] == "smoke"
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["sqlite"]
    rows = [line for line in saved["table"].splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(saved["figures"])  # header + one row per figure
    for figure in saved["figures"]:
        assert figure["verdict"] in ("met", "**missed**", "reported")


def test_every_target_of_the_issue_has_a_row(document):
    names = " ".join(f["figure"] for f in document["figures"])
    for expected in (
        "thread-page parsing",
        "first sync",
        "50 ms latency",
        "nothing new",
        "rare word",
        "phrase",
        "from:",
        "date range",
        "identifier",
        ">10% word, by relevance",
        ">10% word, --sort date",
        "as a whole process",
        "size on disk",
        "peak RSS",
    ):
        assert expected in names, expected


def test_parsing_covers_every_message_of_every_page(document):
    parsing = document["raw"]["parsing"]
    assert parsing["pages"] == 2
    assert parsing["messages"] == 100
    assert parsing["seconds_parse_and_text"] > 0 and parsing["seconds_bare_lxml"] > 0


def test_syncs_fetch_each_thread_once_and_a_sync_with_nothing_new_costs_one_request(document):
    sync = document["raw"]["sync"]
    first = sync["first"][200]
    # 4 threads of 50 messages and one group page (the list fits on it).
    assert first["requests"] == 5
    assert all(r["new_messages"] == 200 for r in first["runs"])
    # Peak memory is the sync process's own high-water mark, not its parent's.
    assert {r["rss_source"] for r in first["runs"]} == {"VmHWM"}
    assert first["max_rss_mb"] > 0
    assert {n["requests"] for n in sync["noop"].values()} == {1}
    assert sync["fetch_baseline"]["requests"] == 4
    assert sync["size"]["messages"] == 200 and sync["size"]["body_html_bytes"] > 0


def test_the_latency_run_uses_the_default_delay_and_accounts_for_its_time(document):
    slow = document["raw"]["sync"]["latency_default"]
    fast = document["raw"]["sync"]["latency_no_delay"]
    assert slow["delay"] > 0 and fast["delay"] == 0
    assert slow["requests"] == 2  # the group page, then one thread
    # The wait between the two requests is the throttle's, and no stage is negative.
    assert slow["stages"]["throttle"] > 0.5 * slow["delay"]
    assert fast["stages"]["throttle"] == 0
    assert slow["stages"]["http"] > 0 and slow["stages"]["parse"] > 0
    assert slow["stages"]["save"] > 0 and slow["stages"]["text"] > 0


def test_search_finds_the_planted_identifier_and_not_its_near_miss(document):
    classes = document["raw"]["search"][300]["classes"]
    identifier = classes["identifier"]
    assert identifier["queries"] == [corpus.IDENTIFIER, corpus.NEAR_MISSES[0]]
    # 300 messages: the identifier is planted 3 times, each near miss once.
    assert identifier["hits_shown"] == [3, 1]
    for label, numbers in classes.items():
        assert numbers["samples"] >= 1, label
        assert any(numbers["hits_shown"]), label


def test_readme_table_is_replaced_between_its_markers(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(
        f"intro\n{run.RESULTS_START}\nold table\n{run.RESULTS_END}\n"
        f"{run.FULL_START}\nold full table\n{run.FULL_END}\nafter\n"
    )
    monkeypatch.setattr(run, "README", readme)
    run.write_readme("| new | table |")
    text = readme.read_text()
    assert "old table" not in text and "old full table" in text
    assert text.startswith("intro\n") and text.endswith("after\n")
    assert f"{run.RESULTS_START}\n| new | table |\n{run.RESULTS_END}" in text
    run.write_readme("| full |", full=True)
    assert f"{run.FULL_START}\n| full |\n{run.FULL_END}" in readme.read_text()
    assert "| new | table |" in readme.read_text()


def test_the_big_message_is_searched_and_shown_and_deep_nesting_sanitised(document):
    hostile = document["raw"]["hostile"]
    big = hostile["big_message"]
    assert big["bytes"] >= 1_000_000 and big["words"] > 0
    # the big message is among the results shown (with its snippet) for many queries
    assert 0 < big["big_shown"] <= big["queries"]
    assert big["samples"] == big["queries"]  # one repetition each in the tiny plan
    assert hostile["nesting"]["depth"] == 2_000 and hostile["nesting"]["nested_s"] > 0
    names = " ".join(f["figure"] for f in document["figures"])
    assert "MB message holding every query word" in names and "nested <div>s" in names


def test_mail_race_on_the_fixture(tmp_path, monkeypatch):
    import lzma
    from pathlib import Path

    from bench import mail_race

    corpus = tmp_path / "list.mbox.xz"
    fixture = Path(__file__).parent / "mail" / "list.mboxrd"
    corpus.write_bytes(lzma.compress(fixture.read_bytes() * 1))
    monkeypatch.setattr(mail_race, "WORK", tmp_path / "race")
    monkeypatch.setattr(mail_race, "OUT", tmp_path)
    results = mail_race.main(["--corpus", str(corpus), "--no-install", "--no-search"])
    ours = [r for r in results if r["tool"].startswith("listarchive")]
    assert [r["messages"] for r in ours] == [9, 9, 2]
    assert all(r["ok"] and r["disk_bytes"] > 0 for r in results), results


def test_save_probe_saves_every_message_it_reads():
    from pathlib import Path

    from bench import save_probe

    fixture = Path(__file__).parent / "mail" / "list.mboxrd"
    read = sum(len(t.messages) for t in save_probe.threads(fixture, 1000, 4))
    got = save_probe.probe(fixture, 1000, per_thread=4)
    assert read == 9 and got["messages"] == read  # the fixture holds nine messages
    assert got["seconds"] > 0 and got["cpu_seconds"] >= 0


def test_corpus_sync_archives_every_message_of_the_fixture():
    from pathlib import Path

    from bench import corpus_sync

    fixture = Path(__file__).parent / "mail" / "list.mboxrd"
    got = corpus_sync.measure(fixture, None, probe=False)
    assert got["messages"] == 9 and got["status"] == "ok"  # the fixture holds nine messages
    assert got["client_cpu"] > 0 and got["simulator_cpu"] >= 0


def test_corpus_sync_says_when_the_corpus_is_absent(tmp_path, capsys):
    from bench import corpus_sync

    assert corpus_sync.main(["--corpus", str(tmp_path / "none.mbox.xz")]) == 0
    assert "skipped: no corpus at" in capsys.readouterr().err


def _mail(
    message_id: str,
    date: str,
    body: str,
    *,
    subject: str = "a note",
    sender: str = "Ann <ann@example.com>",
    head: str = "",
) -> str:
    return (
        f"From ann@example.com Mon Jan  1 00:00:00 2024\n"
        f"From: {sender}\nSubject: {subject}\nDate: {date}\n"
        f"Message-ID: <{message_id}>\nList-Id: <list.example.org>\n{head}\n{body}\n\n"
    )  # fmt: skip


def test_count_check_agrees_with_listarchive_on_each_kind_of_message(tmp_path):
    import base64

    from bench import count_check

    boundary = "b0"
    attachment = (
        'Content-Type: multipart/mixed; boundary="b0"\n',
        f"--{boundary}\nContent-Type: text/plain\n\nnothing here\n"
        f"--{boundary}\nContent-Type: text/plain\nContent-Disposition: attachment;"
        f' filename="a.txt"\n\ndriver regmap\n--{boundary}--\n',
    )
    latin = base64.b64encode("Le Driver écrit".encode("latin-1")).decode()
    mbox = "".join((
        _mail("1@x", "Sun, 01 Jan 2023 00:00:00 +0000", "a driver with clock stretching",
              subject="regmap cleanup", sender="Wolfram Sang <wsa@kernel.org>"),
        _mail("2@x", "Sun, 31 Dec 2023 23:30:00 -0100", "see regmap_read",
              sender="wsa@kernel.org"),
        _mail("3@x", "Thu, 01 Jun 2023 12:00:00 +0000",
              "<p>clock <b>stretching</b></p><style>p { driver: 1 }</style>",
              head="Content-Type: text/html; charset=utf-8\n"),
        _mail("4@x", "Sat, 01 Jan 2022 00:00:00 +0000", attachment[1],
              head="MIME-Version: 1.0\n" + attachment[0]),
        _mail("1@x", "Sat, 01 Jan 2022 00:00:00 +0000", "drivers, a second copy"),
        _mail("6@x", "Sat, 01 Jan 2022 00:00:00 +0000", "fixed",
              subject="=?utf-8?q?R=C3=A9gmap_fix?="),
        _mail("7@x", "Sat, 01 Jan 2022 00:00:00 +0000", latin,
              head="Content-Type: text/plain; charset=latin-1\n"
                   "Content-Transfer-Encoding: base64\n"),
    ))  # fmt: skip
    corpus = tmp_path / "list.mbox"
    corpus.write_text(mbox)
    rows = {row["query"]: row for row in count_check.run(corpus, None)}
    # What each rule must find, by construction of the messages above.
    expected = {"regmap": 3, "driver": 2, '"clock stretching"': 2, "from:wsa@kernel.org": 2,
                "after:2023-01-01 before:2024-01-01": 2}  # fmt: skip
    assert {q: r["independent"] for q, r in rows.items()} == expected
    for row in rows.values():
        assert row["listarchive"] == row["independent"], row
        assert row["only_independent_count"] == row["only_listarchive_count"] == 0, row
    regmap = rows["regmap"]
    xapian = (regmap["xapian"], regmap["xapian_every_part"], regmap["only_in_identifiers"])
    assert xapian == (2, 3, 1)  # 1 and 6; and 4's attachment; 2's regmap_read
    # 1, 7, the markup of 3 and the attachment of 4; not the second copy of 1.
    assert rows["driver"]["xapian_stemmed_every_part"] == 4


def test_count_check_says_when_the_corpus_is_absent(tmp_path, capsys):
    from bench import count_check

    assert count_check.main(["--corpus", str(tmp_path / "none.mbox.xz")]) == 0
    assert "skipped: no corpus at" in capsys.readouterr().err
