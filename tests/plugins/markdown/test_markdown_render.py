"""Safe HTML rendering: features render, and no active content survives (checked on parsed HTML)."""

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from memos_markdown.render import render_html as memos_render_markdown

ALLOWED_ATTRS = {
    "a": {"href", "title", "rel", "class"},
    "img": {"src", "alt", "title"},
    "input": {"class", "disabled", "type", "checked"},
    "code": {"class"},
    "ul": {"class"},
    "ol": {"class", "start"},
    "li": {"class"},
    "th": {"style"},
    "td": {"style"},
}
PLAIN_TAGS = {
    "p", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "s", "del", "blockquote", "br", "hr",
    "table", "thead", "tbody", "tr",
}  # fmt: skip


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.comments: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def handle_comment(self, data):
        self.comments.append(data)


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Collector()
    parser.feed(html)
    parser.close()
    assert not parser.comments
    return parser.elements


def _browser_scheme(url: str) -> str:
    """The scheme a browser would see: tabs/newlines removed, leading controls and spaces stripped."""
    cleaned = re.sub(r"[\t\n\r]", "", url).lstrip("".join(chr(c) for c in range(0x21)))
    return urlsplit(cleaned).scheme.lower()


def assert_inert(html: str) -> None:
    for tag, attrs in elements(html):
        assert tag in PLAIN_TAGS or tag in ALLOWED_ATTRS, f"unexpected element <{tag}> in {html!r}"
        allowed = ALLOWED_ATTRS.get(tag, set())
        for name, value in attrs.items():
            assert name in allowed, f"unexpected attribute {name}= on <{tag}> in {html!r}"
            assert not name.startswith("on")
            if name in ("href", "src"):
                assert value is not None
                assert _browser_scheme(value) in ("", "http", "https", "mailto"), f"unsafe URL {value!r}"
                assert not re.match(r"\s*(javascript|vbscript|data):", value, re.I)
            if name == "style":
                assert re.fullmatch(r"text-align:(left|right|center)", value or "")
        if tag == "input":
            assert attrs.get("type") == "checkbox" and "disabled" in attrs


XSS_CORPUS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<iframe src="javascript:alert(1)"></iframe>',
    "<style>body{display:none}</style>",
    '<a href="javascript:alert(1)">x</a>',
    "<a href=x onclick=alert(1)>click</a>",
    "<details open ontoggle=alert(1)>",
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<object data="javascript:alert(1)"></object>',
    "<base href=javascript:/>",
    "<form action=javascript:alert(1)><button>x</button></form>",
    "<!-- c --><script>alert(1)</script>",
    "text <span onmouseover=alert(1)>inline</span> html",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    '[x](javascript:alert(1) "title")',
    "[x](javascript&#58;alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;vascript:alert(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x](<java\tscript:alert(1)>)",
    "[x](java\nscript:alert(1))",
    "[x](\u0001javascript:alert(1))",
    "[x](java%0ascript:alert(1))",
    "[x](javascript://%0aalert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](VBScript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](DATA:text/html,<script>alert(1)</script>)",
    "[x][r]\n\n[r]: javascript:alert(1)",
    '[x](https://h.example "a\\" onmouseover=\\"alert(1)")',
    "![x](javascript:alert(1))",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    '![x" onerror="alert(1)](https://h.example/i.png)',
    "[<img src=x onerror=alert(1)>](https://h.example)",
    "<javascript:alert(1)>",
    "<vbscript:msgbox(1)>",
    '<https://ok.example/"onmouseover="alert(1)>',
    '```"><script>alert(1)</script>\ncode\n```',
    '```js" onclick="alert(1)\ncode\n```',
    "`<script>alert(1)</script>`",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "#<script>alert(1)</script>",
    '#"onmouseover=alert(1)',
    "| <script>alert(1)</script> | b |\n|---|---|\n| <img src=x onerror=alert(1)> | d |",
    "- [ ] <input type=text onfocus=alert(1) autofocus>",
]


@pytest.mark.parametrize("content", XSS_CORPUS)
def test_no_active_content(content):
    html = memos_render_markdown(content)
    assert_inert(html)
    assert "<script" not in html.lower()


def _links(html: str) -> list[dict[str, str | None]]:
    return [attrs for tag, attrs in elements(html) if tag == "a"]


@pytest.mark.parametrize(
    "content",
    ["[x](javascript:alert(1))", "[x](&#106;avascript:alert(1))", "[x](vbscript:x)", "<javascript:alert(1)>"],
)
def test_unsafe_links_keep_their_text_but_lose_the_anchor(content):
    html = memos_render_markdown(content)
    assert _links(html) == []
    assert "x" in html or "javascript" in html


def test_unsafe_image_renders_alt_text_only():
    html = memos_render_markdown("![the alt](javascript:alert(1))")
    assert [tag for tag, _ in elements(html)] == ["p"]
    assert "the alt" in html


def test_raw_html_is_escaped_not_dropped():
    assert memos_render_markdown("a <b>bold</b>") == "<p>a &lt;b&gt;bold&lt;/b&gt;</p>\n"
    assert memos_render_markdown("<div>x</div>") == "<p>&lt;div&gt;x&lt;/div&gt;</p>\n"


def test_tags_and_mentions_become_links():
    html = memos_render_markdown("#work/notes and #c++ by @Alice")
    assert _links(html) == [
        {"class": "tag", "href": "/explore?tag=work%2Fnotes"},
        {"class": "tag", "href": "/explore?tag=c%2B%2B"},
        {"class": "mention", "href": "/u/alice"},
    ]
    assert ">#work/notes</a>" in html and ">@Alice</a>" in html


def test_unicode_tag_is_url_encoded():
    html = memos_render_markdown("#测试")
    assert _links(html) == [{"class": "tag", "href": "/explore?tag=%E6%B5%8B%E8%AF%95"}]


def test_tag_inside_link_text_does_not_nest_anchors():
    html = memos_render_markdown("[see #x](https://h.example)")
    assert len(_links(html)) == 1
    assert "see #x" in html


def test_links_external_and_relative():
    html = memos_render_markdown("[ext](https://h.example/a?b=1) [rel](/memos/abc) [mail](mailto:a@b.example)")
    assert _links(html) == [
        {"href": "https://h.example/a?b=1", "rel": "noopener noreferrer nofollow"},
        {"href": "/memos/abc"},
        {"href": "mailto:a@b.example"},
    ]


def test_autolinks_and_linkify():
    html = memos_render_markdown("<https://a.example> https://b.example www.c.com d.com")
    hrefs = [a["href"] for a in _links(html)]
    assert hrefs == ["https://a.example", "https://b.example", "http://www.c.com"]
    assert all(a["rel"] == "noopener noreferrer nofollow" for a in _links(html))


def test_safe_image():
    html = memos_render_markdown('![a cat](https://h.example/cat.png "Cat")')
    assert elements(html)[1] == ("img", {"src": "https://h.example/cat.png", "alt": "a cat", "title": "Cat"})


def test_task_list_checkboxes_are_disabled():
    html = memos_render_markdown("- [ ] todo\n- [x] done")
    boxes = [attrs for tag, attrs in elements(html) if tag == "input"]
    assert len(boxes) == 2
    assert all(b["type"] == "checkbox" and "disabled" in b for b in boxes)
    assert "checked" not in boxes[0] and "checked" in boxes[1]


def test_table_and_strikethrough():
    html = memos_render_markdown("| a | b |\n|:--|--:|\n| ~~c~~ | d |")
    tags = [tag for tag, _ in elements(html)]
    assert tags[:3] == ["table", "thead", "tr"] and "td" in tags and "s" in tags
    assert ("th", {"style": "text-align:left"}) in elements(html)


def test_fenced_code_language_class_is_escaped():
    assert memos_render_markdown("```python\nx < 1\n```") == (
        '<pre><code class="language-python">x &lt; 1\n</code></pre>\n'
    )
    html = memos_render_markdown('```a"b\nx\n```')
    assert elements(html)[1] == ("code", {"class": 'language-a"b'})
    assert_inert(html)
