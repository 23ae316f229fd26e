"""Field errors from the engine (English, for the API) said in the user's language on the pages."""

from __future__ import annotations

import re

from flask_babel import gettext as _

_EXACT = {
    "is required": lambda: _("Bắt buộc nhập."),
    "must be a whole number": lambda: _("Phải là số nguyên."),
    "must be a number": lambda: _("Phải là số."),
    "must be a finite number": lambda: _("Phải là số."),
    "is out of range": lambda: _("Giá trị nằm ngoài phạm vi cho phép."),
    "must be true or false": lambda: _("Chọn có hoặc không."),
    "must be a valid date (YYYY-MM-DD or dd/mm/yyyy)": lambda: _("Ngày không hợp lệ (nhập dạng dd/mm/yyyy)."),
    "must be text": lambda: _("Phải là văn bản."),
    "contains control or text-direction characters": lambda: _("Có ký tự điều khiển hoặc ký tự đổi chiều văn bản."),
    "must be a valid email address": lambda: _("Địa chỉ email không hợp lệ."),
    "does not match the required format": lambda: _("Không đúng định dạng yêu cầu."),
    "is not a field of this form": lambda: _("Không thuộc biểu mẫu này."),
}
_PATTERNS = [
    (re.compile(r"^must be one of: (.+)$"), lambda m: _("Chọn một trong các giá trị: %(v)s.", v=m.group(1))),
    (re.compile(r"^must be at least (\S+) characters$"), lambda m: _("Tối thiểu %(n)s ký tự.", n=m.group(1))),
    (re.compile(r"^must be at most (\S+) characters$"), lambda m: _("Tối đa %(n)s ký tự.", n=m.group(1))),
    (re.compile(r"^must be at least (.+)$"), lambda m: _("Phải từ %(n)s trở lên.", n=m.group(1))),
    (re.compile(r"^must be at most (.+)$"), lambda m: _("Không được vượt quá %(n)s.", n=m.group(1))),
    (re.compile(r"^must be on or after (.+)$"), lambda m: _("Phải từ ngày %(d)s trở đi.", d=m.group(1))),
    (re.compile(r"^must be on or before (.+)$"), lambda m: _("Phải trước hoặc bằng ngày %(d)s.", d=m.group(1))),
    (re.compile(r"^must be a Vietnamese phone number"), lambda m: _("Số điện thoại không hợp lệ.")),
]


def field_error(message: str) -> str:
    if message in _EXACT:
        return _EXACT[message]()
    for pattern, render in _PATTERNS:
        match = pattern.match(message)
        if match:
            return render(match)
    return message


def field_errors(errors: dict[str, str]) -> dict[str, str]:
    return {key: field_error(value) for key, value in errors.items()}
