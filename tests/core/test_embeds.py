"""The page embeds in one statement (``store.embeds_for``) give exactly what the three queries it
replaces give (``reactions_for``, ``relations_for``, the attachments' ``for_memos``), row for row
and in the same order, for every kind of viewer, on every driver."""

from __future__ import annotations

import pytest

from memos_core import CONTEXT, Principal, tables
from memos_core.services import access
from memos_core.store import attachments as attachment_store
from memos_core.store import memos as memo_store
from memos_core.store import users as users_store

ATT = {"type": "text/plain", "size": 12, "storage_type": "LOCAL", "reference": "assets/x", "payload": '{"a":1}'}


async def seed(client, memos_users) -> dict[str, int]:
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await memos_users("root", role="ADMIN")
    store = client.app[CONTEXT].store
    visibilities = ["PUBLIC", "PROTECTED", "PRIVATE"]
    ids: dict[str, int] = {}
    async with store.connection():
        for i in range(12):
            owner = alice if i % 2 == 0 else bob
            ids[f"m{i}"] = await store.execute(
                tables.memo.insert().values(
                    uid=f"m{i}",
                    creator_id=owner.id,
                    created_ts=1000 + i,
                    updated_ts=1000 + i,
                    row_status="NORMAL",
                    content=f'memo {i} with "quotes" and ünïcode ✓\nline two',
                    visibility=visibilities[i % 3],
                    pinned=False,
                    payload="{}",
                )
            )
        for i in range(12):
            for j in ((i + 1) % 12, (i + 3) % 12, (i + 5) % 12):
                await store.execute(
                    tables.memo_relation.insert().values(
                        memo_id=ids[f"m{i}"], related_memo_id=ids[f"m{j}"], type="REFERENCE" if j % 2 else "COMMENT"
                    )
                )
            for k, who in enumerate((alice, bob)):
                if (i + k) % 3:
                    await store.execute(
                        tables.reaction.insert().values(
                            creator_id=who.id, content_id=f"memos/m{i}", reaction_type=["👍", "🎉"][k], created_ts=i
                        )
                    )
            for k in range(i % 3):
                await store.execute(
                    tables.attachment.insert().values(
                        uid=f"a{i}-{k}",
                        creator_id=alice.id,
                        created_ts=i,
                        updated_ts=100 - k if k else 100,  # ties on updated_ts: the id decides
                        filename=f"file {i}-{k}.txt",
                        memo_id=ids[f"m{i}"],
                        **ATT,
                    )
                )
        await store.execute(
            tables.attachment.insert().values(
                uid="unlinked", creator_id=alice.id, created_ts=0, updated_ts=0, filename="u", **ATT
            )
        )
    return ids


@pytest.mark.parametrize("viewer_name", [None, "alice", "bob", "root"])
@pytest.mark.parametrize("contents", [True, False])
async def test_one_statement_gives_what_three_did(memos_client, memos_users, viewer_name, contents):
    ids = await seed(memos_client, memos_users)
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        viewer = None
        if viewer_name:
            viewer = Principal(await users_store.get_user(store, username=viewer_name), "test")
        visible = lambda t: access.visible_clause(viewer, t)  # noqa: E731
        for page in (["m0", "m1", "m2", "m3"], [f"m{i}" for i in range(12)], ["m7"], []):
            page_ids = [ids[uid] for uid in page]
            before = store.statements
            reactions, relations, attachments = await memo_store.embeds_for(
                store, page_ids, page, access.visible_clause, viewer.id if viewer else None, contents=contents
            )
            assert store.statements - before == (1 if page else 0)
            assert reactions == await memo_store.reactions_for(store, page)
            expected = await memo_store.relations_for(store, page_ids, visible)
            if not contents:
                for r in expected:
                    r.memo_content = r.related_content = ""
            assert relations == expected
            assert attachments == await attachment_store.for_memos(store, page_ids)
            if len(page) == 12:
                assert reactions and relations and attachments  # the data set exercises every branch
