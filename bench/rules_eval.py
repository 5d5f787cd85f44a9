"""Rule evaluation, one record at a time: the compiled closure against hand-written Python.

    .venv/bin/python bench/rules_eval.py [--quick] [--database-url URL] [--profile]

A lead-score-like formula over the 10 fields of the bench ``deal`` object
(IF, CASE, AND, IN, text functions, arithmetic with ROUND, DAYSBETWEEN over
TODAY()), see ``SCORE``. The model is compiled in memory from the same field
definitions the other scripts create; no database is used (``--database-url``
is accepted for run_all.sh and ignored). Every pass scores the same N records
(Python values as the record store reads them: Decimal, int, date, bool, str):

* ``closure``: ``compile_python(check(parse(SCORE)))`` built once; per record
  a ``RecordContext`` is made and the closure called (what automation and
  validation do),
* ``closure_prebuilt_context`` (for reference): the same with the contexts
  made beforehand, i.e. the closure alone,
* ``lambda`` (the baseline): the same logic hand-written in Python,
* ``parse_each_time``: parse + type-check + compile + evaluate per record
  (each text gets a distinct ``/* n */`` comment so the parse cache is
  bypassed) — the cost the compile-once design saves.

All three must give the same score for every record (checked). Goals:
closure ≥ 0.5x the lambda's speed; closure ≥ 20x parse-each-time.

Sizes: full 20,000 records x 10 passes (parse-each-time: 1,000 records x 3);
--quick 4,000 x 5 (300 x 3); --smoke (tests only) 200 x 2. Passes are interleaved.
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
import time
from decimal import ROUND_HALF_UP, Decimal

import _common as c

from metacrm.metadata.changes import normalized_field
from metacrm.metadata.definitions import Definition, DefinitionSet
from metacrm.metadata.fieldtypes.registry import builtin_registry
from metacrm.metadata.physical import compile_model
from metacrm.rules import NUMBER, CheckContext, RecordContext, check, compile_python, parse

BENCH = "rules_eval"
OBJECT = "deal"
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()
SCORE = """
IF(AND(is_key, amount > 5000), 30, IF(amount > 1000, 15, 0))
+ CASE(stage, "negotiate", 25, "propose", 15, "qualify", 5, 0)
+ IF(ENDS(LOWER(contact_email), "@example.com"), 0, 10)
+ IF(DAYSBETWEEN(TODAY(), close_date) <= 30, 20, 0)
+ ROUND(probability * quantity / 100, 0)
+ IF(industry IN ("ind1", "ind3"), 10, 0)
+ IF(BEGINS(UPPER(name), "DEAL 1"), 5, 0)
+ IF(LEN(notes) > 15, 5, 0)
"""
STAGE_POINTS = {"negotiate": 25, "propose": 15, "qualify": 5}
HOT_INDUSTRIES = ("ind1", "ind3")
ONE = Decimal(1)


def handwritten_score(r: dict, today: dt.date):
    """SCORE as an engineer would write it in Python (the data has no nulls)."""
    amount = r["amount"]
    score = 30 if r["is_key"] and amount > 5000 else 15 if amount > 1000 else 0
    score += STAGE_POINTS.get(r["stage"], 0)
    score += 0 if r["contact_email"].lower().endswith("@example.com") else 10
    score += 20 if (r["close_date"] - today).days <= 30 else 0
    score += (r["probability"] * r["quantity"] / 100).quantize(ONE, rounding=ROUND_HALF_UP)
    score += 10 if r["industry"] in HOT_INDUSTRIES else 0
    score += 5 if r["name"].upper().startswith("DEAL 1") else 0
    score += 5 if len(r["notes"]) > 15 else 0
    return score


def deal_model():
    items = {(("object", OBJECT)): Definition("object", OBJECT, {"api_name": OBJECT, "label": "Deal"})}
    fields = [{"api_name": "name", "label": "Name", "type": "text"}, *c.DEAL_FIELDS]
    for document in fields:
        document = normalized_field(document)
        key = f"{OBJECT}.{document['api_name']}"
        items[("field", key)] = Definition("field", key, document)
    return compile_model(1, DefinitionSet(items), builtin_registry())


def records(n: int) -> list[dict]:
    """Python values like the store's rows (deal_record's data, typed)."""
    out = []
    for i in range(1, n + 1):
        r = c.deal_record(i)
        r["amount"] = Decimal(r["amount"])
        r["probability"] = Decimal(r["probability"])
        r["close_date"] = dt.date.fromisoformat(r["close_date"])
        if i % 5 == 0:  # some e-mail addresses outside example.com, some close dates near
            r["contact_email"] = f"Buyer{i}@Customer.org"
        if i % 3 == 0:
            r["close_date"] = TODAY + dt.timedelta(days=i % 60)
        out.append(r)
    return out


def timed_pass(fn, rows) -> float:
    t0 = time.perf_counter()
    fn(rows)
    return time.perf_counter() - t0


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    n, passes = (4_000, 5) if args.quick else (20_000, 10)
    n_parse, parse_passes = (300, 3) if args.quick else (1_000, 3)
    if args.smoke:
        n, passes, n_parse, parse_passes = 200, 2, 20, 1
    model = deal_model()
    context = CheckContext(model, OBJECT)
    evaluate = compile_python(check(parse(SCORE), context, expect=NUMBER))
    rows = records(n)
    parse_rows = rows[:n_parse]
    prebuilt = [RecordContext(r, now=NOW, today=TODAY) for r in rows]
    serial = iter(range(10**9))

    def closure(rs):
        return [evaluate(RecordContext(r, now=NOW, today=TODAY)) for r in rs]

    def closure_prebuilt(_rs):
        return [evaluate(ctx) for ctx in prebuilt]

    def handwritten(rs):
        return [handwritten_score(r, TODAY) for r in rs]

    def parse_each_time(rs):
        out = []
        for r in rs:
            text = f"{SCORE} /* {next(serial)} */"
            fn = compile_python(check(parse(text), CheckContext(model, OBJECT), expect=NUMBER))
            out.append(fn(RecordContext(r, now=NOW, today=TODAY)))
        return out

    expected = handwritten(rows)
    assert closure(rows) == expected, "closure and hand-written scores differ"
    assert closure_prebuilt(rows) == expected
    assert parse_each_time(parse_rows) == expected[:n_parse], "parse-each-time scores differ"
    c.log(f"scores agree on {n} records (mean score {sum(expected) / n:.1f})")

    samples: dict[str, list[float]] = {"closure": [], "closure_prebuilt_context": [], "lambda": []}
    cases = {"closure": closure, "closure_prebuilt_context": closure_prebuilt, "lambda": handwritten}
    parse_samples: list[float] = []
    names = list(cases)
    for p in range(passes):
        for name in names[p % 3 :] + names[: p % 3]:
            gc.collect()
            samples[name].append(timed_pass(cases[name], rows))
        if p < parse_passes:
            gc.collect()
            parse_samples.append(timed_pass(parse_each_time, parse_rows))
        c.log(
            f"  pass {p + 1}/{passes}: "
            + ", ".join(f"{k} {v[-1] / n * 1e6:.2f} µs/rec" for k, v in samples.items())
            + (f", parse_each_time {parse_samples[-1] / n_parse * 1e6:.0f} µs/rec" if p < parse_passes else "")
        )
    per_record_us = {name: c.percentile(v, 50) / n * 1e6 for name, v in samples.items()}
    per_record_us["parse_each_time"] = c.percentile(parse_samples, 50) / n_parse * 1e6
    for name, us in per_record_us.items():
        c.log(f"{name:26s} {us:10.2f} µs/record  {1e6 / us:12,.0f} records/s")
    if args.profile:
        c.profile_calls("closure, 1 pass", lambda: closure(rows), 1)
        c.profile_calls("parse each time, 50 records", lambda: parse_each_time(parse_rows[:50]), 1)
    closure_vs_lambda = per_record_us["lambda"] / per_record_us["closure"]
    closure_vs_parse = per_record_us["parse_each_time"] / per_record_us["closure"]
    c.emit(
        BENCH,
        {
            "closure_us_per_record": c.rnd(per_record_us["closure"], 2),
            "closure_records_per_s": round(1e6 / per_record_us["closure"]),
            "closure_prebuilt_context_us_per_record": c.rnd(per_record_us["closure_prebuilt_context"], 2),
            "parse_each_time_us_per_record": c.rnd(per_record_us["parse_each_time"], 1),
            "closure_over_lambda_speed": c.rnd(closure_vs_lambda, 3),
            "closure_over_parse_each_time_speed": c.rnd(closure_vs_parse, 1),
        },
        {
            "lambda_us_per_record": c.rnd(per_record_us["lambda"], 2),
            "lambda_records_per_s": round(1e6 / per_record_us["lambda"]),
        },
        {
            "closure_over_lambda_speed_higher_is_better": c.rnd(closure_vs_lambda, 3),
            "closure_prebuilt_context_over_lambda_speed_higher_is_better": c.rnd(
                per_record_us["lambda"] / per_record_us["closure_prebuilt_context"], 3
            ),
            "closure_over_parse_each_time_speed_higher_is_better": c.rnd(closure_vs_parse, 1),
        },
        {"closure_over_lambda_speed_min": 0.5, "closure_over_parse_each_time_speed_min": 20},
        mode=c.mode(args),
        reference={
            "records": n,
            "passes": passes,
            "parse_each_time_records": n_parse,
            "parse_each_time_passes": parse_passes,
            "fields_read": 10,
            "expression_chars": len(SCORE.strip()),
            "database": "none (in-memory model)",
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
