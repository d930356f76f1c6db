"""HTML bodies to Markdown: exact output, quotes and footers, and content that must stay inert."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from archive.markdown import ZWSP, escape_markdown, html_to_markdown, inert_code, safe_url
from tests.helpers.bodies import ANNOUNCEMENT, ANNOUNCEMENT_MARKDOWN, FOOTER

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "google-groups"


REPLY = (
    '<div dir="ltr"><div>Confirmed fixed on arm64 &mdash; thanks!</div><br>'
    '<div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Mon, Jan 8, 2024 at '
    '9:00 AM Ann Author &lt;<a href data-email-masked rel="nofollow">ann.a...@example.com</a>'
    '&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0 0 0 .8ex">'
    '<div dir="ltr"><div>We are happy to announce <b>Demo v1.30.2</b>.</div>'
    "<ul><li><b>Fixed:</b> a race.</li></ul>"
    + FOOTER
    + "</div></blockquote></div>"
    + FOOTER
    + "</div>"
)


def test_announcement_round_trips_to_exact_markdown():
    assert html_to_markdown(ANNOUNCEMENT) == ANNOUNCEMENT_MARKDOWN


def test_quoted_reply_is_dropped_by_default():
    assert html_to_markdown(REPLY) == "Confirmed fixed on arm64 \u2014 thanks!"


def test_quoted_reply_is_kept_with_keep_quotes_and_only_the_outer_footer_goes():
    expected = (
        "Confirmed fixed on arm64 \u2014 thanks!\n"
        "\n"
        "On Mon, Jan 8, 2024 at 9:00 AM Ann Author &lt;ann.a...@example.com&gt; wrote:\n"
        "\n"
        "> We are happy to announce **Demo v1.30.2**.\n"
        ">\n"
        "> - **Fixed:** a race.\n"
        ">\n"
        "> \\--  \n"
        '> You received this message because you are subscribed to the Google Groups "Demo'
        ' announcements" group.  \n'
        "> To unsubscribe from this group and stop receiving emails from it, send an email"
        " to demo-announce+unsub...@googlegroups.com.  \n"
        "> To view this discussion visit <https://groups.google.com/d/msgid/demo-announce/x>."
    )
    assert html_to_markdown(REPLY, keep_quotes=True) == expected


def test_footer_after_a_list_footer_and_triple_dash_separator_is_dropped():
    # The shape of a real footer (systems-neuroscience, 2025): the list's own footer
    # after "-- ", then "--- " and Google's. Both go, as in the stored plain text and
    # the feed: the list's footer names the group too.
    html = (
        "<div>See you there.</div>"
        '<p class="MsoNormal">-- <br>Systems Neuroscience mailing list: '
        '<a href="http://www.systemsneuroscience.eu">www.systemsneuroscience.eu</a><br>'
        "--- <br>You received this message because you are subscribed to the Google Groups "
        "&quot;Systems Neuroscience&quot; group.<br>To unsubscribe ...</p>"
    )
    assert html_to_markdown(html) == "See you there."


def test_web_reply_with_bare_attribution_before_the_quote():
    html = (
        '<div dir="ltr">P.S. I run CentOS 7.3<br><br>On Tuesday, August 1, 2017 at '
        '11:13:43 AM UTC-4, George Zaki wrote:<blockquote class="gmail_quote">'
        "<div>Hi group,</div></blockquote></div>"
    )
    assert html_to_markdown(html) == "P.S. I run CentOS 7.3"
    kept = html_to_markdown(html, keep_quotes=True)
    assert kept == (
        "P.S. I run CentOS 7.3\n\n"
        "On Tuesday, August 1, 2017 at 11:13:43 AM UTC-4, George Zaki wrote:\n\n"
        "> Hi group,"
    )


def test_other_mail_clients_quotes_and_googles_trimmed_wrapper_are_dropped():
    html = (
        "<div>Mine.</div>"
        '<div class="moz-cite-prefix">On 1/2/24 Ann wrote:</div>'
        '<blockquote type="cite">Thunderbird quote</blockquote>'
        '<div class="wqmMgb"><div role="button" aria-label="Show trimmed content"></div>'
        "<div>trimmed part</div></div>"
    )
    assert html_to_markdown(html) == "Mine."
    kept = html_to_markdown(html, keep_quotes=True)
    assert "Thunderbird quote" in kept and "trimmed part" in kept
    assert "Show trimmed content" not in kept


def test_a_plain_blockquote_in_an_announcement_is_content_and_stays():
    html = "<p>From the changelog:</p><blockquote><p>Faster <b>sync</b>.</p></blockquote>"
    assert html_to_markdown(html) == "From the changelog:\n\n> Faster **sync**."


def test_headings_ordered_lists_nested_lists_and_code_blocks():
    html = (
        "<h1>Title</h1><h3>Part</h3><ol><li>one<ul><li>a</li></ul></li><li>two</li></ol>"
        "<pre><code>$ make &amp;&amp; make install\n  indented</code></pre>"
    )
    assert html_to_markdown(html) == (
        "# Title\n\n### Part\n\n1. one\n   - a\n2. two\n\n"
        "```\n$ make && make install\n  indented\n```"
    )


def test_masked_addresses_stay_masked_and_are_not_links():
    html = (
        '<div>Ask <a href data-email-masked rel="nofollow">yuan...@gmail.com</a> or '
        '<a href="mailto:dev...@example.org">dev...@example.org</a></div>'
    )
    assert html_to_markdown(html) == (
        "Ask yuan...@gmail.com or [dev...@example.org](mailto:dev...@example.org)"
    )


def test_empty_bodies():
    assert html_to_markdown("") == ""
    assert html_to_markdown("   ") == ""
    assert html_to_markdown("<div><br></div>") == ""


# --- hostile content ---------------------------------------------------------------------


def test_escaped_script_stays_text():
    out = html_to_markdown("<p>Do not write &lt;script&gt;alert(1)&lt;/script&gt; here</p>")
    assert out == "Do not write &lt;script>alert(1)&lt;/script> here"


def test_raw_active_html_never_passes_through():
    html = (
        "<div>safe<script>alert(1)</script><style>body{}</style>"
        '<iframe src="https://evil.example/">frame text</iframe>'
        '<object data="x.swf">obj</object><embed src="y"><form><input value="v"></form>'
        '<img src="javascript:alert(2)" onerror="alert(2)" alt="pic">'
        "<svg><script>alert(3)</script></svg><!-- <script>alert(4)</script> -->"
        '<b onclick="alert(5)">bold</b> <img src="https://e.example/i.png" onerror="alert(6)">'
        "<audio><source src=a.mp3>sound</audio></div>"
    )
    out = html_to_markdown(html)
    assert out == "safepic**bold** ![](https://e.example/i.png)"


def test_cdata_and_processing_instructions_leave_no_markup():
    out = html_to_markdown("<p>a<![CDATA[<script>alert(1)</script>]]><?php echo 1 ?>b</p>")
    assert "<" not in out and "script" not in out.replace("&lt;script", "")


def test_unsafe_link_targets_keep_only_their_text():
    html = (
        '<a href="javascript:alert(1)">a</a> <a href="java\tscript:alert(1)">b</a> '
        '<a href=" JaVaScRiPt:alert(1)">c</a> <a href="data:text/html,<script>">d</a> '
        '<a href="vbscript:x">e</a> <img src="data:image/png;base64,xx" alt="pic">'
    )
    assert html_to_markdown(html) == "a b c d e pic"


def test_link_targets_cannot_break_out_or_carry_template_syntax():
    html = '<a href="https://e.example/a b)(c){{x}}{%y%}<z>">ok</a>'
    assert html_to_markdown(html) == (
        "[ok](https://e.example/a%20b%29%28c%29%7B%7Bx%7D%7D%7B%y%%7D%3Cz%3E)"
    )


def test_relative_links_resolve_against_google_groups():
    html = '<a href="./g/demo/c/abc">thread</a>'
    assert html_to_markdown(html) == "[thread](https://groups.google.com/g/demo/c/abc)"


def test_liquid_and_shortcodes_in_prose_become_entities():
    html = "<p>Use {{ site.title }} or {% include x.html %}, {{< youtube id >}} and {: .x}</p>"
    assert html_to_markdown(html) == (
        "Use &#123;{ site.title }} or &#123;% include x.html %}, &#123;{&lt; youtube id >}}"
        " and &#123;: .x}"
    )


def test_liquid_split_across_elements_is_still_broken():
    out = html_to_markdown("<p>{<span>{ page.x }}</span></p>")
    assert "{{" not in out
    assert out == "&#123;{ page.x }}"


def test_liquid_in_code_gets_an_invisible_break():
    out = html_to_markdown("<p><code>{{ x }}</code></p><pre>{% raw %}\n{{< sc >}}</pre>")
    assert out == f"`{{{ZWSP}{{ x }}}}`\n\n```\n{{{ZWSP}% raw %}}\n{{{ZWSP}{{< sc >}}}}\n```"
    assert "{{" not in out and "{%" not in out


def test_code_fence_is_longer_than_any_backtick_run_inside():
    out = html_to_markdown("<pre>a ``` b\n```` c</pre><p>after &lt;b&gt;</p>")
    assert out == "`````\na ``` b\n```` c\n`````\n\nafter &lt;b>"


def test_text_that_looks_like_markdown_stays_text():
    html = (
        "<p>[click](javascript:alert(1)) *not bold* `not code` \\n $$x$$ &amp;lt;</p>"
        "<p># not a heading</p><p>&gt; not a quote</p><p>- not a list</p>"
        "<p>2024. not a list</p><p>===</p>"
    )
    assert html_to_markdown(html) == (
        "\\[click\\](javascript:alert(1)) \\*not bold\\* \\`not code\\` \\\\n \\$\\$x\\$\\$"
        " &amp;lt;\n\n\\# not a heading\n\n&gt; not a quote\n\n\\- not a list\n\n"
        "2024\\. not a list\n\n\\==="
    )


def test_control_characters_are_dropped():
    assert html_to_markdown("<p>a\x1b[31mb\x07c</p>") == "a\\[31mbc"


def _render_commonmark(markdown: str) -> str:
    markdown_it = pytest.importorskip("markdown_it")
    return markdown_it.MarkdownIt("commonmark", {"html": True}).render(markdown)


def test_rendered_hostile_markdown_has_no_tags_or_script_links():
    html = (
        "<div>&lt;script&gt;alert(1)&lt;/script&gt;<script>alert(2)</script>"
        '<iframe src="https://evil.example/"></iframe>&lt;img src=x onerror=alert(3)&gt;'
        '<a href="javascript:alert(4)">x</a> [y](javascript:alert(5)) '
        "&lt;https://autolink.example&gt; {{ liquid }}</div>"
    )
    rendered = _render_commonmark(html_to_markdown(html))
    assert rendered == (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(3)&gt;x"
        " [y](javascript:alert(5)) &lt;https://autolink.example&gt; {{ liquid }}</p>\n"
    )


def test_rendered_announcement_has_the_same_visible_structure():
    rendered = _render_commonmark(ANNOUNCEMENT_MARKDOWN)
    assert "<h2>Demo v1.30.2 released</h2>" in rendered
    assert '<a href="https://example.org/blog/v1.30.2">release blog</a>' in rendered
    assert "<li><strong>Fixed:</strong> a race in the sync loop.</li>" in rendered
    assert "<code>--since</code>" in rendered
    assert "Thanks,<br />\nThe release team" in rendered


# --- helpers -------------------------------------------------------------------------------


def test_escape_markdown_for_subjects_and_names():
    assert escape_markdown("[ANN] v1.0 *final* <b> {{x}}") == (
        "\\[ANN\\] v1.0 \\*final\\* &lt;b> &#123;{x}}"
    )
    assert escape_markdown("") == ""


def test_inert_code_only_touches_template_openers():
    assert inert_code("{ a } {{b}} {%c%}") == f"{{ a }} {{{ZWSP}{{b}}}} {{{ZWSP}%c%}}"


def test_safe_url():
    assert safe_url("https://example.org/a?b=1&c=2#d") == "https://example.org/a?b=1&c=2#d"
    assert safe_url("mailto:x@example.org") == "mailto:x@example.org"
    assert safe_url("https://www.google.com/url?q=https://x.example/y&sa=D") == (
        "https://x.example/y"
    )
    # A redirect to something that is not a web page is not unwrapped into it.
    assert safe_url("https://www.google.com/url?q=javascript:alert(1)") == (
        "https://www.google.com/url?q=javascript:alert%281%29"
    )
    for bad in (
        "",
        None,
        "javascript:x",
        " javascript:x",
        "\njavascript:x",
        "data:,x",
        "file:///etc",
    ):
        assert safe_url(bad) is None


# --- a real message --------------------------------------------------------------------------


def test_real_web_posted_reply_drops_its_quote():
    path = FIXTURES / "raw-rfc822" / "vsoch_lbl.gov_singularity_0x_UuhkqsNk_5xiS6hFLAAAJ.eml"
    if not path.exists():
        pytest.skip("shared fixtures are not beside the checkout")
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    html = next(
        part.get_content() for part in message.walk() if part.get_content_type() == "text/html"
    )
    assert html_to_markdown(html) == "P.S. I am running CentOS Linux release 7.3.1611"
    kept = html_to_markdown(html, keep_quotes=True)
    assert kept.startswith(
        "P.S. I am running CentOS Linux release 7.3.1611\n\n"
        "On Tuesday, August 1, 2017 at 11:13:43 AM UTC-4, George Zaki wrote:\n\n"
        "> Hi singularity group,\n"
    )
    # The quoted command lines are a code block inside the quote, links unwrapped.
    assert "> ```\n> git clone https://github.com/singularityware/singularity.git\n" in kept
    assert "onmousedown" not in kept


def test_absurdly_deep_nesting_falls_back_to_escaped_text():
    html = "<div>" * 3000 + "deep &lt;b&gt; *text*" + "</div>" * 3000 + "<p>after</p>"
    assert html_to_markdown(html) == "deep &lt;b> \\*text\\*\n\nafter"


def test_pipes_and_edge_underscores_stay_text_in_commonmark():
    html = "<p>Run ps aux | grep x</p><p>a | b</p><p>__init__.py and _word_ and snake_case</p>"
    markdown = html_to_markdown(html)
    assert markdown == (
        "Run ps aux \\| grep x\n\na \\| b\n\n\\_\\_init\\_\\_.py and \\_word\\_ and snake_case"
    )
    markdown_it = pytest.importorskip("markdown_it")
    rendered = markdown_it.MarkdownIt("commonmark").enable("table").render(markdown)
    assert rendered == (
        "<p>Run ps aux | grep x</p>\n<p>a | b</p>\n"
        "<p>__init__.py and _word_ and snake_case</p>\n"
    )


def test_a_table_cell_pipe_is_escaped_once():
    out = html_to_markdown("<table><tr><th>a|b</th></tr><tr><td>c | d</td></tr></table>")
    assert "a\\|b" in out and "c \\| d" in out and "\\\\|" not in out
