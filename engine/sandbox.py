"""Sandboxed execution of designer-written Python (script tasks, conditions, timers, DMN cells).

Code is compiled with RestrictedPython (no names/attributes starting with ``_``, no imports, no
classes) and run with guarded builtins and a wall-clock limit enforced through ``sys.settrace``.

The time limit cannot interrupt one long C call (``'x'.ljust(10**10)``, ``sum(lists, [])``,
``f'{1:>999999999}'``), so every call that can build a huge object or loop long in C is
guarded by its arguments: sequence operators, str/bytes padding and replacing methods, ``%``
and f-string format widths, ``sum``, ``math.prod/lcm``, int conversions of huge Decimals.
Memory is bounded twice: each run has an allocation budget (items built by guarded
operations, and the process's resident memory sampled with the clock), and
``apply_memory_cap`` gives the whole web/worker process an address-space limit so a runaway
allocation that slips through becomes a ``MemoryError`` (the instance goes to ``error``)
instead of a visit from the kernel's OOM killer.
Data semantics mirror SpiffWorkflow's ``TaskDataEnvironment``: a script runs with the task data
dict as its globals, so top-level assignments become task data.
"""

from __future__ import annotations

import ast
import json
import math
import operator
import os
import random
import re
import resource
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import (
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from RestrictedPython.Limits import limited_builtins
from RestrictedPython.PrintCollector import PrintCollector
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
from RestrictedPython.Utilities import utility_builtins
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import (
    BasePythonScriptEngineEnvironment,
    PythonScriptEngine,
    TaskDataEnvironment,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.deadlines import working_deadline

SCRIPT_TIME_LIMIT_S = 2.0
MAX_RANGE = 1_000_000  # items in one range()
MAX_SEQUENCE_LEN = 10_000_000  # items/characters built by one + or * on sequences
MAX_INT_BITS = 100_000  # ~30,000 decimal digits: far beyond any amount of money
MAX_RUN_ITEMS = 20_000_000  # items/characters all guarded operations of one run may build together
MAX_RUN_MEMORY_MB = 512  # growth of the process's resident memory during one run
MAX_FORMAT_WIDTH = 100_000  # width/precision in a format spec ('%999999999d', f'{x:>999999999}')
MAX_DECIMAL_DIGITS = 30_000  # digits of an int made from a Decimal
_CHECK_EVERY = 1000  # trace events between two clock (and memory) reads
_FILENAME = '<string>'  # SpiffWorkflow finds the failing script line by this frame filename
_LINE_RE = re.compile(r'^Line (\d+|None): (.*)$', re.S)


class SandboxViolation(Exception):
    """A script tried something the sandbox refuses, or ran too long."""


def _refuse(what: str) -> SandboxViolation:
    return SandboxViolation(f'{what} is not allowed in process scripts')


# --- compile time ------------------------------------------------------------------------------
_BINOP_GUARDS = {ast.Add: '_add_', ast.Mult: '_mul_', ast.Pow: '_pow_', ast.LShift: '_lshift_', ast.Mod: '_mod_'}


def _call(name: str, args: list[ast.expr], where: ast.AST) -> ast.Call:
    call = ast.Call(func=ast.Name(name, ast.Load()), args=args, keywords=[])
    copy_locations(call, where)
    return ast.fix_missing_locations(call)


class _MotcuaPolicy(RestrictingNodeTransformer):
    """RestrictedPython's rules plus: no import/class, size guards on operators, deadline checks."""

    def visit_Import(self, node: ast.AST) -> ast.AST:
        self.error(node, 'import statements are not allowed in process scripts')
        return node

    visit_ImportFrom = visit_Import

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.error(node, 'class definitions are not allowed in process scripts')
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        # Operators that can build a huge object in one C call go through size-checking guards.
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        return _call(guard, [node.left, node.right], node) if guard else node

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        # f'{x:>999999999}' pads in C: the value, its conversion and its spec go through _fmt_().
        node = self.node_contents_visit(node)
        if node.format_spec is None:
            return node
        conversion = ast.Constant(node.conversion)
        copy_locations(conversion, node)
        node.value = _call('_fmt_', [node.value, conversion, node.format_spec], node)
        node.conversion, node.format_spec = -1, None
        return node

    def _check(self, where: ast.AST) -> ast.stmt:
        stmt = ast.Expr(_call('_check_deadline_', [], where))
        copy_locations(stmt, where)
        return stmt

    def visit_While(self, node: ast.While) -> ast.AST:
        # `while True: pass` compiles to a jump onto itself, which emits no trace event at all.
        node = super().visit_While(node)
        node.body.insert(0, self._check(node.body[0]))
        return node

    # CPython uninstalls a trace function once it raises, so a script could swallow the timeout
    # with try/except and loop again: every handler and finally block re-checks the deadline.
    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> ast.AST:
        node = super().visit_ExceptHandler(node)
        node.body.insert(0, self._check(node.body[0]))
        return node

    def visit_Try(self, node: ast.Try) -> ast.AST:
        node = super().visit_Try(node)
        if node.finalbody:
            node.finalbody.insert(0, self._check(node.finalbody[0]))
        return node


@lru_cache(maxsize=512)
def _compile(source: str, mode: str) -> Any:
    compiler = compile_restricted_exec if mode == 'exec' else compile_restricted_eval
    return compiler(source, filename=_FILENAME, policy=_MotcuaPolicy)


def _problems(errors: Any) -> list[tuple[int, str]]:
    # RestrictedPython reports errors as strings like "Line 2: ..."; line 0 = unknown.
    found = []
    for error in errors:
        match = _LINE_RE.match(error)
        found.append((int(match[1]) if match[1] != 'None' else 0, match[2]) if match else (0, error))
    return sorted(found, key=lambda problem: problem[0])


def check_script(source: str) -> list[tuple[int, str]]:
    """Compile-only check of a script task body: [(line, message)], empty when fine."""
    return _problems(_compile(source, 'exec').errors)


def check_expression(source: str) -> list[tuple[int, str]]:
    """Compile-only check of a condition / timer / DMN expression: [(line, message)]."""
    return _problems(_compile(source, 'eval').errors)


def _compile_or_raise(source: str, mode: str) -> types.CodeType:
    result = _compile(source, mode)
    if result.errors:
        problems = _problems(result.errors)
        lineno, lines = problems[0][0], source.splitlines()
        text = lines[lineno - 1] if 0 < lineno <= len(lines) else None
        msg = '; '.join(f'line {n}: {m}' for n, m in problems)
        raise SyntaxError(msg, (_FILENAME, lineno, 0, text))
    return result.code


# --- run time guards ---------------------------------------------------------------------------
_SEQUENCES = (str, bytes, list, tuple)
_current = threading.local()  # the _Deadline of the run on this thread (guards charge it)


def _charge(items: int) -> None:
    """Count items built by a guarded operation against the run's allocation budget."""
    run = getattr(_current, 'run', None)
    if run is not None and items > 0:  # a negative count (lst *= -5) must not refill the budget
        run.items += items
        if run.items > MAX_RUN_ITEMS:
            raise _refuse(f'building more than {MAX_RUN_ITEMS:,} items in one run')
_BLOCKED_ATTRS = INSPECT_ATTRIBUTES | {  # format strings can reach attributes: '{0.__class__}'
    'format', 'format_map', 'vformat', 'get_field', 'get_value', 'Formatter', 'mro',
    # one C call that allocates or computes without bound: (0).to_bytes(10**9), random.randbytes(10**9),
    # random.getrandbits(8*10**9), random.choices(.., k=10**8), Decimal('1e99999999').as_integer_ratio()
    'to_bytes', 'randbytes', 'getrandbits', 'choices', 'as_integer_ratio'}


def _guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    # Also installed as the getattr() builtin, so computed names get the same check.
    if not isinstance(name, str):
        raise TypeError('attribute name must be a string')
    if name.startswith('_') or name in _BLOCKED_ATTRS:
        raise _refuse(f'access to attribute {name!r}')
    if name in _SIZED_METHODS:
        if isinstance(obj, (str, bytes)):
            return _SIZED_METHODS[name](obj)
        if obj in (str, bytes):  # str.ljust('', 10**9): the method taken from the type
            return _unbound_sized(obj, name)
    return safer_getattr(obj, name, *default) if default else getattr(obj, name)


def _result_check(op: str, size: int) -> None:
    if size > MAX_SEQUENCE_LEN:
        raise _too_big(op)
    _charge(size)


def _padding(name: str) -> Callable[[Any], Callable[..., Any]]:
    # ljust/rjust/center/zfill(width): one C call that allocates `width` characters.
    def bind(s: Any) -> Callable[..., Any]:
        method = getattr(s, name)

        def padded(width: Any, *args: Any) -> Any:
            if isinstance(width, int):
                _result_check(f'.{name}()', width)
            return method(width, *args)
        return padded
    return bind


def _expandtabs(s: Any) -> Callable[..., Any]:
    def expandtabs(tabsize: Any = 8) -> Any:
        if isinstance(tabsize, int):
            _result_check('.expandtabs()', len(s) + s.count(b'\t' if isinstance(s, bytes) else '\t') * max(tabsize, 0))
        return s.expandtabs(tabsize)
    return expandtabs


def _replace(s: Any) -> Callable[..., Any]:
    def replace(old: Any, new: Any, count: Any = -1) -> Any:
        if isinstance(old, type(s)) and isinstance(new, type(s)) and len(new) > len(old):
            hits = s.count(old) if old else len(s) + 1
            if isinstance(count, int) and count >= 0:
                hits = min(hits, count)
            _result_check('.replace()', len(s) + hits * (len(new) - len(old)))
        return s.replace(old, new, count)
    return replace


def _join(s: Any) -> Callable[..., Any]:
    def join(items: Any) -> Any:
        items = list(items)
        if all(isinstance(i, (str, bytes)) for i in items):
            _result_check('.join()', sum(map(len, items)) + len(s) * max(len(items) - 1, 0))
        return s.join(items)
    return join


def _unbound_sized(kind: type, name: str) -> Callable[..., Any]:
    def call(s: Any, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(s, kind):
            return getattr(kind, name)(s, *args, **kwargs)  # the type's own TypeError
        return _SIZED_METHODS[name](s)(*args, **kwargs)
    return call


_SIZED_METHODS: dict[str, Callable[[Any], Callable[..., Any]]] = {
    **{name: _padding(name) for name in ('ljust', 'rjust', 'center', 'zfill')},
    'expandtabs': _expandtabs, 'replace': _replace, 'join': _join,
}

# widths and precisions in %-formats and format specs ('%-*.*f', '>999999999', '0=+,.3f')
_PERCENT_SPEC = re.compile(r'%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?')
_FORMAT_NUMBERS = re.compile(r'\d+')


def _huge_decimal(value: Any) -> bool:
    return isinstance(value, Decimal) and value.is_finite() and value.adjusted() > MAX_DECIMAL_DIGITS


def _check_spec_numbers(numbers: list[str | None], op: str) -> None:
    for number in numbers:
        if number and number.isdigit() and int(number) > MAX_FORMAT_WIDTH:
            raise _refuse(f'a width or precision above {MAX_FORMAT_WIDTH:,} in {op}')


def _guarded_mod(a: Any, b: Any) -> Any:
    if isinstance(a, (str, bytes)):
        spec = a.decode('latin-1') if isinstance(a, bytes) else a
        found = _PERCENT_SPEC.findall(spec)
        _check_spec_numbers([n for pair in found for n in pair], "'%' formatting")
        args = b if isinstance(b, tuple) else (b,)
        if any(star == '*' for pair in found for star in pair):
            _check_spec_numbers([str(abs(x)) for x in args if isinstance(x, int)], "'%' formatting")
        if any(_huge_decimal(x) for x in args):
            raise _refuse(f"'%' formatting of a number with more than {MAX_DECIMAL_DIGITS:,} digits")
    return a % b


def _fmt(value: Any, conversion: int, spec: str) -> str:
    """An f-string field with a format spec: conversion (!s !r !a), then a size-checked format()."""
    if conversion == ord('s'):
        value = str(value)
    elif conversion == ord('r'):
        value = repr(value)
    elif conversion == ord('a'):
        value = ascii(value)
    _check_spec_numbers(_FORMAT_NUMBERS.findall(spec), 'a format spec')
    if _huge_decimal(value):
        raise _refuse(f'formatting a number with more than {MAX_DECIMAL_DIGITS:,} digits')
    return format(value, spec)


def _guarded_write(obj: Any) -> Any:
    # Item assignment/deletion only on plain containers (task data is JSON-like).
    if isinstance(obj, (dict, list, set)):
        return obj
    raise _refuse(f'modifying a {type(obj).__name__} object')


def _too_big(op: str) -> SandboxViolation:
    return _refuse(f'{op!r} producing more than {MAX_SEQUENCE_LEN:,} items or {MAX_INT_BITS:,} bits')


# Size guards judge the result from the operands alone; each is one flat frame because every
# Python-level call made under the trace function costs a 'call' event.
def _guarded_add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        if len(a) + len(b) > MAX_SEQUENCE_LEN:
            raise _too_big('+')
        _charge(len(a) + len(b))
    return a + b


def _guarded_mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise _too_big('*')
        return a * b
    seq, n = (a, b) if isinstance(b, int) else (b, a)
    if isinstance(seq, _SEQUENCES) and isinstance(n, int) and n > 0:
        size = len(seq) * n
        if size > MAX_SEQUENCE_LEN:
            raise _too_big('*')
        _charge(size)
    return a * b


def _guarded_pow(a: Any, b: Any, mod: Any = None) -> Any:
    if (mod is None and isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1
            and a.bit_length() * b > MAX_INT_BITS):
        raise _too_big('**')
    return pow(a, b, mod)


def _guarded_lshift(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and a != 0 and a.bit_length() + b > MAX_INT_BITS:
        raise _too_big('<<')
    return a << b


_INPLACE_GUARDS = {'+=': _guarded_add, '*=': _guarded_mul, '**=': _guarded_pow, '<<=': _guarded_lshift,
                   '%=': _guarded_mod}
_INPLACE = {'+=': operator.iadd, '*=': operator.imul, '-=': operator.isub, '/=': operator.itruediv,
            '//=': operator.ifloordiv, '%=': operator.imod, '**=': operator.ipow, '<<=': operator.ilshift,
            '>>=': operator.irshift, '&=': operator.iand, '|=': operator.ior, '^=': operator.ixor,
            '@=': operator.imatmul}


def _inplacevar(op: str, a: Any, b: Any) -> Any:
    if isinstance(a, list):  # list += / *= mutate in place: other names may share the list
        if ((op == '+=' and isinstance(b, _SEQUENCES) and len(a) + len(b) > MAX_SEQUENCE_LEN)
                or (op == '*=' and isinstance(b, int) and len(a) * b > MAX_SEQUENCE_LEN)):
            raise _too_big(op)
        _charge(len(b) if op == '+=' and isinstance(b, _SEQUENCES) else max(len(a) * b, 0) if op == '*=' else 0)
        return _INPLACE[op](a, b)
    guard = _INPLACE_GUARDS.get(op)  # for immutable values `a op= b` equals `a = a op b`
    return guard(a, b) if guard else _INPLACE[op](a, b)


def _safe_range(*args: int) -> range:
    r = range(*args)
    try:
        too_big = len(r) > MAX_RANGE
    except OverflowError:  # len() of a range beyond sys.maxsize
        too_big = True
    if too_big:
        raise _refuse(f'range() with more than {MAX_RANGE:,} items')
    return r


def _capped(func: Callable[..., Any], cap: int = 10_000) -> Callable[..., Any]:
    # factorial/comb/perm of huge numbers run in C, where the time limit cannot interrupt them.
    def wrapper(*args: Any) -> Any:
        if any(isinstance(a, int) and a > cap for a in args):
            raise _refuse(f'math.{func.__name__}() of numbers above {cap:,}')
        return func(*args)
    return wrapper


def _bounded_fold(name: str, step: Callable[[Any, Any], Any], start: Any) -> Callable[..., Any]:
    # math.prod/lcm loop in C over their whole input: fold in Python, checking the size as we go.
    def fold(*args: Any, **kwargs: Any) -> Any:
        items = args[0] if name == 'prod' else args
        result = kwargs.get('start', start) if name == 'prod' else start
        for item in items:
            result = step(result, item)
            if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
                raise _refuse(f'math.{name}() producing more than {MAX_INT_BITS:,} bits')
        return result
    return fold


def _no_huge_decimal(func: Callable[..., Any]) -> Callable[..., Any]:
    # int(Decimal('1e99999999')) builds a 330-million-bit integer in one C call.
    def wrapper(*args: Any) -> Any:
        if args and _huge_decimal(args[0]):
            raise _refuse(f'{func.__name__}() of a number with more than {MAX_DECIMAL_DIGITS:,} digits')
        return func(*args)
    wrapper.__name__ = func.__name__
    return wrapper


def _charged(func: Callable[..., Any]) -> Callable[..., Any]:
    # list(range(10**6)) in a comprehension: few trace events, much memory; charge what was built.
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        _charge(len(result))
        return result
    wrapper.__name__ = func.__name__
    return wrapper


class _ChargedType(type):
    """Stands in for list/tuple/set/frozenset/dict: builds the real thing and charges its size;
    isinstance(x, list), list.append... behave as with the real type."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        result = cls._wraps(*args, **kwargs)
        _charge(len(result))
        return result

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls._wraps)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._wraps)

    def __getattr__(cls, name: str) -> Any:
        return getattr(cls._wraps, name)


def _charged_type(real: type) -> type:
    return _ChargedType(real.__name__, (), {'_wraps': real})  # '_': scripts cannot reach the real type


def _safe_sum(iterable: Any, start: Any = 0) -> Any:
    # sum(lists, []) copies the growing list at every step: quadratic, in C, uninterruptible.
    if not isinstance(start, (int, float, Decimal)):
        raise _refuse('sum() of sequences (use a loop, or .join() for text)')
    return sum(iterable, start)


_MATH = types.SimpleNamespace(**{n: getattr(math, n) for n in dir(math) if not n.startswith('_')})
_MATH.factorial, _MATH.comb, _MATH.perm = (_capped(math.factorial), _capped(math.comb), _capped(math.perm))
_MATH.prod = _bounded_fold('prod', operator.mul, 1)
_MATH.lcm = _bounded_fold('lcm', math.lcm, 1)
_MATH.floor, _MATH.ceil, _MATH.trunc = (_no_huge_decimal(math.floor), _no_huge_decimal(math.ceil),
                                        _no_huge_decimal(math.trunc))


# --- names available to every script -----------------------------------------------------------
def json_loads(text: str | bytes) -> Any:
    return json.loads(text)


def json_dumps(value: Any, indent: int | None = None) -> str:
    # Vietnamese text stays readable; dates/Decimals become strings instead of failing.
    return json.dumps(value, ensure_ascii=False, default=str, indent=indent)


def round_vnd(amount: Any) -> int:
    """Round a money amount to whole dong (VND has no minor unit), halves away from zero."""
    return int(Decimal(str(amount)).quantize(Decimal(1), rounding=ROUND_HALF_UP))


SANDBOX_GLOBALS: dict[str, Any] = {
    'datetime': datetime, 'date': date, 'timedelta': timedelta, 'timezone': timezone, 'Decimal': Decimal,
    'math': _MATH, 'json_loads': json_loads, 'json_dumps': json_dumps, 'round_vnd': round_vnd,
    'working_deadline': working_deadline,
}
"""Names every script and expression can use besides the safe builtins:

datetime, date, timedelta, timezone -- the classes from the datetime module
Decimal                             -- decimal.Decimal (use it for money)
math                                -- the math module's public names (factorial/comb/perm capped)
json_loads(text), json_dumps(value) -- json.loads / json.dumps (keeps non-ASCII, unknown types -> str)
round_vnd(amount)                   -- round to whole dong, halves away from zero, returns int
working_deadline(budget)            -- ISO date-time when a working-time budget ("P2D", "PT4H") started now
                                       ends; for timeDate timers of step budgets

They live in the builtins, so a task data field with the same name simply shadows them.
"""

_FORBIDDEN_NAMES = frozenset({
    '__import__', '__build_class__', 'open', 'eval', 'exec', 'compile', 'globals', 'locals', 'vars',
    'type', 'setattr', 'delattr', 'input', 'breakpoint', 'dir', 'help', 'exit', 'quit', 'iter',
    'memoryview', 'bytearray', 'object', 'super', 'classmethod', 'staticmethod', 'property',
    # Not subclasses of Exception: they would slip past SpiffWorkflow's error handling.
    'BaseException', 'SystemExit', 'KeyboardInterrupt', 'GeneratorExit',
})


class _Builtins(dict):
    """Builtins mapping that names what was refused instead of raising a bare NameError."""

    def __missing__(self, name: str) -> Any:
        if name in _FORBIDDEN_NAMES:
            raise _refuse(repr(name))
        raise KeyError(name)


def _make_builtins() -> dict[str, Any]:
    b: dict[str, Any] = {**safe_builtins, **limited_builtins, **utility_builtins}
    for name in (*_FORBIDDEN_NAMES, 'whrandom'):
        b.pop(name, None)
    for func in (len, min, max, sum, sorted, any, all, abs, round, enumerate, zip, map, filter, list,
                 dict, set, frozenset, tuple, str, int, float, bool, isinstance, reversed, next):
        b[func.__name__] = func
    b.update(
        range=_safe_range, getattr=_guarded_getattr, pow=_guarded_pow, sum=_safe_sum,
        int=_no_huge_decimal(int), round=_no_huge_decimal(round),
        sorted=_charged(sorted), **{t.__name__: _charged_type(t) for t in (list, tuple, set, frozenset, dict)},
        random=random.Random(),  # own generator: seed() must not touch the server's global RNG
        _getattr_=_guarded_getattr, _getitem_=operator.getitem, _getiter_=iter, _write_=_guarded_write,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence, _unpack_sequence_=guarded_unpack_sequence,
        _inplacevar_=_inplacevar, _print_=PrintCollector,
        _apply_=lambda func, /, *args, **kwargs: func(*args, **kwargs),
        _add_=_guarded_add, _mul_=_guarded_mul, _pow_=_guarded_pow, _lshift_=_guarded_lshift,
        _mod_=_guarded_mod, _fmt_=_fmt,
    )
    return {**b, **SANDBOX_GLOBALS}


_BASE_BUILTINS = _make_builtins()
# Helper objects (math, random, string) bound to a data name are dropped after a run; the constants
# True/False/None are builtins too but are ordinary task data values.
_BUILTIN_IDS = frozenset(id(v) for v in _BASE_BUILTINS.values() if not isinstance(v, (bool, type(None))))
_RESERVED = frozenset(k for k in _BASE_BUILTINS if k.startswith('_')) | {'_check_deadline_'}


_PAGE = os.sysconf('SC_PAGE_SIZE') if hasattr(os, 'sysconf') else 4096


def _resident_bytes() -> int:
    """This process's resident memory now (Linux /proc; 0 where unknown, which disables the check)."""
    try:
        with open('/proc/self/statm', 'rb') as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def apply_memory_cap(megabytes: int) -> bool:
    """Cap this process's address space (RLIMIT_AS): past it allocations raise MemoryError.

    For the web and worker processes (MOTCUA_MEMORY_LIMIT_MB): a script's runaway allocation that
    the guards did not foresee fails its own step instead of waking the kernel's OOM killer,
    which would kill the whole process and every request in it. Returns False where unsupported.
    """
    if megabytes <= 0:
        return False
    limit = megabytes * 1024 * 1024
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    except (ValueError, OSError):
        return False
    return True


class _Deadline:
    """Wall-clock budget of one run, enforced through sys.settrace (works in any thread)."""

    def __init__(self, limit: float) -> None:
        self.limit, self.end, self.events, self.expired = float(limit), time.monotonic() + limit, 0, False
        self.items = 0  # charged by the size guards
        self.memory_limit = _resident_bytes() + MAX_RUN_MEMORY_MB * 1024 * 1024

    def check(self) -> None:
        if self.expired or time.monotonic() > self.end:
            self.expired = True  # sticky: except/finally blocks re-raise through _check_deadline_()
            raise SandboxViolation(f'script exceeded the time limit of {self.limit} s')
        if _resident_bytes() > self.memory_limit:
            self.expired = True
            raise SandboxViolation(f'script used more than {MAX_RUN_MEMORY_MB} MB of memory')

    def trace(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        # Only script frames get line events: guards and library code stay untraced and fast.
        return self._line if frame.f_code.co_filename == _FILENAME else None

    def _line(self, frame: types.FrameType, event: str, arg: Any) -> Any:
        self.events += 1
        if self.events >= _CHECK_EVERY:
            self.events = 0
            self.check()
        return self._line


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """TaskDataEnvironment semantics with RestrictedPython, guarded builtins and a time limit."""

    def __init__(self, environment_globals: dict[str, Any] | None = None,
                 time_limit: float = SCRIPT_TIME_LIMIT_S) -> None:
        super().__init__(environment_globals)
        self.time_limit = time_limit

    def evaluate(self, expression: str, context: dict[str, Any],
                 external_context: dict[str, Any] | None = None) -> Any:
        code = _compile_or_raise(expression, 'eval')
        return self._run(code, {**self.globals, **(external_context or {}), **context}, evaluate=True)

    def execute(self, script: str, context: dict[str, Any],
                external_context: dict[str, Any] | None = None) -> bool:
        external_context = external_context or {}
        self.check_for_overwrite(context, external_context)
        code = _compile_or_raise(script, 'exec')
        context.update({**self.globals, **external_context})
        try:
            self._run(code, context, evaluate=False)
        finally:
            self._remove_globals_and_functions_from_context(context, external_context)
        return True

    def _run(self, code: types.CodeType, namespace: dict[str, Any], evaluate: bool) -> Any:
        reserved = _RESERVED.intersection(namespace)
        if reserved:  # such keys would shadow the guards living in the builtins
            raise SandboxViolation(f'task data uses reserved names {sorted(reserved)}')
        deadline = _Deadline(self.time_limit)
        namespace['__builtins__'] = _Builtins(_BASE_BUILTINS, _check_deadline_=deadline.check)
        previous = sys.gettrace()  # pytest-cov or a debugger may have one installed
        outer, _current.run = getattr(_current, 'run', None), deadline
        sys.settrace(deadline.trace)
        try:
            return eval(code, namespace) if evaluate else exec(code, namespace)
        except MemoryError:
            # the process's memory cap caught an allocation: this run fails, the process lives on
            raise SandboxViolation('script ran out of memory') from None
        except (Exception, KeyboardInterrupt):
            raise
        except BaseException as exc:  # SystemExit & co. must not slip past SpiffWorkflow
            raise _refuse(f'raising {type(exc).__name__}') from exc
        finally:
            sys.settrace(previous)
            _current.run = outer

    def _remove_globals_and_functions_from_context(self, context: dict[str, Any],
                                                   external_context: dict[str, Any]) -> None:
        # As TaskDataEnvironment, plus sandbox helpers bound to data names (`m = math`).
        for key in list(context):
            value = context[key]
            if (key == '__builtins__' or callable(value) or id(value) in _BUILTIN_IDS
                    or key in self.globals or key in external_context):
                del context[key]

    # Fail fast, as SpiffWorkflow does, when task data would hide an environment global.
    check_for_overwrite = TaskDataEnvironment.check_for_overwrite


class MotcuaScriptEngine(PythonScriptEngine):
    """SpiffWorkflow script engine running every script and expression in a SandboxEnvironment."""

    def __init__(self, environment: BasePythonScriptEngineEnvironment | None = None,
                 time_limit: float = SCRIPT_TIME_LIMIT_S) -> None:
        super().__init__(environment or SandboxEnvironment(time_limit=time_limit))

    def validate(self, expression: str) -> None:
        _compile_or_raise(expression, 'eval')  # the DMN engine relies on SyntaxError here

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> Exception:
        # As SpiffWorkflow's, but tolerates non-str args (KeyError(1) made it raise TypeError).
        line_number, error_line = self.get_error_line_number_and_content(script, err)
        if isinstance(err, SpiffWorkflowException):
            err.line_number, err.error_line = line_number, error_line
            err.add_note(f"Python script error on line {line_number}: '{error_line}'")
            return err
        detail = type(err).__name__ + (f':{err.args[0]}' if err.args else '')
        return WorkflowTaskException(detail, task=task, exception=err,
                                     line_number=line_number, error_line=error_line)

    def get_error_line_number_and_content(self, script: str, err: Exception) -> tuple[int, str]:
        # Reads the exception's own traceback; never indexes past the script's last line.
        if isinstance(err, SyntaxError):
            line_number = err.lineno or 0
        else:
            frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == _FILENAME]
            line_number = (frames[-1].lineno or 0) if frames else 0
        lines = script.splitlines()
        return line_number, lines[line_number - 1] if 0 < line_number <= len(lines) else ''
