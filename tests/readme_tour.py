"""Run the README's five-minute tour against a real server on the demo data, twice.

    .venv/bin/python -m tests.readme_tour                       # fresh SQLite database in a temp dir:
                                                                # migrate, load the demo, train (~3 min)
    .venv/bin/python -m tests.readme_tour --database-url sqlite:///var/promo.db --model-dir models
                                                                # a database that holds the demo already

The tour is read from README.md itself (the ```sh block under "A five-minute tour"), so
the documentation and this check cannot drift apart. Each statement runs as written, in
one bash process with `set -euo pipefail` (a failing `promo` command, also inside
`$(...)`, stops it); every `curl` must answer the HTTP status its `# -> NNN` comment
documents, or 200 when the comment gives none. Response bodies are printed, not compared:
what the demo holds may change, the status a documented call answers may not.
The tour runs twice, as a newcomer who tries it again would.

.ci/run runs this after the SQLite suite.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
TOUR_HEADING = "## A five-minute tour"
EXPECTED_STATUS = re.compile(r"#\s*->\s*(\d{3})\b")


@dataclasses.dataclass
class Step:
    """One shell statement of the tour, with the status the README documents for it."""

    text: str
    expected_status: int | None = None   # curl only; None for other statements

    @property
    def is_curl(self) -> bool:
        return shlex.split(self.text, comments=True)[0] == "curl"


def tour_block(readme: str) -> str:
    """The first ```sh block after the tour's heading."""
    after = readme[readme.index(TOUR_HEADING):]
    match = re.search(r"^```sh\n(.*?)^```", after, flags=re.S | re.M)
    if match is None:
        raise ValueError(f"no ```sh block under {TOUR_HEADING!r} in README.md")
    return match.group(1)


def _complete(text: str) -> bool:
    if text.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:   # an open quote: the statement goes on
        return False
    return True


def steps(block: str) -> list[Step]:
    """Split the block into statements (quotes and line continuations respected); a
    comment line after a statement that reads `# -> NNN ...` documents its status."""
    found: list[Step] = []
    pending = ""
    for line in block.splitlines():
        if pending:
            pending += "\n" + line
        elif line.strip().startswith("#") or not line.strip():
            status = EXPECTED_STATUS.search(line)
            if status and found and found[-1].is_curl and found[-1].expected_status is None:
                found[-1].expected_status = int(status.group(1))
            continue
        else:
            pending = line
        if _complete(pending):
            found.append(Step(pending))
            pending = ""
    if pending:
        raise ValueError(f"unfinished statement at the end of the tour: {pending!r}")
    for step in found:
        if step.is_curl and step.expected_status is None:
            step.expected_status = 200
    return found


PRELUDE = r'''set -euo pipefail
__body=$(mktemp) __code=$(mktemp)
trap 'rm -f "$__body" "$__code"' EXIT
# Each curl of the tour, as written, plus what is needed to check its status.
curl() { command curl -sS -o "$__body" -w '%{http_code}' "$@" > "$__code"; cat "$__body"; echo; }
__expect() {
  if [ "$(cat "$__code")" != "$1" ]; then
    echo "README tour, step $2: HTTP $(cat "$__code"), the README documents $1" >&2; exit 1
  fi
  echo "[tour] step $2: HTTP $1 as documented" >&2
}
'''


def checked_script(tour: list[Step]) -> str:
    lines = [PRELUDE]
    for number, step in enumerate(tour, 1):
        lines.append(f"echo {shlex.quote(f'[tour] step {number}: ' + step.text.splitlines()[0][:100])} >&2")
        lines.append(step.text)
        if step.is_curl:
            lines.append(f"__expect {step.expected_status} {number}")
    return "\n".join(lines) + "\n"


def run_tour(base: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = checked_script(steps(tour_block(README.read_text())))
    return subprocess.run(["bash", "-c", script], cwd=ROOT, env={**env, "BASE": base}, text=True,
                          capture_output=True, timeout=600)


# --- a server on the demo data ----------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _say(message: str) -> None:
    print(f"[readme-tour] {message}", file=sys.stderr, flush=True)


def _promo(env: dict[str, str], *args: str) -> None:
    started = time.monotonic()
    subprocess.run([str(Path(sys.executable).parent / "promo"), *args], cwd=ROOT, env=env, check=True)
    _say(f"promo {' '.join(args)}: {time.monotonic() - started:.0f} s")


def _wait_ready(base: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server stopped while starting")
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the server was not ready within {seconds:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", help="A database holding the demo already (default: load one).")
    parser.add_argument("--model-dir", help="Model artefacts for --database-url.")
    parser.add_argument("--runs", type=int, default=2, help="Times the tour runs (default 2).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promo-tour-") as tmp:
        env = {**os.environ, "PROMO_DATABASE_URL": args.database_url or f"sqlite:///{tmp}/promo.db",
               "PROMO_MODEL_DIR": args.model_dir or f"{tmp}/models"}
        env.pop("PROMO_CONFIG", None)
        # What `make run` does before serving.
        _promo(env, "db", "upgrade")
        _promo(env, "demo", "load", "--if-empty", "--quiet")
        _promo(env, "train", "--if-missing", "--quiet")
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        server_log = open(f"{tmp}/server.log", "w")
        server = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.conf.py"],
                                  cwd=ROOT, env={**env, "PROMO_BIND": f"127.0.0.1:{port}",
                                                 "PROMETHEUS_MULTIPROC_DIR": f"{tmp}/metrics"},
                                  stdout=subprocess.DEVNULL, stderr=server_log)
        try:
            _wait_ready(base, server)
            for run in range(1, args.runs + 1):
                result = run_tour(base, env)
                print(result.stdout)
                print(result.stderr, file=sys.stderr)
                if result.returncode != 0:
                    _say(f"run {run}: FAILED (exit {result.returncode}); server log: "
                         f"{Path(tmp, 'server.log').read_text()[-3000:]}")
                    return 1
                _say(f"run {run}: every step answered as documented")
        finally:
            server.terminate()
            server.wait(timeout=30)
            server_log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
