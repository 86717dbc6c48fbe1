"""Screenshots of every page under /ui at 1280x800, for docs/ui.md.

    .venv/bin/python docs/screenshots.py --runs runs [--out docs/images]

Serves the bundled base with the fine-tuning service on loopback (in the current
``$AFINAR_HOME``; local mode when it has no registry, else give ``--api-key``), opens each page
in Debian's Chromium through Playwright and writes ``ui-<page>.png``: the runs list, the newest
run, the comparison of the two newest, the jobs, the datasets and the audit log.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from afinar.errors import AfinarError
from afinar.security.keys import default_provider
from afinar.serve.server import ServeOptions, build, serving
from afinar.serve.ui.views import find_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="the folder of runs to show")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "images")
    parser.add_argument("--api-key", help="a key of a user who may read the audit log (with a registry)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    runs = sorted(find_runs([args.runs]).items(), key=lambda kv: kv[1].stat().st_mtime)
    if not runs:
        raise SystemExit(f"{args.runs}: no run folders to show")
    args.out.mkdir(parents=True, exist_ok=True)
    try:  # the jobs page needs the fine-tuning service, which needs a key (uploads are encrypted)
        default_provider().current_id()
        jobs = True
    except AfinarError as err:
        print(f"no jobs page: {err}")
        jobs = False
    dep = build(ServeOptions(model="default", fine_tuning=jobs, workers=0, runs_dirs=[args.runs]))
    pages = {"runs": "/ui/", "run": f"/ui/runs/{runs[-1][0]}", "datasets": "/ui/datasets", "audit": "/ui/audit"}
    if jobs:
        pages["jobs"] = "/ui/jobs"
    if len(runs) > 1:
        pages["compare"] = f"/ui/compare?a={runs[-2][0]}&b={runs[-1][0]}"
    try:
        with serving(dep) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            if args.api_key:
                page.goto(f"{url}/ui/login")
                page.fill("#api_key", args.api_key)
                page.click("button[type=submit]")
            for name, path in pages.items():
                page.goto(url + path)
                target = args.out / f"ui-{name}.png"
                page.screenshot(path=str(target))
                print(f"{target}  ({path})")
            browser.close()
    finally:
        dep.engine.close()


if __name__ == "__main__":
    main()
