"""The plugin as the server sees it: loaded through its ``memos.plugins`` entry point."""

import memos_core
from memos_core.plugins import load_plugins


def test_hooks_through_entry_point(tmp_path):
    plugins = load_plugins(memos_core.Config(data=str(tmp_path)))
    info = next(i for i in plugins.infos if i.name == "markdown")
    assert info.distribution == "memos-markdown"
    assert set(info.hooks) == {
        "memos_extract_payload",
        "memos_extract_mentions",
        "memos_generate_snippet",
        "memos_render_markdown",
        "memos_register_routes",
        "memos_cleanup_ctx",
    }

    hook = plugins.pm.hook
    content = "# Plan #work\n\n- [ ] ping @Alice about [the doc](https://h.example) `now`"
    assert hook.memos_extract_payload(content=content) == {
        "tags": ["work"],
        "property": {
            "hasLink": True,
            "hasTaskList": True,
            "hasCode": True,
            "hasIncompleteTasks": True,
            "title": "Plan",
        },
    }
    assert hook.memos_extract_mentions(content=content) == ["alice"]
    assert hook.memos_generate_snippet(content=content) == "Plan #work ping @Alice about the doc now"
    html = hook.memos_render_markdown(content=content, app=None, base_url="")
    assert '<a class="tag" href="/explore?tag=work">#work</a>' in html
    html = hook.memos_render_markdown(content=content, app=None, base_url="https://notes.example")
    assert '<a class="tag" href="https://notes.example/explore?tag=work">#work</a>' in html
    assert '<a class="mention" href="https://notes.example/u/alice">@Alice</a>' in html
