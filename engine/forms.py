"""Camunda user-task forms: parsing, deploy-time checks and submission validation.

Kept free of Flask so the engine, the REST API and the tests share one implementation.
Form values become process variables, so validation is strict: declared fields only,
values coerced to their declared type, sizes capped.
"""

from __future__ import annotations

import keyword
import math
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date
from typing import Any

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_C = f"{{{CAMUNDA_NS}}}"

STRING_TYPES = frozenset({"string", "textarea", "email", "phone"})
NUMBER_TYPES = frozenset({"long", "number", "decimal"})
KNOWN_TYPES = STRING_TYPES | NUMBER_TYPES | {"boolean", "date", "enum", "file"}
# Applied when the designer set no maxlength, so a client cannot post megabytes into a variable.
DEFAULT_MAXLENGTH = {"string": 10_000, "textarea": 100_000, "email": 254, "phone": 32}
# Camunda's "long" is a Java long; larger values would break interoperability.
LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1

_INT_RE = re.compile(r"[+-]?[0-9]{1,30}")  # bounded so int() never parses huge strings
# float() alone would also accept "1_000", "nan" and "inf".
_NUM_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ISO_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_VN_DATE_RE = re.compile(r"([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})")
_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_PHONE_RE = re.compile(r"(?:0|\+84)(?:[35789]\d{8}|2\d{9})")  # mobile: 10 digits; landline 02x: 11
_PHONE_SEPARATORS = re.compile(r"[\s.\-()]")
_TRUE, _FALSE = {"true", "on", "1", "yes"}, {"false", "off", "0", "no"}

Bound = int | float | str | None  # numbers for long/number/decimal, ISO "YYYY-MM-DD" for date


class FieldError(ValueError):
    """A submitted value is invalid; str(error) is the message shown next to the field."""


@dataclass
class FieldDef:
    id: str
    label: str = ""
    type: str = "string"
    required: bool = False
    default: str | None = None  # raw defaultValue from the BPMN, coerced when used
    options: list[tuple[str, str]] = field(default_factory=list)  # enum (id, label)
    min: Bound = None
    max: Bound = None
    minlength: int | None = None
    maxlength: int | None = None
    pattern: str | None = None
    readonly: bool = False
    properties: dict[str, str] = field(default_factory=dict)
    # Definition problems found while parsing (bad configs, unknown constraints); see check_form_definition.
    problems: list[str] = field(default_factory=list, compare=False, repr=False)

    # Labels follow the "Tiếng Việt / English" convention; without a separator both return the whole label.
    @property
    def label_vi(self) -> str:
        vi, sep, _ = self.label.partition(" / ")
        return vi.strip() if sep else self.label

    @property
    def label_en(self) -> str:
        _, sep, en = self.label.partition(" / ")
        return en.strip() if sep else self.label

    def to_dict(self) -> dict[str, Any]:
        keys = ("id", "label", "label_vi", "label_en", "type", "required", "default", "min", "max",
                "minlength", "maxlength", "pattern", "readonly")
        return {k: getattr(self, k) for k in keys} | {
            "options": [{"id": oid, "label": name} for oid, name in self.options],
            "properties": dict(self.properties),
        }

    @classmethod
    def from_dict(cls, dct: Mapping[str, Any]) -> FieldDef:
        """Inverse of to_dict (the inbox stores each open task's form as JSON)."""
        return cls(
            id=dct["id"], label=dct.get("label") or "", type=dct.get("type") or "string",
            required=bool(dct.get("required")), default=dct.get("default"),
            options=[(o["id"], o.get("label") or o["id"]) for o in dct.get("options") or []],
            min=dct.get("min"), max=dct.get("max"), minlength=dct.get("minlength"),
            maxlength=dct.get("maxlength"), pattern=dct.get("pattern"), readonly=bool(dct.get("readonly")),
            properties=dict(dct.get("properties") or {}),
        )


def _build_field(fid: str | None, ftype: str | None, label: str | None, default: str | None,
                 constraints: Iterable[tuple[str, str | None]], properties: Mapping[str, str],
                 options: Iterable[tuple[str | None, str | None]]) -> FieldDef:
    f = FieldDef(id=fid or "", label=label or "", type=ftype or "string", default=default or None,
                 options=[(oid or "", name or oid or "") for oid, name in options],
                 properties=dict(properties))
    for name, config in constraints:
        if name in ("required", "readonly"):
            # Camunda writes <constraint name="required"/>; tolerate an explicit config="false".
            setattr(f, name, (config or "true").strip().lower() not in _FALSE)
        elif name in ("min", "max"):
            if f.type not in NUMBER_TYPES and f.type != "date":
                f.problems.append(f"constraint '{name}' does not apply to {f.type} fields")
                continue
            try:  # same coercion as values: int for long, float for number/decimal, ISO string for date
                setattr(f, name, _COERCERS[f.type](config, f))
            except FieldError:
                f.problems.append(f"constraint '{name}' has an invalid value {config!r}")
        elif name in ("minlength", "maxlength"):
            if config is not None and re.fullmatch(r"[0-9]{1,9}", config.strip()):
                setattr(f, name, int(config))
            else:
                f.problems.append(f"constraint '{name}' has an invalid value {config!r}")
        elif name == "pattern":
            if config:
                f.pattern = config
            else:
                f.problems.append("constraint 'pattern' has no regular expression")
        else:
            # e.g. Camunda's "validator": we cannot run it, and silently skipping it would hide a gap.
            f.problems.append(f"unsupported constraint '{name}'")
    return f


def parse_form_fields(user_task: Any) -> list[FieldDef]:
    """Read camunda:formData straight from a userTask (lxml/ElementTree) element.

    Independent of camunda:formKey and of SpiffWorkflow, so deploy checks see every form.
    """
    return [
        _build_field(
            x.get("id"), x.get("type"), x.get("label"), x.get("defaultValue"),
            [(c.get("name", ""), c.get("config")) for c in x.iterfind(f"{_C}validation/{_C}constraint")],
            {p.get("id", ""): p.get("value", "") for p in x.iterfind(f"{_C}properties/{_C}property")},
            [(v.get("id"), v.get("name")) for v in x.iterfind(f"{_C}value")],
        )
        for x in user_task.iterfind(f".//{_C}formData/{_C}formField")
    ]


def fields_from_spec(task_spec: Any) -> list[FieldDef]:
    """Convert a Camunda UserTask spec's `form` (SpiffWorkflow Form) into FieldDefs; [] if none."""
    form = getattr(task_spec, "form", None)
    if form is None:
        return []
    return [
        _build_field(
            ff.id, ff.type, ff.label, ff.default_value,
            [(v.name, v.config) for v in ff.validation],
            {p.id: p.value for p in ff.properties},
            [(o.id, o.name) for o in getattr(ff, "options", [])],
        )
        for ff in form.fields
    ]


def _coerce_long(v: Any, f: FieldDef) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)  # JSON clients may send 12.0
    elif isinstance(v, str) and _INT_RE.fullmatch(v.strip()):
        v = int(v.strip())
    if isinstance(v, bool) or not isinstance(v, int):
        raise FieldError("must be a whole number")
    if not LONG_MIN <= v <= LONG_MAX:
        raise FieldError("is out of range")
    return v


def _coerce_number(v: Any, f: FieldDef) -> float:
    # float, not Decimal: values end up in JSON task data and in process conditions.
    if isinstance(v, str) and _NUM_RE.fullmatch(v.strip()):
        v = float(v.strip())
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise FieldError("must be a number")
    try:
        result = float(v)
    except OverflowError:
        raise FieldError("is out of range") from None
    if not math.isfinite(result):
        raise FieldError("must be a finite number")
    return result


def _coerce_boolean(v: Any, f: FieldDef) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    raise FieldError("must be true or false")


def _to_date(v: Any) -> date:
    if isinstance(v, date):
        return date(v.year, v.month, v.day)
    if isinstance(v, str):
        s = v.strip()
        try:
            if m := _ISO_DATE_RE.fullmatch(s):
                return date(int(m[1]), int(m[2]), int(m[3]))
            if m := _VN_DATE_RE.fullmatch(s):  # dd/mm/yyyy, the usual format in Vietnam
                return date(int(m[3]), int(m[2]), int(m[1]))
        except ValueError:
            pass  # e.g. 31/02/2026
    raise FieldError("must be a valid date (YYYY-MM-DD or dd/mm/yyyy)")


def _coerce_enum(v: Any, f: FieldDef) -> str:
    if isinstance(v, int) and not isinstance(v, bool):
        v = str(v)
    ids = [oid for oid, _ in f.options]
    if not isinstance(v, str) or v.strip() not in ids:
        raise FieldError("must be one of: " + ", ".join(ids))
    return v.strip()


# Control characters (but tab and line breaks) and the bidi embedding/override/isolate marks
# (U+202A-U+202E, U+2066-U+2069) are refused: they hide or reorder what a civil servant reads on
# a slip ("Trojan Source") and NUL breaks PostgreSQL text. Surrogates cannot be stored as UTF-8.
_FORBIDDEN_TEXT_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _coerce_text(v: Any, f: FieldDef) -> str:
    if not isinstance(v, str):
        raise FieldError("must be text")
    if _FORBIDDEN_TEXT_RE.search(v):
        raise FieldError("contains control or text-direction characters")
    # One spelling for Vietnamese: decomposed input (macOS, some keyboards) becomes composed, so
    # "Nguyễn" typed either way is the same name for search and for the register.
    v = unicodedata.normalize("NFC", v).strip()
    if f.type == "email" and not _EMAIL_RE.fullmatch(v):
        raise FieldError("must be a valid email address")
    if f.type == "phone":
        v = _PHONE_SEPARATORS.sub("", v)
        if not _PHONE_RE.fullmatch(v):
            raise FieldError("must be a Vietnamese phone number (mobile 0xxxxxxxxx, landline 02xxxxxxxxx, or +84...)")
    return v


def _is_file_ref(v: Any) -> bool:
    return isinstance(v, dict) and isinstance(v.get("name"), str) and bool(v["name"].strip())


def _coerce_file(v: Any, f: FieldDef) -> dict | list[dict]:
    # Only the shape is checked here; the upload service owns the documents themselves.
    if _is_file_ref(v):
        return dict(v)
    if isinstance(v, list) and v and all(_is_file_ref(x) for x in v):
        return [dict(x) for x in v]
    raise FieldError("must be a file reference (an object with a name) or a list of them")


_COERCERS: dict[str, Callable[[Any, FieldDef], Any]] = {
    "long": _coerce_long, "number": _coerce_number, "decimal": _coerce_number,
    "boolean": _coerce_boolean, "date": lambda v, f: _to_date(v).isoformat(), "enum": _coerce_enum,
    "string": _coerce_text, "textarea": _coerce_text, "email": _coerce_text, "phone": _coerce_text,
    "file": _coerce_file,
}


def _fmt(n: Any) -> str:
    return str(int(n)) if isinstance(n, float) and n.is_integer() else str(n)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _clean_value(f: FieldDef, raw: Any) -> Any:
    value = _COERCERS[f.type](raw, f)
    if f.type in NUMBER_TYPES:
        if _is_number(f.min) and value < f.min:
            raise FieldError(f"must be at least {_fmt(f.min)}")
        if _is_number(f.max) and value > f.max:
            raise FieldError(f"must be at most {_fmt(f.max)}")
    elif f.type == "date":  # ISO strings compare in date order
        if isinstance(f.min, str) and value < f.min:
            raise FieldError(f"must be on or after {f.min}")
        if isinstance(f.max, str) and value > f.max:
            raise FieldError(f"must be on or before {f.max}")
    elif f.type in STRING_TYPES:
        cap = f.maxlength if f.maxlength is not None else DEFAULT_MAXLENGTH[f.type]
        if len(value) > cap:
            raise FieldError(f"must be at most {cap} characters")
        if f.minlength is not None and len(value) < f.minlength:
            raise FieldError(f"must be at least {f.minlength} characters")
        if f.pattern is not None:
            try:
                matched = re.fullmatch(f.pattern, value) is not None
            except re.error:
                matched = False  # fail closed; check_form_definition reports the broken pattern
            if not matched:
                raise FieldError("does not match the required format")
    return value


def _is_blank(v: Any) -> bool:
    return v is None or v == [] or (isinstance(v, str) and not v.strip())


def validate_form(fields: list[FieldDef], data: Mapping[str, Any], partial: bool = False, *,
                  current: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """Return (clean_data, errors keyed by field id).

    partial=True (saving a draft) skips only the required check. `current` (the task's data)
    supplies the values of readonly fields, which are never taken from `data`.
    """
    if not isinstance(data, Mapping):
        return {}, {"_form": "form data must be an object"}
    known = {f.id for f in fields}
    # Reject rather than drop: extra keys would otherwise become arbitrary process variables.
    errors = {str(k): "is not a field of this form" for k in data if k not in known}
    clean: dict[str, Any] = {}
    for f in fields:
        if f.type not in KNOWN_TYPES:
            errors[f.id] = f"has an unsupported type '{f.type}'"
            continue
        if f.readonly or f.id not in data:
            if f.readonly and current is not None and f.id in current:
                clean[f.id] = current[f.id]
            elif not _is_blank(f.default):
                with suppress(FieldError):  # a bad default is reported by check_form_definition
                    clean[f.id] = _clean_value(f, f.default)
            elif f.required and not partial and not f.readonly:
                errors[f.id] = "is required"
            continue
        raw = data[f.id]
        if _is_blank(raw):
            if f.required and not partial:
                errors[f.id] = "is required"
            else:  # an explicit blank clears the value
                clean[f.id] = "" if f.type in STRING_TYPES else None
            continue
        try:
            clean[f.id] = _clean_value(f, raw)
        except FieldError as e:
            errors[f.id] = str(e)
    return clean, errors


def _bound_ok(f: FieldDef, bound: Any) -> bool:
    if bound is None:
        return True
    if f.type == "date":
        return isinstance(bound, str) and _ISO_DATE_RE.fullmatch(bound) is not None
    return f.type in NUMBER_TYPES and _is_number(bound) and math.isfinite(bound)


def check_form_definition(fields: Iterable[FieldDef]) -> list[tuple[str, str]]:
    """Deploy-time problems as (field id, message); empty when the form is usable."""
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for f in fields:
        msgs = list(f.problems)
        if f.id in seen:
            msgs.append("duplicate field id")
        seen.add(f.id)
        if not f.id.isidentifier() or keyword.iskeyword(f.id):
            msgs.append("field id must be a valid Python identifier (it becomes a process variable)")
        if f.type not in KNOWN_TYPES:
            msgs.append(f"unknown field type '{f.type}' (expected one of: {', '.join(sorted(KNOWN_TYPES))})")
        if f.type == "enum":
            ids = [oid for oid, _ in f.options]
            if not ids:
                msgs.append("enum field has no options")
            if len(set(ids)) != len(ids):
                msgs.append("enum field has duplicate option ids")
        bad_bounds = [n for n in ("min", "max") if not _bound_ok(f, getattr(f, n))]
        msgs += [f"{n} is not a valid bound for a {f.type} field" for n in bad_bounds]
        if not bad_bounds and f.min is not None and f.max is not None and f.min > f.max:  # type: ignore[operator]
            msgs.append("min is greater than max")
        for name in ("minlength", "maxlength"):
            n = getattr(f, name)
            if n is not None and (f.type not in STRING_TYPES or isinstance(n, bool) or n < 0):
                msgs.append(f"{name} must be a non-negative length on a text field")
        if f.minlength is not None and f.maxlength is not None and f.minlength > f.maxlength:
            msgs.append("minlength is greater than maxlength")
        if f.pattern is not None:
            try:
                re.compile(f.pattern)
            except re.error as e:
                msgs.append(f"pattern is not a valid regular expression: {e}")
        if not _is_blank(f.default) and f.type in KNOWN_TYPES:
            try:
                _clean_value(f, f.default)
            except FieldError as e:
                msgs.append(f"default value {f.default!r} {e}")
        out.extend((f.id, m) for m in msgs)
    return out
