"""loopml.streaming: an in-process complex-event-processing engine over columnar
micro-batches (docs/streaming.md).

Entry points (stable)::

    plan = compile_rules("rules.yaml")          # or a dict, a RuleApp, or a builder App
    out = plan.run_batches([("sensors", table), ...])   # -> dict[str, pyarrow.Table]
    out = plan.replay("sensors", table_or_path)  # batches of 65536 rows, file order

Output row format (what a differential test compares)
-----------------------------------------------------
``run_batches`` returns one ``pyarrow.Table`` per stream that got rows: every rule output
(the rule's ``as``, default its ``name``), every sink named in ``emit``, ``late`` and
``dead_letter``. Row order is the order of production (batch by batch; within a batch, in
event-time order). Columns, in this order:

- row rules (filter, select, lookup, predict, suppress): the ``select`` names in order, or
  else every input column in input order; then ``_time``;
- ``count``: every input column (or ``select``), then ``n`` (int, qualifying events of the
  key in [t - within, t]), then ``_time``;
- windows: the group columns (``group_by``, default the stream's key) that ``select`` does
  not name, then the ``select`` names in order, then ``_time``. Sliding and count windows
  emit one row per event (``_time`` = the event's time); tumbling/hopping windows emit one
  row per (window, key) when the watermark closes it (``_time`` = the window end: exclusive
  for tumbling [start, end), inclusive for hopping (end - W, end]);
- ``sequence``: for step alias ``a`` (default ``e1``, ``e2``, ...) and each column ``c`` of
  that step's stream, ``a_c`` (``select`` may use ``e1.temp``); then ``_time`` = the last
  step's event time;
- ``absent``: the arming event's columns, then ``_time`` = arming time + ``for``;
- sinks: the rule's columns (or ``emit.fields`` + ``_time``), then constant extra keys
  (e.g. ``severity``), then ``payload`` (JSON text) when given;
- ``late``: ``stream``, ``_time``, ``event`` (JSON text of the row);
- ``dead_letter``: ``source``, ``reason``, ``event`` (JSON text).

``_time`` is int64 milliseconds since the epoch (event time; timestamp columns are
converted to ms). Boundaries: a sliding window holds (t - W, t]; ``within`` (count,
sequence) is inclusive, t_last - t_first <= T; equal times keep arrival order.
"""

from __future__ import annotations

from loopml.streaming.batch import Batch
from loopml.streaming.builder import App, col
from loopml.streaming.driver import MicroBatcher
from loopml.streaming.expr import ExprError, compile_expr
from loopml.streaming.lint import LintProblem
from loopml.streaming.plan import DEAD_LETTER, LATE, Plan, compile_rules, read_table
from loopml.streaming.rules import RuleApp, parse_duration
from loopml.streaming.udf import register_udf, unregister_udf

__all__ = ["DEAD_LETTER", "LATE", "App", "Batch", "ExprError", "LintProblem", "MicroBatcher", "Plan",
           "RuleApp", "col", "compile_expr", "compile_rules", "parse_duration", "read_table",
           "register_udf", "unregister_udf"]
