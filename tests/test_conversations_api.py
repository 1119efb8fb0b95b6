"""GET /api/conversations, GET /api/conversations/<id>, POST …/<id>/read (SPEC 15): filters, search, keyset
pages, unread counts, and one user's conversations invisible to another."""
import pytest

from tests.support.inbox import IG, PHONE, connect_ids, conversation, drain, ig_entry, ig_item, wa_messages
from tests.support.live import Browser
from tests.support.rows import user_id
from tests.support.webhooks import deliver


def ig_text(sender, mid, text, ts):
    return ig_entry(ig_item(sender, IG, 1733000000000 + ts * 1000, message={"mid": mid, "text": text}))


def wa_text(wa_id, name, wamid, text, ts):
    return wa_messages({"from": wa_id, "id": wamid, "timestamp": str(1733000000 + ts), "type": "text",
                        "text": {"body": text}}, contacts=[{"profile": {"name": name}, "wa_id": wa_id}])


@pytest.fixture
def owner(auth, sql):
    assert auth.register().status_code == 302
    user = user_id(sql, "owner@example.com")
    connect_ids(sql, user)
    return user


def test_list_newest_first_with_names_previews_unread_and_filters(server, settings, sql, browser, owner):
    deliver(server.url, ig_text("ig-anna", "m1", "Do you ship to Austria?", 10))
    deliver(server.url, wa_text("4915112345678", "Jonas Weber", "wamid.1", "Ist der Laden heute offen?", 20))
    deliver(server.url, ig_text("ig-anna", "m2", "And to Italy?", 30))
    drain(settings)
    listed = browser.api("GET", "/api/conversations").json()
    assert [c["contact"]["label"] for c in listed["conversations"]] == ["Instagram user anna", "Jonas Weber"]
    first = listed["conversations"][0]
    assert first["last_message"]["summary"] == "And to Italy?" and first["unread_count"] == 2
    assert listed["conversations"][1]["account_id"] == PHONE and listed["next_cursor"] is None

    only_wa = browser.api("GET", "/api/conversations?channel=whatsapp").json()["conversations"]
    assert [c["contact"]["name"] for c in only_wa] == ["Jonas Weber"]
    assert [c["channel"] for c in browser.api("GET", f"/api/conversations?account={IG}").json()["conversations"]] == [
        "instagram"]
    # q searches contact names and message text, case-insensitively; LIKE's wildcards are plain characters.
    assert [c["contact"]["label"] for c in browser.api("GET", "/api/conversations?q=jonas").json()[
        "conversations"]] == ["Jonas Weber"]
    assert [c["contact"]["label"] for c in browser.api("GET", "/api/conversations?q=ITALY").json()[
        "conversations"]] == ["Instagram user anna"]
    assert browser.api("GET", "/api/conversations?q=%25").json()["conversations"] == []

    # Opening a conversation and marking it read clears its badge; a new message brings it back.
    anna = first["id"]
    assert browser.api("POST", f"/api/conversations/{anna}/read").json() == {"id": anna, "unread_count": 0}
    assert [c["contact"]["label"] for c in browser.api("GET", "/api/conversations?unread=true").json()[
        "conversations"]] == ["Jonas Weber"]
    deliver(server.url, ig_text("ig-anna", "m3", "Hello?", 40))
    drain(settings)
    assert browser.api("GET", f"/api/conversations/{anna}").json()["unread_count"] == 1


def test_keyset_pages_cover_every_conversation_and_message_once(server, settings, sql, browser, owner):
    for n in range(7):
        deliver(server.url, ig_text(f"ig-{n}", f"m{n}", f"hello {n}", n))
    deliver(server.url, ig_entry(*[ig_item("ig-0", IG, 1733000100000 + i, message={"mid": f"x{i}", "text": f"t{i}"})
                                   for i in range(5)]))
    drain(settings)
    seen, cursor = [], None
    while True:
        page = browser.api("GET", "/api/conversations", params={"limit": 3, **({"before": cursor} if cursor else {})})
        body = page.json()
        seen += [c["contact"]["id"] for c in body["conversations"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == ["ig-0", "ig-6", "ig-5", "ig-4", "ig-3", "ig-2", "ig-1"]
    conv = conversation(browser, "ig-0")
    newest = browser.api("GET", f"/api/conversations/{conv['id']}?limit=4").json()
    assert [m["text"] for m in newest["messages"]] == ["t1", "t2", "t3", "t4"]   # oldest first within a page
    older = browser.api("GET", f"/api/conversations/{conv['id']}?limit=4&before={newest['next_cursor']}").json()
    assert [m["text"] for m in older["messages"]] == ["hello 0", "t0"] and older["next_cursor"] is None


def test_another_users_conversation_answers_404_and_is_never_listed(server, settings, sql, browser, owner):
    deliver(server.url, ig_text("ig-anna", "m1", "private to the owner", 1))
    drain(settings)
    mine = browser.api("GET", "/api/conversations").json()["conversations"][0]["id"]
    stranger = Browser(server.url)
    stranger.get("/auth/register")
    assert stranger.post_form("/auth/register", {"email": "other@example.com",
                                                 "password": "correct horse"}).status_code == 302
    assert stranger.api("GET", "/api/conversations").json() == {"conversations": [], "next_cursor": None}
    assert stranger.api("GET", "/api/conversations?q=private").json()["conversations"] == []
    for method, path in (("GET", f"/api/conversations/{mine}"), ("POST", f"/api/conversations/{mine}/read"),
                         ("GET", f"/api/conversations/{mine + 999}")):
        answer = stranger.api(method, path)
        assert answer.status_code == 404 and answer.json() == {"error": "No such conversation."}
    # Ids past bigint match no route at all (web/params.py's bounded <int:>): a JSON 404, never a 500.
    for method, path in (("GET", f"/api/conversations/{10**20}"), ("POST", f"/api/conversations/{10**20}/read")):
        answer = stranger.api(method, path)
        assert answer.status_code == 404 and "not found" in answer.json()["error"]
    assert stranger.get(f"/inbox/{mine}").status_code == 404
    assert browser.api("GET", f"/api/conversations/{mine}").json()["unread_count"] == 1   # untouched


@pytest.mark.parametrize("query", ["channel=telegram", "unread=maybe", "limit=0", "limit=x", "before=garbage",
                                   "q=%00", "kind=group", "q=" + "x" * 201])
def test_bad_filters_answer_400_with_a_message(browser, owner, query):
    answer = browser.api("GET", f"/api/conversations?{query}")
    assert answer.status_code == 400 and answer.json()["error"]


def test_conversations_need_a_login_and_read_needs_csrf(server, browser, owner):
    anonymous = Browser(server.url)
    assert anonymous.api("GET", "/api/conversations").status_code == 401
    assert anonymous.get("/inbox").status_code == 302
    assert browser.api("POST", "/api/conversations/1/read", csrf=False).status_code == 400
