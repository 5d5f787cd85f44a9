"""The import wizard in a real browser, as the demo's admin: upload a CSV
with one bad row, see the auto-matched columns, start the import, watch the
progress bar until a worker has run the job, read the result and download
the failed rows; then the phone and zh_CN layouts."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from playwright.sync_api import expect

from metacrm.platform.jobs import job_queue
from tests.browser.support import (
    ADMIN,
    PHONE,
    Watch,
    assert_accessible,
    assert_no_horizontal_scrolling,
    fill_sign_in,
    sign_in,
)

CSV = "Account name,Account type,Industry\nImported One,Customer,Technology\nImported Two,Nonsense,科技\n"


def _work(live) -> None:
    """Run the queued jobs, as a ``metacrm worker`` would."""
    huey = job_queue(live.instance).huey
    while (task := huey.dequeue()) is not None:
        huey.execute(task)


def test_import_a_file_with_one_bad_row_and_download_the_failed_rows(page, live, tmp_path):
    source = tmp_path / "accounts.csv"
    source.write_text(CSV, encoding="utf-8")
    sign_in(page, ADMIN)
    page.goto("/o/account")
    page.get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import Accounts")).to_be_visible()
    page.get_by_label("File (.csv or .xlsx)").set_input_files(str(source))
    page.get_by_role("button", name="Upload").click()
    expect(page.get_by_label("Account name", exact=True)).to_have_value("name")
    expect(page.get_by_label("Account type", exact=True)).to_have_value("account_type")
    expect(page.get_by_text("Nonsense")).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=str(tmp_path / "import-map-1280.png"), full_page=True)
    page.get_by_role("button", name="Start the import").click()
    page.wait_for_load_state("load")
    expect(page.locator("#import-progress")).to_be_visible()
    _work(live)
    expect(page.locator('[data-count="created"]')).to_have_text("1", timeout=10_000)
    expect(page.locator('[data-count="failed"]')).to_have_text("1")
    errors = page.get_by_role("table", name="Rows with errors")
    expect(errors).to_contain_text("Account type")
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the failed rows").click()
    rows = list(csv.reader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["Account name", "Account type", "Industry", "error"]
    assert rows[1][:3] == ["Imported Two", "Nonsense", "科技"] and rows[1][3].startswith("account_type:")
    page.screenshot(path=str(tmp_path / "import-result-1280.png"), full_page=True)


def test_the_wizard_on_a_phone_in_chinese(browser, live, tmp_path):
    watch = Watch(live.url)
    context = browser.new_context(base_url=live.url, viewport=PHONE, locale="zh-CN")
    watch.attach(context)
    try:
        page = context.new_page()
        fill_sign_in(page, ADMIN)
        expect(page.get_by_role("navigation", name="主导航")).to_be_visible()
        page.goto("/o/account")
        page.get_by_role("link", name="导入").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("导入")
        source = tmp_path / "客户.csv"
        source.write_text("客户名称,客户类型\n华为,正式客户\n", encoding="gbk")
        page.get_by_label("文件（.csv 或 .xlsx）").set_input_files(str(source))
        page.get_by_role("button", name="上传").click()
        expect(page.get_by_label("客户名称", exact=True)).to_have_value("name")
        expect(page.get_by_label("客户类型", exact=True)).to_have_value("account_type")
        assert_no_horizontal_scrolling(page)
        page.screenshot(path=str(tmp_path / "import-map-390-zh.png"), full_page=True)
        assert_accessible(page)
    finally:
        context.close()
    assert not watch.problems, watch.problems
