"""The satisfaction survey (/survey/<code>?t=…): one rating per finished dossier, only through links the system made."""

from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from dossiers.models import Rating
from dossiers.public import TOKEN_LENGTH, AlreadyRated, rate, survey_token, survey_url, valid_survey_token
from engine.errors import InvalidState
from tests.public.conftest import accepted, client_of_own_address, done
from tests.ui.helpers import csrf_of


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def ratings(sessions) -> list[Rating]:
    with sessions() as s:
        return list(s.scalars(select(Rating)))


def link_of(app, code: str) -> str:
    with app.test_request_context():
        return survey_url(code)


def post_survey(client, link: str, **fields):
    token = csrf_of(client.get(link).get_data(as_text=True))
    return client.post(link, data={"csrf_token": token, **fields})


def test_the_token_is_an_hmac_of_the_code_under_the_secret_key():
    token = survey_token("H15.99-261124-0001", "bi-mat")
    assert len(token) == TOKEN_LENGTH and int(token, 16) >= 0
    assert token == survey_token("H15.99-261124-0001", "bi-mat")
    assert token != survey_token("H15.99-261124-0002", "bi-mat")
    assert token != survey_token("H15.99-261124-0001", "bi-mat-khac")
    assert valid_survey_token("H15.99-261124-0001", token, "bi-mat")
    assert not valid_survey_token("H15.99-261124-0001", ("0" if token[0] != "0" else "1") + token[1:], "bi-mat")
    assert not valid_survey_token("H15.99-261124-0001", token[:-1], "bi-mat")
    assert not valid_survey_token("H15.99-261124-0001", None, "bi-mat")
    assert not valid_survey_token("H15.99-261124-0001", "", "bi-mat")
    url = survey_url("H15.99-261124-0001", "https://dichvucong.example.vn/", "bi-mat")
    assert url == f"https://dichvucong.example.vn/survey/H15.99-261124-0001?t={token}"


def test_a_finished_dossier_is_rated_exactly_once(app, procedures):
    with procedures() as s:
        dossier = done(s)
    client = client_of_own_address(app)
    link = link_of(app, dossier.code)
    r = client.get(link)
    assert r.status_code == 200
    page = text_of(r)
    assert "Đánh giá mức độ hài lòng" in page and 'name="score"' in page and 'name="complaint"' in page
    assert "Nguyễn" not in page and "0912345678" not in page

    r = post_survey(client, link, score="2", comment="Phải đi lại ba lần mới nộp được.", complaint="y")
    assert r.status_code == 303
    [rating] = ratings(procedures)
    assert (rating.dossier_id, rating.score, rating.comment, rating.complaint) == (
        dossier.id, 2, "Phải đi lại ba lần mới nộp được.", True)
    assert rating.followed_up_at is None
    page = text_of(client.get(r.location))
    assert "Cảm ơn ông/bà đã đánh giá" in page and "đã được đánh giá" in page and 'name="score"' not in page

    # a second submission, from another browser too: "already rated", no second row
    other = client_of_own_address(app)
    r = other.get(link)
    assert r.status_code == 200 and "đã được đánh giá" in text_of(r)
    r = other.post(link, data={"csrf_token": csrf_of(r.get_data(as_text=True)), "score": "5"})
    assert r.status_code == 409 and "đã được đánh giá" in text_of(r)
    assert len(ratings(procedures)) == 1 and ratings(procedures)[0].score == 2

    # the lookup page no longer offers the survey
    page = text_of(client.get(f"/lookup?code={dossier.code}"))
    assert 'id="survey-link"' not in page and "Ông/bà đã đánh giá hồ sơ này." in page


def test_a_returned_dossier_can_be_rated_too(app, procedures):
    with procedures() as s:
        dossier = done(s, returned=True)
    client = client_of_own_address(app)
    r = post_survey(client, link_of(app, dossier.code), score="5")
    assert r.status_code == 303
    [rating] = ratings(procedures)
    assert rating.score == 5 and rating.comment is None and rating.complaint is False
    assert not rating.negative


def test_a_wrong_or_missing_token_never_rates(app, procedures):
    with procedures() as s:
        dossier = done(s)
    client = client_of_own_address(app)
    link = link_of(app, dossier.code)
    good = parse_qs(urlsplit(link).query)["t"][0]
    token = csrf_of(client.get(link).get_data(as_text=True))
    bad = ("0" if good[0] != "0" else "1") + good[1:]
    for path in (f"/survey/{dossier.code}", f"/survey/{dossier.code}?t={bad}", f"/survey/{dossier.code}?t=",
                 f"/survey/{dossier.code}?t={good[:-2]}", f"/survey/H15.99-991231-9999?t={good}"):
        assert client.get(path).status_code == 404, path
        r = client.post(path, data={"csrf_token": token, "score": "1", "comment": "giả mạo"})
        assert r.status_code == 404, path
        assert "Nguyễn" not in text_of(r)
    # another dossier's token does not open this one
    with procedures() as s:
        other = done(s)
    other_token = parse_qs(urlsplit(link_of(app, other.code)).query)["t"][0]
    assert client.post(f"/survey/{dossier.code}?t={other_token}",
                       data={"csrf_token": token, "score": "1"}).status_code == 404
    assert ratings(procedures) == []


def test_the_survey_opens_only_once_the_dossier_is_done(app, procedures):
    with procedures() as s:
        dossier = accepted(s)
    client = client_of_own_address(app)
    link = link_of(app, dossier.code)
    r = client.get(link)
    assert r.status_code == 409 and "Hồ sơ chưa có kết quả" in text_of(r) and 'name="score"' not in text_of(r)
    token = csrf_of(client.get("/lookup").get_data(as_text=True))
    assert client.post(link, data={"csrf_token": token, "score": "3"}).status_code == 409
    assert ratings(procedures) == []


def test_the_answers_are_validated(app, procedures):
    with procedures() as s:
        dossier = done(s)
    client = client_of_own_address(app)
    link = link_of(app, dossier.code)
    r = post_survey(client, link, score="6")
    assert r.status_code == 422 and "Chọn mức hài lòng từ 1 đến 5." in text_of(r)
    r = post_survey(client, link, score="1", complaint="y", comment="  ")
    assert r.status_code == 422 and "Nêu nội dung phản ánh, kiến nghị." in text_of(r)
    assert 'value="1" required checked' in r.get_data(as_text=True)  # the choice stays
    r = post_survey(client, link, score="3", comment="x" * 2001)
    assert r.status_code == 422 and "Ý kiến dài tối đa 2000 ký tự." in text_of(r)
    assert client.post(link, data={"score": "4"}).status_code == 400  # no CSRF token
    assert ratings(procedures) == []


def test_rate_refuses_a_second_rating_and_an_open_dossier(procedures):
    with procedures() as s:
        finished = done(s)
        rate(s, finished, 4, "Nhanh", False)
        s.commit()
        with pytest.raises(AlreadyRated):
            rate(s, finished, 1, None, True)
        s.rollback()
        open_dossier = accepted(s)
        with pytest.raises(InvalidState):
            rate(s, open_dossier, 5, None, False)
        with pytest.raises(Exception, match="score"):
            rate(s, finished, 0, None, False)
        assert s.scalar(select(func.count()).select_from(Rating)) == 1
