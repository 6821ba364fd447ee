"""Render the main pages of the built site in headless Chromium and check their layout.

For each page below, at a desktop width (1280 px) and a phone width (390 px):

- a screenshot of the whole page, and the view of the window after a jump to its first
  section (made from it), to be looked at;
- checks run by a script injected into a copy of the page, whose findings Chromium's
  ``--dump-dom`` returns:

  * **clipped code**: a ``pre`` (or display math) wider than its box, with no ancestor
    that scrolls it: the end of its lines cannot be seen;
  * **overflowing tables**: a table wider than the text column; at 1280 px this is a
    failure even inside a scrolling container (a reader should not have to scroll a table
    on a desktop), at 390 px only when nothing scrolls it;
  * **the page wider than the window** (a horizontal scroll bar on the whole page), and
    **content cut at the window's edge** (headings, text, code, tables or images that
    reach past the window's right edge with nothing to scroll them);
  * formulas left as LaTeX source (noted, not failed: MathJax comes from a CDN, which an
    offline machine cannot reach);
  * **hidden headings**: after a jump to a section's anchor (``scrollIntoView``, which
    honours ``scroll-margin-top`` / ``scroll-padding-top`` as an anchor jump does), the
    top of the section heading's capital letters must be below the sticky header.

Needs Chromium (Debian: ``apt-get install chromium``) and the built site
(``make -C doc html`` or ``make -C doc html-noplot``); nothing is downloaded. Usage::

    python doc/check_pages.py                      # doc/_build/html, screenshots in doc/_build/page_checks
    python doc/check_pages.py --html /tmp/build/html --output /tmp/checks

It prints one line per finding and a summary, writes ``report.json`` and the screenshots
to ``--output``, and exits with 1 when a check fails (2 when Chromium is missing).
"""

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = {
    "landing": "index.html",
    "install": "install.html",
    "user_guide": "user_guide.html",
    "user_guide_concepts": "user_guide/concepts.html",
    "reproduction": "reproduction.html",
    "api_generator": "generated/sklearn_lorae.LoRAEGenerator.html",
}
WIDTHS = {"desktop": 1280, "phone": 390}
VIEWPORT_HEIGHT = 900
MAX_SCREENSHOT_HEIGHT = 16_000  # Chromium's limit on a window is about 16,384 px
RESULTS_ID = "page-check-results"

# Runs in the page once it has loaded and laid out, and posts its findings, as JSON, to the
# frame around the page (FRAME), which writes them into a <pre> that --dump-dom returns.
CHECK_SCRIPT = r"""
<script>
window.addEventListener("load", () => setTimeout(() => {
  const findings = [];
  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const column = article.getBoundingClientRect();
  const scrolls = (element, stop) => {
    for (let node = element; node && node !== stop.parentElement; node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowX;
      if ((overflow === "auto" || overflow === "scroll") && node.scrollWidth > node.clientWidth + 1) return true;
    }
    return false;
  };
  const describe = (element) => {
    const text = (element.textContent || "").trim().replace(/\s+/g, " ");
    return text.slice(0, 70);
  };
  // Code blocks and display math wider than their box.
  for (const element of article.querySelectorAll("pre, div.math, mjx-container[display='true']")) {
    if (element.scrollWidth > element.clientWidth + 1 && !scrolls(element, article)) {
      findings.push({check: "clipped code", fail: true, width: element.scrollWidth,
                     box: element.clientWidth, text: describe(element)});
    } else if (element.scrollWidth > element.clientWidth + 1) {
      findings.push({check: "code scrolls", fail: false, width: element.scrollWidth,
                     box: element.clientWidth, text: describe(element)});
    }
  }
  // Tables wider than the text column.
  for (const table of article.querySelectorAll("table")) {
    const width = Math.round(table.getBoundingClientRect().width);
    if (width > Math.round(column.width) + 1) {
      const scrolled = scrolls(table, article);
      findings.push({check: "table overflows", fail: !scrolled || window.innerWidth >= 1000,
                     scrolls: scrolled, width: width, box: Math.round(column.width), text: describe(table)});
    }
  }
  // Content past the window's right edge that nothing scrolls: cut off (the theme hides the
  // page's horizontal overflow, so the page itself does not get wider).
  const cut = [...article.querySelectorAll("h1, h2, h3, h4, p, dt, dd, li, pre, table, img, figure")].filter(
    (element) => element.getBoundingClientRect().width > 0
      && element.getBoundingClientRect().right > window.innerWidth + 1 && !scrolls(element, article));
  if (cut.length) {
    findings.push({check: `content cut at the window's edge (${cut.length} elements)`, fail: true,
                   width: Math.round(Math.max(...cut.map((element) => element.getBoundingClientRect().right))),
                   box: window.innerWidth, text: describe(cut[0])});
  }
  // Formulas left as LaTeX source: MathJax did not load (it comes from a CDN: offline, it cannot).
  const formulas = article.querySelectorAll("span.math, div.math").length;
  if (formulas && !document.querySelector("mjx-container, .MathJax")) {
    findings.push({check: "math not typeset (MathJax not loaded)", fail: false, width: formulas, box: 0,
                   text: describe(article.querySelector("span.math, div.math"))});
  }
  // The whole page wider than the window.
  if (document.documentElement.scrollWidth > window.innerWidth + 1) {
    findings.push({check: "page wider than window", fail: true,
                   width: document.documentElement.scrollWidth, box: window.innerWidth, text: ""});
  }
  // Headings after a jump to their section's anchor.
  const header = document.querySelector("header.bd-header") || document.querySelector("header");
  let jumps = 0, firstJump = null;
  for (const section of article.querySelectorAll("section[id]")) {
    const heading = section.querySelector(":scope > h1, :scope > h2, :scope > h3, :scope > h4");
    if (!heading) continue;
    section.scrollIntoView({block: "start", behavior: "instant"});
    jumps += 1;
    // The top of the heading's glyphs: its text's em box (not its margin box), plus the
    // quarter of an em above a capital letter's top, blank in the usual fonts.
    const range = document.createRange();
    range.selectNodeContents(heading);
    const top = range.getClientRects()[0].top + 0.25 * parseFloat(getComputedStyle(heading).fontSize);
    const covered = header ? header.getBoundingClientRect().bottom : 0;
    if (!firstJump && heading.tagName === "H2") {
      firstJump = {anchor: section.id, scroll: Math.round(window.scrollY), text_top: Math.round(top)};
    }
    if (top < covered - 1) {
      findings.push({check: "heading hidden under header", fail: true, anchor: section.id,
                     width: Math.round(top), box: Math.round(covered), text: describe(heading)});
    }
  }
  window.scrollTo(0, 0);
  parent.postMessage(JSON.stringify({
    findings: findings, jumps: jumps, height: document.documentElement.scrollHeight,
    header_height: header ? Math.round(header.getBoundingClientRect().height) : 0,
    first_jump: firstJump, viewport_width: window.innerWidth,
  }), "*");
}, 300));
</script>
"""

# Headless Chromium lays a page out at least 500 px wide, whatever --window-size says: the
# page is shown in an iframe of the exact width instead, inside a window at least as wide.
MIN_WINDOW_WIDTH = 500
FRAME = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><style>html, body {{ margin: 0; padding: 0; }}</style></head>
<body><iframe src="{src}" style="display: block; border: 0; width: {width}px; height: {height}px"></iframe>
<script>
window.addEventListener("message", (event) => {{
  const results = document.createElement("pre");
  results.id = "{results_id}";
  results.textContent = event.data;
  document.body.appendChild(results);
}});
</script></body></html>
"""


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium(binary, width, height, *arguments, profile):
    # --no-sandbox: Chromium refuses to run as root with its sandbox (containers, CI).
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
        "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}",
        f"--window-size={width},{height}", *arguments,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _framed(binary, page, width, height, arguments, profile, script=""):
    """Chromium's output for ``page`` shown in an iframe of ``width`` x ``height`` px, with
    ``script`` added to the page: a copy of the page and the frame are written beside it
    (so that its relative links still resolve), and removed afterwards."""
    copy = page.with_name(f"_check_{page.name}")
    frame = page.with_name(f"_frame_{page.name}")
    source = page.read_text(encoding="utf-8")
    copy.write_text(source.replace("</body>", script + "</body>", 1), encoding="utf-8")
    frame.write_text(FRAME.format(src=copy.name, width=width, height=height, results_id=RESULTS_ID), encoding="utf-8")
    try:
        window = max(width, MIN_WINDOW_WIDTH)
        return chromium(binary, window, height, *arguments, frame.as_uri(), profile=profile)
    finally:
        copy.unlink()
        frame.unlink()


def check_page(binary, page, width, profile):
    """The findings of CHECK_SCRIPT on ``page`` in a window of ``width`` px."""
    dom = _framed(
        binary, page, width, VIEWPORT_HEIGHT, ["--virtual-time-budget=5000", "--dump-dom"], profile, CHECK_SCRIPT
    )
    match = re.search(rf'<pre id="{RESULTS_ID}">(.*?)</pre>', dom, re.DOTALL)
    if match is None:
        raise RuntimeError(f"the check script did not run on {page}")
    result = json.loads(html.unescape(match.group(1)))
    if result["viewport_width"] != width:
        raise RuntimeError(f"{page} was laid out {result['viewport_width']} px wide instead of {width}")
    return result


def screenshot(binary, page, width, height, path, profile):
    """The whole page at ``width``, ``height`` px tall (the frame's window may be wider:
    the image is cut to ``width`` when Pillow is there, else its right part stays blank)."""
    _framed(binary, page, width, height, ["--virtual-time-budget=3000", f"--screenshot={path}"], profile)
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        cropped = image.crop((0, 0, width, height))
    cropped.save(path)


def anchor_view(full_page, result, width, path):
    """What the window shows after a jump to the page's first section: the full-page
    screenshot from the scroll position the jump reached, with the sticky header (the
    top of the page) drawn over it. Chromium's own --screenshot of a scrolled page draws
    the sticky header at the scroll offset over unscrolled content, so it cannot show this."""
    try:
        from PIL import Image
    except ImportError:  # Pillow comes with matplotlib (the doc extra); without it, no view
        return
    with Image.open(full_page) as image:
        top = result["first_jump"]["scroll"]
        view = image.crop((0, top, width, top + VIEWPORT_HEIGHT))
        view.paste(image.crop((0, 0, width, result["header_height"])), (0, 0))
        view.save(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--html", type=Path, default=HERE / "_build" / "html", help="the built site")
    parser.add_argument("--output", type=Path, default=HERE / "_build" / "page_checks", help="screenshots and report")
    parser.add_argument("--pages", nargs="+", choices=sorted(PAGES), default=list(PAGES))
    args = parser.parse_args()
    binary = find_chromium()
    if binary is None:
        print("Chromium not found: apt-get install chromium (Debian), or put chromium on PATH.", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    report, failures = {}, 0
    with tempfile.TemporaryDirectory() as profile:
        for name in args.pages:
            page = args.html / PAGES[name]
            if not page.is_file():
                raise FileNotFoundError(f"{page} is missing: build the site first (make -C doc html)")
            for label, width in WIDTHS.items():
                result = check_page(binary, page, width, profile)
                stem = args.output / f"{name}_{width}"
                height = min(result["height"], MAX_SCREENSHOT_HEIGHT)
                screenshot(binary, page, width, height, stem.with_suffix(".png"), profile)
                if result["first_jump"]:
                    anchor_view(stem.with_suffix(".png"), result, width, f"{stem}_anchor.png")
                report[f"{name}/{width}"] = result
                for finding in result["findings"]:
                    failures += finding["fail"]
                    flag = "FAIL" if finding["fail"] else "note"
                    print(
                        f"{flag} {name} at {width} px: {finding['check']} ({finding['width']} in {finding['box']} px) "
                        f"{finding.get('anchor', '')} {finding['text']!r}"
                    )
                print(
                    f"{name} at {width} px ({label}): page {result['height']} px tall, header "
                    f"{result['header_height']} px, {result['jumps']} anchors jumped to, "
                    f"{sum(f['fail'] for f in result['findings'])} failed checks",
                    flush=True,
                )
    (args.output / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"{failures} failed checks; screenshots and report.json in {args.output}")
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("LANG", "C.UTF-8")
    sys.exit(main())
