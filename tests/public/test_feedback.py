"""Leaders see negative ratings and complaints of their departments' dossiers and record the follow-up."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from dossiers import feedback
from dossiers.models import Rating
from dossiers.public import rate
from engine.actors import Actor
from engine.errors import EngineError, NotFound
from engine.models import EventLogEntry
from tests.dossiers.conftest import LEADER, SPECIALIST
from tests.public.conftest import TRANSPORT_CODE, done
from tests.ui.helpers import csrf, new_client, sign_in

CENTER = Actor("lanhdaotrungtam", frozenset({"center_leader"}), frozenset({"LD_SXD"}))


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def rated(procedures):
    """Three rated dossiers: SXD dissatisfied (2), SGTVT a complaint rated 4, SXD very satisfied (5)."""
    with procedures() as s:
        construction, transport, happy = done(s), done(s, TRANSPORT_CODE, returned=True), done(s)
        ids = {}
        for key, dossier, score, comment, complaint in (
            ("construction", construction, 2, "Cán bộ hướng dẫn chưa rõ ràng.", False),
            ("transport", transport, 4, "Nhận kết quả trễ hai ngày, đề nghị xem lại.", True),
            ("happy", happy, 5, "Rất nhanh.", False),
        ):
            ids[key] = rate(s, dossier, score, comment, complaint).id
            ids[f"{key}_code"] = dossier.code
        s.commit()
    return ids


def rating(sessions, rating_id: int) -> Rating:
    with sessions() as s:
        return s.get(Rating, rating_id)


def test_a_department_leader_sees_the_negative_ratings_of_their_departments(app, rated):
    page = text_of(sign_in(app, "lanhdao").get("/feedback"))
    assert f'id="rating-{rated["construction"]}"' in page
    assert "Cán bộ hướng dẫn chưa rõ ràng." in page and "2/5" in page and rated["construction_code"] in page
    assert f'href="/dossiers/{rated["construction_code"]}"' in page
    assert f'id="rating-{rated["transport"]}"' not in page  # another department's
    assert f'id="rating-{rated["happy"]}"' not in page and "Rất nhanh." not in page  # not negative

    page = text_of(sign_in(app, "giaothong").get("/feedback"))
    assert f'id="rating-{rated["transport"]}"' in page and "Nhận kết quả trễ hai ngày" in page
    assert "Phản ánh</span>" in page  # marked as a complaint
    assert f'id="rating-{rated["construction"]}"' not in page


@pytest.mark.parametrize("username", ["lanhdaotrungtam", "admin"])
def test_center_leaders_and_administrators_see_all(app, rated, username):
    page = text_of(sign_in(app, username).get("/feedback"))
    assert f'id="rating-{rated["construction"]}"' in page and f'id="rating-{rated["transport"]}"' in page
    assert f'id="rating-{rated["happy"]}"' not in page
    assert 'href="/feedback"' in page and ">Phản ánh</a>" in page  # the nav link


@pytest.mark.parametrize("username", ["tiepnhan", "chuyenvien", "thietke", "congdvc"])
def test_other_roles_may_not(app, rated, username):
    client = sign_in(app, username)
    assert client.get("/feedback").status_code == 403
    r = client.post(f"/feedback/{rated['construction']}/follow-up",
                    data={"csrf_token": csrf(client, "/inbox"), "note": "Đã gọi điện cho người dân."})
    assert r.status_code == 403
    assert rating(app.extensions["motcua.sessions"], rated["construction"]).followed_up_at is None
    assert ">Phản ánh</a>" not in text_of(client.get("/inbox"))


def test_signed_out_visitors_are_sent_to_sign_in(app, rated):
    client = new_client(app)
    r = client.get("/feedback")
    assert r.status_code == 302 and "/login" in r.location


def test_a_leader_records_a_follow_up_with_who_and_when(app, rated):
    sessions = app.extensions["motcua.sessions"]
    client = sign_in(app, "lanhdao")
    assert f'id="rating-{rated["construction"]}"' in text_of(client.get("/feedback?pending=1"))
    r = client.post(f"/feedback/{rated['construction']}/follow-up",
                    data={"csrf_token": csrf(client, "/feedback"), "note": "Đã gọi điện xin lỗi và hướng dẫn lại.",
                          "pending": "1"})
    assert r.status_code == 302 and "pending=1" in r.location
    followed = rating(sessions, rated["construction"])
    assert followed.follow_up == "Đã gọi điện xin lỗi và hướng dẫn lại."
    assert followed.followed_up_by == "lanhdao" and followed.followed_up_at is not None
    with sessions() as s:
        [entry] = s.scalars(select(EventLogEntry).where(EventLogEntry.instance_id == followed.dossier_id,
                                                        EventLogEntry.kind == "rating_follow_up"))
        assert entry.actor == "lanhdao" and entry.detail["note"] == followed.follow_up

    page = text_of(client.get("/feedback"))
    assert "Đã gọi điện xin lỗi và hướng dẫn lại." in page and re.search(r"lanhdao ghi nhận lúc \d{2}:\d{2} \d{2}/", page)
    assert "Đã ghi nhận việc xử lý phản ánh." in page
    assert f'id="rating-{rated["construction"]}"' not in text_of(client.get("/feedback?pending=1"))


def test_a_follow_up_needs_a_note_and_a_rating_the_leader_answers_for(app, rated):
    client = sign_in(app, "lanhdao")
    token = csrf(client, "/feedback")
    r = client.post(f"/feedback/{rated['construction']}/follow-up", data={"csrf_token": token, "note": "   "})
    assert r.status_code == 422 and "Ghi rõ việc đã làm để xử lý phản ánh." in text_of(r)
    r = client.post(f"/feedback/{rated['construction']}/follow-up", data={"csrf_token": token, "note": "x" * 2001})
    assert r.status_code == 422 and "Ghi chú dài tối đa 2000 ký tự." in text_of(r)
    for other in (rated["transport"], rated["happy"], 987654321):
        r = client.post(f"/feedback/{other}/follow-up", data={"csrf_token": token, "note": "Đã xử lý."})
        assert r.status_code == 404
    assert client.post(f"/feedback/{rated['construction']}/follow-up", data={"note": "Đã xử lý."}).status_code == 400
    sessions = app.extensions["motcua.sessions"]
    assert all(rating(sessions, rated[k]).followed_up_at is None for k in ("construction", "transport", "happy"))


def test_follow_up_service(procedures, rated):
    with procedures() as s:
        with pytest.raises(NotFound):
            feedback.follow_up(s, rated["construction"], "Đã xử lý.", SPECIALIST)  # not a leader
        with pytest.raises(NotFound):
            feedback.follow_up(s, rated["transport"], "Đã xử lý.", LEADER)  # not their department
        with pytest.raises(EngineError):
            feedback.follow_up(s, rated["construction"], "", LEADER)
        done_rating = feedback.follow_up(s, rated["transport"], "Đã trả lời bằng văn bản.", CENTER)
        s.commit()
        assert done_rating.followed_up_by == "lanhdaotrungtam"
        assert [r.id for r in feedback.negative_ratings(s, CENTER, pending_only=True)] == [rated["construction"]]
        assert {r.id for r in feedback.negative_ratings(s, CENTER)} == {rated["construction"], rated["transport"]}
        assert feedback.negative_ratings(s, SPECIALIST) == []
