"""Message bodies as Google delivers them, with what Markdown makes of them."""

from __future__ import annotations

FOOTER = (
    "<p></p>-- <br>You received this message because you are subscribed to the Google "
    "Groups &quot;Demo announcements&quot; group.<br>To unsubscribe from this group and stop "
    "receiving emails from it, send an email to "
    '<a href data-email-masked rel="nofollow">demo-announce+unsub...@googlegroups.com</a>.<br>'
    'To view this discussion visit <a href="https://groups.google.com/d/msgid/demo-announce/x">'
    "https://groups.google.com/d/msgid/demo-announce/x</a>.<br>"
)


ANNOUNCEMENT = (
    '<div dir="ltr"><h2>Demo v1.30.2 released</h2>'
    "<div>Hi all,</div><div><br></div>"
    "<div>We are happy to announce <b>Demo v1.30.2</b>. Read the "
    '<a href="https://www.google.com/url?q=https://example.org/blog/v1.30.2&amp;sa=D">'
    "release blog</a> for <i>all</i> the details. Highlights:</div>"
    "<ul><li><b>Fixed:</b> a race in the sync loop.</li>"
    "<li><b>Added:</b> the <code>--since</code> flag.</li>"
    '<li><b>Security:</b> see <a href="https://example.org/cve">CVE-2024-3177</a>.</li></ul>'
    '<div>Binaries: <a href="https://example.org/releases/v1.30.2">'
    "https://example.org/releases/v1.30.2</a></div>"
    "<div><br></div><div>Thanks,<br>The release team</div>" + FOOTER + "</div>"
)


ANNOUNCEMENT_MARKDOWN = """\
## Demo v1.30.2 released

Hi all,

We are happy to announce **Demo v1.30.2**. Read the [release blog](https://example.org/blog/v1.30.2) for *all* the details. Highlights:

- **Fixed:** a race in the sync loop.
- **Added:** the `--since` flag.
- **Security:** see [CVE-2024-3177](https://example.org/cve).

Binaries: <https://example.org/releases/v1.30.2>

Thanks,  
The release team"""  # noqa: E501, W291 (one line per paragraph; "  " is a hard break)
