"""List page as HTML (the screen) against the JSON API for the same page.

    .venv/bin/python bench/list_html.py [--quick] [--smoke] [--database-url URL] [--profile]

Object ``deal`` (bench/_common.py), rows loaded with generate_series. The
page is 25 rows of ``industry = ind3`` sorted by ``-amount``, with the
columns the screen shows when no list view names any (the name and five
fields). Measured, interleaved:

* ``html``: ``GET /o/deal?filter.industry=ind3&sort=-amount`` — the whole
  screen (shell, filters, saved views, bulk bar, the rows through the field
  widgets),
* ``fragment``: the same URL as htmx asks for it (``HX-Target: list-results``):
  the results block alone, what every keystroke and sort click costs,
* ``count``: ``GET /o/deal/count?…``, the capped record count the page loads
  after its rows (a probe at offset 10,000 and, below it, an exact count),
* ``api`` (the baseline): ``GET /api/v1/data/deal?industry=ind3&sort=-amount
  &limit=25&fields=…`` — the same rows and columns as JSON.

Both signed in the way their clients are (a session cookie for the screen, a
bearer token for the API). Sizes: full 100k and 1M rows; --quick 10k and
100k; --smoke 300. Goal: html ≤ 1.5 × api at the median (UI.md §1.9). The
headline ratios (``html_over_api_p50``, ``fragment_over_api_p50``) are those of
the biggest size; each size's follow.
"""

from __future__ import annotations

import re
import sys

import _common as c

BENCH = "list_html"
OBJECT = "deal"
PAGE = 25
SCREEN_URL = f"/o/{OBJECT}?filter.industry=ind3&sort=-amount"
COUNT_URL = f"/o/{OBJECT}/count?filter.industry=ind3&sort=-amount"
FRAGMENT_HEADERS = {"HX-Request": "true", "HX-Target": "list-results"}


def sign_in(env: c.BenchEnv):
    """A second test client with a browser session of the bench's admin."""
    client = env.app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").get_data(as_text=True))[1]
    response = client.post(
        "/login",
        data={"email": "admin@bench.test", "password": c.PASSWORD, "tenant": env.tenant_slug, "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def row_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-record-id="(\d+)"', html)]


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    run = c.mode(args)
    sizes = {"smoke": [300], "quick": [10_000, 100_000], "full": [100_000, 1_000_000]}[run]
    rounds = {"smoke": 3, "quick": 40, "full": 200}[run]
    metrics: dict = {}
    baseline: dict = {}
    ratio: dict = {}
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        browser = sign_in(env)
        columns = None

        def html():
            response = browser.get(SCREEN_URL)
            assert response.status_code == 200, response.get_data(as_text=True)[-500:]
            return response

        def fragment():
            response = browser.get(SCREEN_URL, headers=FRAGMENT_HEADERS)
            assert response.status_code == 200
            return response

        def count():
            response = browser.get(COUNT_URL)
            assert response.status_code == 200 and b"records" in response.data
            return response

        def api():
            url = f"/api/v1/data/{OBJECT}?industry=ind3&sort=-amount&limit={PAGE}&fields={columns}"
            response = env.client.get(url, headers=env.headers)
            assert response.status_code == 200, response.data[:300]
            return response

        loaded = 0
        for size in sizes:
            env.load_series(OBJECT, size - loaded)
            loaded = size
            label = str(size) if size < 1000 else f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
            page = html().get_data(as_text=True)
            columns = ",".join(dict.fromkeys(re.findall(r'<td data-field="([a-z_0-9]+)"', page)))
            # The same rows in the same order on every path.
            ids = row_ids(page)
            assert len(ids) == PAGE and ids == row_ids(fragment().get_data(as_text=True))
            assert ids == [r["id"] for r in api().json["data"]], "screen and API disagree"
            c.log(f"[{label}] timing {rounds} interleaved rounds (columns {columns}) ...")
            cases = {"html": html, "fragment": fragment, "count": count, "api": api}
            samples = c.interleaved(cases, rounds, warmup=3)
            s = {name: c.summary_ms(v) for name, v in samples.items()}
            for name, stats in s.items():
                c.log(f"[{label}] {name:10s} p50 {stats['p50_ms']:8.3f} ms  p95 {stats['p95_ms']:8.3f} ms")
            metrics[f"html_{label}"] = {k: s["html"][k] for k in ("p50_ms", "p95_ms")}
            metrics[f"fragment_{label}"] = {k: s["fragment"][k] for k in ("p50_ms", "p95_ms")}
            metrics[f"count_{label}"] = {k: s["count"][k] for k in ("p50_ms", "p95_ms")}
            baseline[f"api_{label}"] = {k: s["api"][k] for k in ("p50_ms", "p95_ms")}
            api_p50 = s["api"]["p50_ms"]
            ratio[f"html_over_api_p50_{label}_lower_is_better"] = c.rnd(s["html"]["p50_ms"] / api_p50, 2)
            ratio[f"fragment_over_api_p50_{label}_lower_is_better"] = c.rnd(s["fragment"]["p50_ms"] / api_p50, 2)
        # The headline: the full page at the biggest size, the fragment beside it.
        headline = {
            "html_over_api_p50_lower_is_better": ratio[f"html_over_api_p50_{label}_lower_is_better"],
            "fragment_over_api_p50_lower_is_better": ratio[f"fragment_over_api_p50_{label}_lower_is_better"],
        }
        ratio = {**headline, **ratio}
        c.log(
            f"[{label}] full page {headline['html_over_api_p50_lower_is_better']:.2f}x the API (goal <= 1.5), "
            f"htmx fragment {headline['fragment_over_api_p50_lower_is_better']:.2f}x"
        )
        if args.profile:
            c.profile_calls("GET list page (html)", html, 100)
            c.profile_calls("GET list results (fragment)", fragment, 100)
        database = "sqlite" if env.sqlite else "postgresql"
    c.emit(
        BENCH,
        metrics,
        baseline,
        ratio,
        {"html_over_api_p50_max": 1.5},
        mode=run,
        database=database,
        reference={"rows": sizes, "rounds": rounds, "page": PAGE},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
