"""Tags, mentions, property, title and snippets."""

import pytest
from memos_markdown import (
    memos_extract_mentions,
    memos_extract_payload,
    memos_generate_snippet,
)
from memos_markdown.extract import analyze_uncached

ZWJ_FAMILY = "👨\u200d👩\u200d👧\u200d👦"

TAG_CASES = [
    ("#tag", ["tag"]),
    ("#work-notes #2024_plans #science&tech", ["work-notes", "2024_plans", "science&tech"]),
    ("#123", ["123"]),
    ("#tag.", ["tag"]),
    ("#one, #two; #three!", ["one", "two", "three"]),
    ("# Title", []),
    ("#", []),
    ("# ", []),
    ("a lone # here", []),
    ("## Plan #work", ["work"]),
    ("abc#tag", ["tag"]),
    ("#tag@special", ["tag"]),
    ("#测试 some text", ["测试"]),
    ("#测试。后面", ["测试"]),
    ("#標籤，更多", ["標籤"]),
    ("#日本「語」", ["日本"]),
    ("#テスト #테스트", ["テスト", "테스트"]),
    ("#test🚀", ["test🚀"]),
    ("#test👁️ eye", ["test👁️"]),
    (f"#family{ZWJ_FAMILY} end", [f"family{ZWJ_FAMILY}"]),
    ("#cafe\u0301 x", ["cafe\u0301"]),
    ("#c++ and #a+b=c^d|e~f$g", ["c++", "a+b=c^d|e~f$g"]),
    ("#work/notes/2024 x", ["work/notes/2024"]),
    ("#project/2024.", ["project/2024"]),
    ("#Tag #tag #Tag", ["Tag", "tag"]),
    ("#tag#more", ["tag", "more"]),
    # The first "#" is refused (next char is "#"), the second one starts a tag, as in goldmark.
    ("##tag", ["tag"]),
    ("#tag\u00a0after", ["tag"]),
    ("**#bold** _#it_", ["bold", "it_"]),
    ("`#code` and #real", ["real"]),
    ("```\n#fenced\n```", []),
    ("    #indented", []),
    ("[x](http://h/#frag)", []),
    ("[#linked](http://h/)", ["linked"]),
    ("https://example.com/#anchor", []),
    ("see www.example.com/#anchor", []),
    ("<https://example.com/#x>", []),
    ('<a href="#x">y</a>', []),
    ("\\#escaped", []),
    ("> quote #q", ["q"]),
    ("| a | #cell |\n|---|---|\n| #row | b |", ["cell", "row"]),
    ("- [ ] task #todo", ["todo"]),
    ("first line\n#second", ["second"]),
    ("#" + "a" * 100, ["a" * 100]),
    ("#" + "b" * 101, ["b" * 100]),
    ("#" + "字" * 101, ["字" * 100]),
]


@pytest.mark.parametrize(("content", "tags"), TAG_CASES)
def test_tags(content, tags):
    assert memos_extract_payload(content).get("tags", []) == tags


MENTION_CASES = [
    ("@alice", ["alice"]),
    ("hi @Alice and @BOB", ["alice", "bob"]),
    ("@alice @Alice @ALICE", ["alice"]),
    ("me@example.com", []),
    ("(@bob)", ["bob"]),
    ("foo,@bar", ["bar"]),
    ("1+@sym", ["sym"]),
    ("@-", []),
    ("@--a", ["--a"]),
    ("@alice_bob", ["alice"]),
    ("@名前 さん", ["名前"]),
    ("@" + "x" * 40, ["x" * 32]),
    ("`@code`", []),
    ("```\n@fenced\n```", []),
    ("https://x.com/@bob", []),
    ("www.x.com/@bob", []),
    ("line\n@next", ["next"]),
    ("[@linked](http://h/)", ["linked"]),
]


@pytest.mark.parametrize(("content", "mentions"), MENTION_CASES)
def test_mentions(content, mentions):
    assert memos_extract_mentions(content) == mentions


PROPERTY_CASES = [
    ("[x](https://h)", {"hasLink": True}),
    ("[x][r]\n\n[r]: https://h", {"hasLink": True}),
    ("[x](javascript:alert(1))", {"hasLink": True}),
    ("https://h.example", {}),
    ("<https://h.example>", {}),
    ("www.h.example", {}),
    ("me@example.com", {}),
    ("![img](https://h/x.png)", {}),
    ("`x`", {"hasCode": True}),
    ("```py\nx = 1\n```", {"hasCode": True}),
    ("    indented code", {"hasCode": True}),
    ("- [ ] a", {"hasTaskList": True, "hasIncompleteTasks": True}),
    ("- [x] a", {"hasTaskList": True}),
    ("- [X] a\n- [ ] b", {"hasTaskList": True, "hasIncompleteTasks": True}),
    ("- [] not a task", {}),
    ("# Title\n\nbody", {"title": "Title"}),
    ("Setext title\n===", {"title": "Setext title"}),
    ("## Sub", {}),
    ("intro\n\n# Late", {}),
    ("# Hello `code` *em*", {"hasCode": True, "title": "Hello code em"}),
    ("", {}),
]


@pytest.mark.parametrize(("content", "prop"), PROPERTY_CASES)
def test_property(content, prop):
    assert memos_extract_payload(content).get("property", {}) == prop


def test_payload_shape_omits_empty_parts():
    assert memos_extract_payload("plain text") == {}
    assert memos_extract_payload("#a [x](https://h)") == {"tags": ["a"], "property": {"hasLink": True}}
    assert memos_extract_payload("# T #x\n\n- [ ] `c` [l](/r)") == {
        "tags": ["x"],
        "property": {"hasLink": True, "hasTaskList": True, "hasCode": True, "hasIncompleteTasks": True, "title": "T"},
    }


def test_results_are_copies_of_the_cache():
    content = "#keep @me"
    memos_extract_payload(content)["tags"].append("junk")
    memos_extract_mentions(content).clear()
    assert memos_extract_payload(content) == {"tags": ["keep"]}
    assert memos_extract_mentions(content) == ["me"]


SNIPPET_CASES = [
    ("hello world", "hello world"),
    ("# Title\n\nBody text", "Title Body text"),
    ("a\n\n```\ncode block\n```\n\nb", "a b"),
    ("a\n\n    indented\n\nb", "a b"),
    ("use `x()` here", "use x() here"),
    ("#tag text", "#tag text"),
    ("@alice hi", "@alice hi"),
    ("<https://h.example/x>", "https://h.example/x"),
    ("**bold** and [link](https://h) ~~gone~~", "bold and link gone"),
    ("line one\nline two", "line one line two"),
    ("- a\n- b\n\n| h1 | h2 |\n|---|---|\n| c | d |", "a b h1 h2 c d"),
    ("- [ ] buy milk\n- [x] done", "buy milk done"),
    ("> quoted\n\nafter", "quoted after"),
    ("<div>raw html block</div>\n\ntext", "text"),
    ("a &amp; b", "a & b"),
    ("", ""),
    ("x" * 64, "x" * 64),
    ("word " * 20, " ".join(["word"] * 12) + " ..."),
    ("中" * 70, "中" * 64 + " ..."),
    ("😀 " * 40, " ".join(["😀"] * 32) + " ..."),
    ("```\n" + "code " * 40 + "\n```\n\nshort", "short"),
    (" ".join(["é"] * 40), " ".join(["é"] * 32) + " ..."),
]


@pytest.mark.parametrize(("content", "snippet"), SNIPPET_CASES)
def test_snippet(content, snippet):
    assert memos_generate_snippet(content) == snippet


def test_snippet_counts_runes_not_bytes():
    # 40 list items of two CJK runes (6 bytes each): far past 64 runes, so the cut happens.
    content = "\n".join(["- 中文"] * 40)
    snippet = memos_generate_snippet(content)
    assert snippet.endswith(" ...")
    assert len(snippet) <= 64 + len(" ...")
    assert snippet == " ".join(["中文"] * 21) + " ..."


def test_cache_returns_same_analysis():
    from memos_markdown.extract import analyze

    content = "cached #x"
    assert analyze(content) is analyze(content)
    assert analyze(content) == analyze_uncached(content)
