#!/bin/bash
# browser_report.sh - opens the demo report in headless Chromium and checks
# that every image loaded (naturalWidth > 0), that nothing was logged as a
# console error, that the page asked for nothing but its own files, and that
# it has no scripts. A self-test first breaks a copy of the report (one image
# deleted) and requires the checker to see it, so the check cannot pass
# vacuously.
#
# usage: tests/browser_report.sh [INTERP]        (default ./interp)
#
# Chromium is driven over --remote-debugging-pipe (the DevTools protocol on
# file descriptors 3 and 4) by a small stdlib-only Python client, so no
# network port, no npm package and no WebDriver are involved.
# Prints one line per failure and, last, "N passed, N failed".
#
# When chromium (or python3) is missing the test is SKIPPED loudly and exits
# 1, so that CI cannot pass it silently; INTERP_ALLOW_SKIP=1 makes a skip
# exit 0. `make check` installs chromium first (scripts/deps_browser.sh).
# Environment: CHROMIUM (the browser binary), BROWSER_TIMEOUT (seconds per
# page, default 60).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
I=$(cd "$(dirname "${1:-./interp}")" && pwd)/$(basename "${1:-./interp}")
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3 || true)

skip() {
    echo "################################################################" >&2
    echo "## browser_report: SKIPPED: $*" >&2
    echo "## The HTML report was NOT checked in a browser." >&2
    echo "## Install it with scripts/deps_browser.sh (make check does)." >&2
    echo "################################################################" >&2
    echo "0 passed, 0 failed, 1 skipped"
    [ "${INTERP_ALLOW_SKIP:-0}" = 1 ] && exit 0
    exit 1
}

CHROME=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$CHROME" ] && [ -x "$CHROME" ] || skip "chromium not found${CHROMIUM:+ at $CHROMIUM}"
[ -n "$PY" ] || skip "python3 not found (drives chromium)"
[ -x "$I" ] || { echo "browser_report: $I is not executable; build it first" >&2; exit 2; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The demo report, exactly as `make demo` makes it.
(cd "$ROOT" && "$I" report fixtures/models/fmnist.onnx fixtures/demo -o "$WORK/report" --quiet) \
    >"$WORK/report.out" 2>&1 || {
    echo "FAIL interp report failed: $(head -c 500 "$WORK/report.out")"
    echo "0 passed, 1 failed"
    exit 1
}
# The self-test's copy: one gallery image removed.
cp -r "$WORK/report" "$WORK/broken"
victim=$(ls "$WORK/broken/gallery" | head -1)
rm "$WORK/broken/gallery/$victim"

cat >"$WORK/check.py" <<'EOF'
import json, os, select, shutil, subprocess, sys, tempfile, time

chrome, page, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
profile = tempfile.mkdtemp(prefix="interp-chromium-")
# fds 3 (commands to chromium) and 4 (its replies), as --remote-debugging-pipe wants
cmd_r, cmd_w = os.pipe()
rep_r, rep_w = os.pipe()
def child_fds():
    # move both ends above 4 first, so that neither dup2 clobbers the other
    os.dup2(cmd_r, 103)
    os.dup2(rep_w, 104)
    os.dup2(103, 3)
    os.dup2(104, 4)
args = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-dev-shm-usage", "--user-data-dir=" + profile,
        "--remote-debugging-pipe", "about:blank"]
log = open(os.path.join(profile, "chromium.log"), "w")
proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                        preexec_fn=child_fds, pass_fds=(3, 4))
os.close(cmd_r)
os.close(rep_w)
deadline = time.time() + timeout
buf = b""
events = []
next_id = 0

def fail(msg):
    try: proc.kill()
    except Exception: pass
    log.close()
    with open(log.name, errors="replace") as f:
        tail = f.read()[-600:]
    shutil.rmtree(profile, ignore_errors=True)
    print(json.dumps({"fatal": msg + "; chromium's log ends: " + tail}))
    sys.exit(0)

def read_message():
    global buf
    while b"\0" not in buf:
        left = deadline - time.time()
        if left <= 0: fail("timed out after %gs" % timeout)
        r, _, _ = select.select([rep_r], [], [], left)
        if not r: continue
        chunk = os.read(rep_r, 1 << 20)
        if not chunk: fail("chromium closed the pipe (see its log)")
        buf += chunk
    msg, buf = buf.split(b"\0", 1)
    return json.loads(msg)

def send(method, params=None, session=None):
    global next_id
    next_id += 1
    m = {"id": next_id, "method": method, "params": params or {}}
    if session: m["sessionId"] = session
    os.write(cmd_w, json.dumps(m).encode() + b"\0")
    while True:
        r = read_message()
        if r.get("id") == next_id:
            if "error" in r: fail("%s: %s" % (method, r["error"]))
            return r.get("result", {})
        events.append(r)

def wait_event(name):
    for i, e in enumerate(events):
        if e.get("method") == name:
            return events.pop(i)
    while True:
        e = read_message()
        if e.get("method") == name: return e
        events.append(e)

t = send("Target.createTarget", {"url": "about:blank"})
s = send("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True})["sessionId"]
for dom in ("Page", "Runtime", "Log", "Network"):
    send(dom + ".enable", session=s)
send("Page.navigate", {"url": "file://" + os.path.abspath(page)}, session=s)
wait_event("Page.loadEventFired")
expr = """JSON.stringify({
  images: Array.from(document.images).map(i => ({src: i.getAttribute('src'),
      alt: i.getAttribute('alt') || '', complete: i.complete, w: i.naturalWidth})),
  scripts: document.scripts.length,
  title: document.title,
  doctype: document.doctype ? document.doctype.name : null,
  lang: document.documentElement.lang})"""
r = send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=s)
page_info = json.loads(r["result"]["value"])
time.sleep(0.3)  # let late log entries arrive
send("Runtime.evaluate", {"expression": "1"}, session=s)
errors, requests = [], []
for e in events:
    m, p = e.get("method"), e.get("params", {})
    if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        errors.append("console.%s: %s" % (p["type"], " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", []))))
    elif m == "Runtime.exceptionThrown":
        errors.append("exception: " + p["exceptionDetails"].get("text", "?"))
    elif m == "Log.entryAdded" and p["entry"]["level"] == "error":
        errors.append("log: %s %s" % (p["entry"].get("text", ""), p["entry"].get("url", "")))
    elif m == "Network.requestWillBeSent":
        requests.append(p["request"]["url"])
try:
    send("Browser.close")
except SystemExit:
    pass
try: proc.wait(10)
except Exception: proc.kill()
shutil.rmtree(profile, ignore_errors=True)
page_info["errors"] = errors
page_info["requests"] = requests
print(json.dumps(page_info))
EOF

# check PAGE -> JSON on stdout (or {"fatal": ...})
check() {
    "$PY" "$WORK/check.py" "$CHROME" "$1" "${BROWSER_TIMEOUT:-60}"
}

# summarise JSON MODE: MODE good = every check must hold; broken = the
# missing image must be seen. Prints FAIL lines and "passed failed".
summarise() {
    "$PY" -c '
import json, sys
mode, victim = sys.argv[1], sys.argv[2]
d = json.loads(sys.stdin.read() or "{\"fatal\": \"no output from the checker\"}")
passed = failed = 0
def ok(cond, what):
    global passed, failed
    if cond: passed += 1
    else:
        failed += 1
        print("FAIL [%s] %s" % (mode, what))
if "fatal" in d:
    ok(False, "chromium: " + d["fatal"])
elif mode == "good":
    ok(d["doctype"] == "html", "<!DOCTYPE html> present")
    ok(d["lang"] != "", "<html lang> set")
    ok(d["title"].startswith("interp report"), "title: %r" % d["title"])
    ok(d["scripts"] == 0, "no <script> elements (found %d)" % d["scripts"])
    ok(len(d["images"]) >= 20, "the page shows its figures (%d images)" % len(d["images"]))
    for im in d["images"]:
        ok(im["complete"] and im["w"] > 0, "image loaded: %s (naturalWidth %d)" % (im["src"], im["w"]))
        ok(im["alt"].strip() != "", "image has alt text: %s" % im["src"])
    ok(not d["errors"], "no console errors: %s" % "; ".join(d["errors"][:5]))
    off = [u for u in d["requests"] if not u.startswith("file://")]
    ok(not off, "only local files requested: %s" % off[:5])
else:
    bad = [im for im in d["images"] if im["w"] == 0]
    ok(len(bad) == 1 and bad[0]["src"].endswith(victim),
       "self-test: the deleted image %s is seen as not loaded (saw %s)" % (victim, [b["src"] for b in bad]))
    ok(any(victim in e for e in d["errors"]),
       "self-test: the failed load is logged as an error (saw %s)" % d["errors"][:3])
print("%d %d" % (passed, failed))
' "$@"
}

passed=0 failed=0
for mode in broken good; do
    page=$WORK/report/index.html
    [ $mode = broken ] && page=$WORK/broken/index.html
    out=$(check "$page" | summarise $mode "$victim")
    echo "$out" | grep '^FAIL' || true
    read -r p f <<<"$(echo "$out" | tail -1)"
    passed=$((passed + p)) failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
