"""Tests for engine.sandbox: data semantics, refusals, limits and SpiffWorkflow integration."""

import sys
import threading
import time
from datetime import datetime
from decimal import Decimal

import pytest
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.util.task import TaskState

from engine.sandbox import (
    SANDBOX_GLOBALS,
    SCRIPT_TIME_LIMIT_S,
    MotcuaScriptEngine,
    SandboxEnvironment,
    SandboxViolation,
    check_expression,
    check_script,
    round_vnd,
)


@pytest.fixture
def env():
    return SandboxEnvironment()


# --- ordinary scripts ---------------------------------------------------------------------------
def test_assignments_become_task_data_and_helpers_are_removed(env):
    data = {'amount': 150}
    env.execute(
        "fee = amount * 2\n"
        "def double(x):\n"
        "    return x * 2\n"
        "doubled = double(fee)\n"
        "m = math\n"
        "f = round_vnd\n"
        "s = string\n"
        "r = random\n"
        "print('debug output')\n"
        "approved = True\n"
        "rejected = False\n"
        "note = None\n",
        data,
    )
    assert data == {'amount': 150, 'fee': 300, 'doubled': 600, 'approved': True, 'rejected': False,
                    'note': None}


def test_container_mutation_augmented_assignment_and_comprehensions(env):
    shared = [1, 2]
    data = {'items': shared, 'info': {'a': 1}, 'n': 10}
    env.execute(
        "items.append(3)\n"
        "items += [4]\n"
        "info['b'] = 2\n"
        "del info['a']\n"
        "n += 5\n"
        "n -= 1\n"
        "n *= 2\n"
        "n //= 4\n"
        "text = 'a'\n"
        "text += 'b'\n"
        "squares = [i * i for i in range(5) if i % 2 == 0]\n"
        "lookup = {k: v for k, v in zip('xy', (1, 2))}\n"
        "total = sum(x for x in items)\n"
        "a, (b, c) = 1, (2, 3)\n"
        "pairs = [k + str(v) for k, v in sorted(lookup.items())]\n",
        data,
    )
    assert shared == [1, 2, 3, 4]  # += mutated the very list the task data holds
    assert data['info'] == {'b': 2}
    assert data['n'] == 7
    assert data['text'] == 'ab'
    assert data['squares'] == [0, 4, 16]
    assert data['lookup'] == {'x': 1, 'y': 2}
    assert data['total'] == 10
    assert (data['a'], data['b'], data['c']) == (1, 2, 3)
    assert data['pairs'] == ['x1', 'y2']


def test_try_except_finally_while_and_fstrings_behave_normally(env):
    # The sandbox injects deadline checks into handlers, finally blocks and while loops.
    data = {'raw': 'abc'}
    env.execute(
        "try:\n"
        "    number = int(raw)\n"
        "except ValueError as exc:\n"
        "    number = -1\n"
        "finally:\n"
        "    checked = True\n"
        "count = 0\n"
        "while count < 5:\n"
        "    count += 1\n"
        "label = f'{raw!r}: {count:03d}'\n",
        data,
    )
    assert data == {'raw': 'abc', 'number': -1, 'checked': True, 'count': 5, 'label': "'abc': 005"}


def test_sandbox_globals_datetime_decimal_math_json(env):
    data = {}
    env.execute(
        "due = datetime(2024, 1, 31, tzinfo=timezone.utc) + timedelta(days=15)\n"
        "day = date(2024, 2, 29).isoformat()\n"
        "fee = Decimal('12500.5') * 3\n"
        "fee_vnd = round_vnd(fee)\n"
        "root = math.sqrt(16)\n"
        "parsed = json_loads('{\"ten\": \"Nguyễn Văn A\"}')\n"
        "dumped = json_dumps({'ten': parsed['ten'], 'fee': fee})\n",
        data,
    )
    assert data['due'].isoformat() == '2024-02-15T00:00:00+00:00'
    assert data['day'] == '2024-02-29'
    assert data['fee'] == Decimal('37501.5')
    assert data['fee_vnd'] == 37502
    assert data['root'] == 4.0
    assert data['parsed'] == {'ten': 'Nguyễn Văn A'}
    assert data['dumped'] == '{"ten": "Nguyễn Văn A", "fee": "37501.5"}'
    assert set(SANDBOX_GLOBALS) == {'datetime', 'date', 'timedelta', 'timezone', 'Decimal', 'math',
                                    'json_loads', 'json_dumps', 'round_vnd', 'working_deadline'}


@pytest.mark.parametrize('amount, expected', [(1234.5, 1235), (1234.4, 1234), (Decimal('-2.5'), -3),
                                              ('99999.5', 100000), (7, 7)])
def test_round_vnd(amount, expected):
    assert round_vnd(amount) == expected


def test_environment_and_external_context_semantics():
    env = SandboxEnvironment({'helper': lambda x: x + 1})
    data = {'a': 1}
    env.execute("b = helper(a) + bonus", data, external_context={'bonus': 10})
    assert data == {'a': 1, 'b': 12}  # neither the global nor the external context persist
    with pytest.raises(ValueError, match='helper'):
        env.execute("x = 1", {'helper': 5})


def test_task_data_shadows_sandbox_globals(env):
    assert env.evaluate("date", {'date': '2024-01-01'}) == '2024-01-01'


@pytest.mark.parametrize('expression, data, expected', [
    ("amount > 100 and status == 'ok'", {'amount': 150, 'status': 'ok'}, True),
    ("amount > 100 and status == 'ok'", {'amount': 50, 'status': 'ok'}, False),
    ("amount > 100 and status == 'ok'", {'amount': 150, 'status': 'rejected'}, False),
    ("len(docs) >= 2 and 'cccd' in docs", {'docs': ['cccd', 'so_ho_khau']}, True),
    ("timedelta(days=days)", {'days': 3}, __import__('datetime').timedelta(days=3)),
])
def test_evaluate_conditions(env, expression, data, expected):
    before = dict(data)
    assert env.evaluate(expression, data) == expected
    assert data == before  # evaluate never writes into the task data


def test_evaluate_with_external_context(env):
    assert env.evaluate("dmninputexpr == 'A'", {}, external_context={'dmninputexpr': 'A'}) is True


def test_reserved_guard_names_in_task_data_are_refused(env):
    with pytest.raises(SandboxViolation, match='reserved'):
        env.evaluate("1", {'_getattr_': 'x'})


# --- hostile code ---------------------------------------------------------------------------------
HOSTILE = [
    ("__import__('os').system('touch {path}')", '__import__'),
    ("import os\nos.system('touch {path}')", 'import'),
    ("from os import system\nsystem('touch {path}')", 'import'),
    ("open('{path}', 'w').write('x')", 'open'),
    ("f = open\nf('{path}', 'w')", 'open'),
    ("().__class__.__bases__[0].__subclasses__()", '__class__'),
    ("[].__class__.__mro__", '__class__'),
    ("eval(\"open('{path}', 'w')\")", 'Eval'),
    ("exec(\"open('{path}', 'w')\")", 'Exec'),
    ("e = eval", 'eval'),
    ("c = compile('1', 'x', 'eval')", 'compile'),
    ("f = lambda: 1\ng = getattr(f, '__globals__')", '__globals__'),
    ("f = lambda: 1\ng = getattr(f, '__glo' + 'bals__')", '__globals__'),
    ("getattr(len, '__self__')", '__self__'),
    ("'{0.__class__}'.format(1)", 'format'),
    ("str.format('{0.__class__.__base__}', 1)", 'format'),
    ("'{a.__class__}'.format_map({'a': 1})", 'format_map'),
    ("string.Formatter().format('{0.__class__}', 1)", 'Formatter'),
    ("(x for x in []).gi_frame", 'gi_frame'),
    ("g = (x for x in [])\nframe = getattr(g, 'gi_' + 'frame')", 'gi_frame'),
    ("g = (x for x in [])\ncode = getattr(g, 'gi_code')", 'gi_code'),
    ("list.mro()", 'mro'),
    ("globals()", 'globals'),
    ("locals()", 'locals'),
    ("vars()", 'vars'),
    ("dir()", 'dir'),
    ("type(1)", 'type'),
    ("d = {}\nsetattr(d, 'x', 1)", 'setattr'),
    ("delattr(len, 'x')", 'delattr'),
    ("input()", 'input'),
    ("breakpoint()", 'breakpoint'),
    ("raise SystemExit(1)", 'SystemExit'),
    ("class Evil:\n    pass", 'class'),
    ("f = lambda: 1\nf.x = 1", 'function'),
    ("x = datetime.now()\nx.year = 1", 'datetime'),
    ("math.pi = 3", 'SimpleNamespace'),
]


@pytest.mark.parametrize('source, refused', HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_code_is_refused_and_touches_nothing(env, tmp_path, source, refused):
    target = tmp_path / 'pwned'
    data = {}
    with pytest.raises((SandboxViolation, SyntaxError)) as info:
        env.execute(source.replace('{path}', str(target)), data)
    assert type(info.value) in (SandboxViolation, SyntaxError)
    assert refused in str(info.value)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize('expression', ["().__class__", "open('/etc/passwd').read()",
                                        "getattr(1, '__class__')", "'{0.__class__}'.format(1)"])
def test_hostile_expressions_are_refused(env, expression):
    with pytest.raises((SandboxViolation, SyntaxError)):
        env.evaluate(expression, {})


def test_base_exception_cannot_escape_error_handling(env):
    # Exception.mro() would reach BaseException; raising it must not bypass `except Exception`.
    with pytest.raises(SandboxViolation, match='mro'):
        env.execute("raise Exception.mro()[1]('bye')", {})


@pytest.mark.parametrize('source', [
    "r = range(10**7)",
    "r = range(0, 10**30, 2)",
    "r = list(range(2_000_000))",
    "x = 2 ** 10**7",
    "x = pow(10, 10**7)",
    "x = 1 << 10**7",
    "x = 2\nx **= 10**7",
    "s = 'a' * 10**9",
    "s = [0] * 10**9",
    "s = 'a' * 10**6\ns += s * 20",
    "lst = [0] * 10**6\nlst *= 50",
    "x = math.factorial(10**6)",
    # one C call reached some other way than the guarded operators
    "s = str.ljust('', 10**9)",
    "s = getattr(str, 'center')('', 10**9)",
    "b = (0).to_bytes(10**9, 'big')",
    "b = random.randbytes(10**9)",
    "n = random.getrandbits(8 * 10**9)",
    "c = random.choices(range(2), k=10**8)",
    "r = Decimal('1e99999999').as_integer_ratio()",
])
def test_resource_bombs_are_refused(env, source):
    with pytest.raises(SandboxViolation, match='not allowed'):
        env.execute(source, {})


def test_a_negative_repeat_does_not_refill_the_allocation_budget(env):
    # lst *= -10**18 empties the list; counted as -10**18 items it would switch the budget off
    with pytest.raises(SandboxViolation, match='not allowed'):
        env.execute("lst = [0]\nlst *= -10**18\nfor i in range(30):\n    big = list(range(999_999))", {})


def test_the_real_list_type_is_out_of_reach(env):
    with pytest.raises(AttributeError):
        env.execute("real = list.wraps", {})  # the charged stand-in keeps it under a private name


def test_type_methods_of_str_still_work(env):
    data = {}
    env.execute("a = str.ljust('ab', 4, '.')\nb = str.upper('x')\nc = str.join('-', ['a', 'b'])", data)
    assert data == {'a': 'ab..', 'b': 'X', 'c': 'a-b'}


def test_moderate_sizes_still_work(env):
    data = {}
    env.execute("r = len(range(1_000_000))\nx = 2 ** 1000\ns = len('ab' * 1000)\nf = math.factorial(20)", data)
    assert data == {'r': 1_000_000, 'x': 2 ** 1000, 's': 2000, 'f': 2432902008176640000}


# --- time limit -------------------------------------------------------------------------------------
@pytest.mark.parametrize('source', [
    "while True: pass",
    "x = 0\nwhile True:\n    x += 1",
    "def spin():\n    while True:\n        yield 1\ntotal = sum(spin())",
    "x = [a for a in range(10**6) for b in range(10**6)]",
    # swallowing the timeout with try/except or finally+continue must not help
    "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
    "while True:\n    try:\n        pass\n    except:\n        pass",
    "for i in range(10):\n    try:\n        while True:\n            pass\n    finally:\n        continue",
    "for i in range(10**6):\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
])
def test_infinite_loops_are_stopped(source):
    # Run in a daemon thread so that a broken time limit fails the test instead of hanging it.
    outcome = {}

    def worker():
        try:
            SandboxEnvironment(time_limit=0.5).execute(source, {})
            outcome['error'] = None
        except Exception as exc:
            outcome['error'] = exc

    started = time.monotonic()
    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    thread.join(3)
    assert not thread.is_alive(), 'script was not stopped within 3 s'
    assert time.monotonic() - started < 3
    assert isinstance(outcome['error'], SandboxViolation)
    assert str(outcome['error']) == 'script exceeded the time limit of 0.5 s'


def test_default_time_limit_message_and_expression_loop(env):
    assert env.time_limit == SCRIPT_TIME_LIMIT_S == 2.0
    started = time.monotonic()
    with pytest.raises(SandboxViolation, match=r'^script exceeded the time limit of 2\.0 s$'):
        env.evaluate("[a for a in range(10**6) for b in range(10**6)]", {})
    assert time.monotonic() - started < 3


def test_time_limit_works_in_a_thread_and_previous_trace_is_restored():
    def previous_tracer(frame, event, arg):
        return None

    outcome = {}

    def worker():
        sys.settrace(previous_tracer)
        try:
            SandboxEnvironment(time_limit=0.3).execute("while True:\n    pass", {})
        except SandboxViolation as exc:
            outcome['error'] = exc
        outcome['trace_after'] = sys.gettrace()
        sys.settrace(None)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join(5)
    assert not thread.is_alive()
    assert isinstance(outcome['error'], SandboxViolation)
    assert outcome['trace_after'] is previous_tracer


def test_trace_function_restored_after_success_and_failure(env):
    def previous_tracer(frame, event, arg):
        return None

    original = sys.gettrace()
    sys.settrace(previous_tracer)
    try:
        env.execute("x = 1", {})
        assert sys.gettrace() is previous_tracer
        with pytest.raises(ZeroDivisionError):
            env.execute("x = 1 / 0", {})
        assert sys.gettrace() is previous_tracer
    finally:
        sys.settrace(original)


# --- compile errors and deploy-time checks ------------------------------------------------------------
@pytest.mark.parametrize('source, line', [
    ("a = 1\nb = (\n", 2),
    ("a = 1\nb = 2\nc = a.__class__\n", 3),
    ("a = 1\n\n\nimport os\n", 4),
    ("x = 1\nif x:\n", 2),
])
def test_compile_errors_raise_syntax_error_with_line(env, source, line):
    with pytest.raises(SyntaxError) as info:
        env.execute(source, {})
    assert info.value.lineno == line
    assert f'line {line}:' in info.value.msg


def test_check_script_reports_every_problem_with_its_line():
    assert check_script("a = 1\nb = [x for x in range(3)]\n") == []
    problems = check_script("a = 1\nimport os\nb = _secret\nc = a.__dict__\n")
    assert [line for line, _ in problems] == [2, 3, 4]
    assert 'import' in problems[0][1]
    assert '_secret' in problems[1][1]
    assert '__dict__' in problems[2][1]
    [(line, message)] = check_script("x = 1\n\nif x\n    y = 2\n")
    assert line == 3 and 'SyntaxError' in message


def test_check_expression():
    assert check_expression("amount > 100 and status == 'ok'") == []
    assert check_expression("amount >")[0][0] == 1
    assert check_expression("x = 1")[0][0] == 1  # statements are not expressions
    assert check_expression("(amount +\n _hidden)") == [
        (2, '"_hidden" is an invalid variable name because it starts with "_"')]


# --- SpiffWorkflow integration ---------------------------------------------------------------------
BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs" targetNamespace="http://bpmn.io/schema/bpmn">
  <bpmn:process id="proc" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="script"/>
    <bpmn:scriptTask id="script" name="Script" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{script}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="script" targetRef="gateway"/>
    <bpmn:exclusiveGateway id="gateway" default="small">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>big</bpmn:outgoing><bpmn:outgoing>small</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="big" sourceRef="gateway" targetRef="mark_big">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">fee &gt; 100000 and status == 'ok'</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="small" sourceRef="gateway" targetRef="mark_small"/>
    <bpmn:scriptTask id="mark_big" scriptFormat="python">
      <bpmn:incoming>big</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>route = 'big'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:scriptTask id="mark_small" scriptFormat="python">
      <bpmn:incoming>small</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
      <bpmn:script>route = 'small'</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f3" sourceRef="mark_big" targetRef="end"/>
    <bpmn:sequenceFlow id="f4" sourceRef="mark_small" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def _workflow(script, engine=None):
    parser = CamundaParser()
    parser.add_bpmn_str(BPMN.format(script=script).encode())
    return BpmnWorkflow(parser.get_spec('proc'), script_engine=engine or MotcuaScriptEngine())


def _script_task(workflow):
    return next(t for t in workflow.get_tasks() if t.task_spec.name == 'script')


@pytest.mark.parametrize('script', [
    "__import__('os').system('touch {path}')",
    "x = 1\nopen('{path}', 'w').write('owned')",
    "f = lambda: 1\nx = getattr(f, '__glob' + 'als__')",
])
def test_bpmn_hostile_script_task_errors_and_touches_nothing(tmp_path, script):
    target = tmp_path / 'pwned'
    workflow = _workflow(script.replace('{path}', str(target)))
    with pytest.raises(WorkflowTaskException) as info:
        workflow.do_engine_steps()
    assert _script_task(workflow).state == TaskState.ERROR
    assert info.value.error_type in ('SyntaxError', 'SandboxViolation')
    assert info.value.line_number == script.count('\n') + 1
    assert not target.exists()
    assert not workflow.is_completed()


@pytest.mark.parametrize('fee, route', [(150000, 'big'), (5000, 'small')])
def test_bpmn_benign_script_and_gateway_complete(fee, route):
    workflow = _workflow(f"fee = round_vnd(Decimal('{fee}.4'))\nstatus = 'ok'\n"
                         "due = (datetime(2024, 1, 1) + timedelta(days=15)).date().isoformat()")
    workflow.do_engine_steps()
    assert workflow.is_completed()
    assert workflow.data == {'fee': fee, 'status': 'ok', 'due': '2024-01-16', 'route': route}


def test_bpmn_runtime_error_reports_line_number():
    workflow = _workflow("d = {}\nx = 1\ny = d[1]")  # KeyError(1): SpiffWorkflow itself hit a TypeError
    with pytest.raises(WorkflowTaskException) as info:
        workflow.do_engine_steps()
    assert info.value.error_type == 'KeyError'
    assert (info.value.line_number, info.value.error_line) == (3, 'y = d[1]')
    assert _script_task(workflow).state == TaskState.ERROR


def test_bpmn_infinite_loop_is_stopped():
    workflow = _workflow("x = 1\nwhile True:\n    x += 1", MotcuaScriptEngine(time_limit=0.3))
    with pytest.raises(WorkflowTaskException) as info:
        workflow.do_engine_steps()
    assert info.value.error_type == 'SandboxViolation'
    assert 'time limit of 0.3 s' in str(info.value)
    assert _script_task(workflow).state == TaskState.ERROR


def test_engine_validate_uses_restricted_compiler():
    engine = MotcuaScriptEngine()
    engine.validate("amount > 100")
    with pytest.raises(SyntaxError):
        engine.validate("> 100")  # the DMN engine then retries as 'v > 100'
    engine.validate("v > 100")
    with pytest.raises(SyntaxError) as info:
        engine.validate("x.__class__")
    assert info.value.lineno == 1
    assert isinstance(engine.environment, SandboxEnvironment)


def test_decimal_results_keep_type():
    data = {'unit_price': Decimal('15000'), 'quantity': 3, 'issued': datetime(2024, 5, 1)}
    SandboxEnvironment().execute("total = unit_price * quantity\nyear = issued.year", data)
    assert data['total'] == Decimal('45000') and data['year'] == 2024


def test_working_deadline_is_available_to_timer_expressions(env):
    from datetime import datetime

    value = env.evaluate('working_deadline("P2D")', {})
    due = datetime.fromisoformat(value)
    assert due.tzinfo is not None and (due.hour, due.minute) == (17, 0)  # end of office hours
    assert due > datetime.now(due.tzinfo)
