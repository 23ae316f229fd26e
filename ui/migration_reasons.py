"""The migration dry run's reasons in the user's language (engine.migration gives a code and parameters)."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _


def _templates() -> dict[str, str]:
    # built per call: gettext must run in the request's language
    return {
        "can_move": _("Có thể chuyển"),
        "in_error": _("Hồ sơ đang lỗi: sửa lỗi và chạy lại trước"),
        "engine_failed": _("Bộ máy quy trình không chuyển được: %(error)s"),
        "step_removed": _("Bước %(step)s nơi hồ sơ đang ở không còn trong phiên bản %(version)s"),
        "kind_changed": _("Bước %(step)s nơi hồ sơ đang ở là một loại phần tử khác trong phiên bản %(version)s"),
        "message_changed": _("%(step)s đang chờ thông điệp %(old)s; phiên bản %(version)s lại chờ %(new)s"),
        "passed_removed": _("Bước %(step)s hồ sơ đã đi qua không còn trong phiên bản %(version)s, nên không giữ "
                            "được lịch sử"),
        "subprocess_not_called": _("Hồ sơ đang ở trong quy trình con %(name)s mà phiên bản %(version)s không gọi"),
        "subprocess_changed": _("Hồ sơ đang ở trong quy trình con %(name)s có sơ đồ khác ở phiên bản %(version)s; "
                                "hãy chuyển khi hồ sơ đã ra khỏi quy trình con"),
        "history_lost": _("%(count)s bước trong lịch sử không có phần tử tương ứng ở phiên bản %(version)s"),
        "join_unreachable": _("Ở phiên bản %(version)s, cổng song song %(join)s còn chờ nhánh %(branch)s mà hồ sơ "
                              "không thể tới nữa: hồ sơ sẽ chờ mãi"),
        "not_running": _("Không có hồ sơ %(instance)s của %(process)s đang chạy theo phiên bản khác"),
        "changed_meanwhile": _("Hồ sơ đã thay đổi trong lúc đó; chưa chuyển"),
        "next_step_failed": _("Bước tiếp theo bị lỗi trên phiên bản %(version)s: %(error)s"),
        "not_moved": _("Chưa chuyển: %(error)s"),
        "timer_restarts": _("bộ hẹn giờ %(timer)s chạy lại theo định nghĩa mới"),
    }


def reason_of(entry: dict[str, Any]) -> str:
    """One plan or outcome row's reason, with its notes; the engine's English text for an unknown code."""
    templates = _templates()
    code = entry.get("reason_code")
    if code not in templates:
        return entry.get("reason") or ""
    text = templates[code] % (entry.get("reason_params") or {})
    notes = [templates[n["code"]] % n.get("params", {}) for n in entry.get("notes") or [] if n.get("code") in templates]
    return text + (f" ({'; '.join(notes)})" if notes else "")
