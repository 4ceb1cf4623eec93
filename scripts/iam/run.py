"""`make iam`: the black-box suite against moto with template.yaml's IAM enforced.

    .venv/bin/python scripts/iam/run.py [--template PATH] [--remove IDENTITY/STATEMENT/ACTION ...]
                                        [--scenario NAME ...] [--binaries DIR]

Renders each function's execution role and the operator policy from the template (render.py),
starts moto (logging every authorisation decision), provisions the resources, creates the roles
and the operator in moto, enforces IAM, then runs one `outbox-local <function>` process per
function of the template under its role's credentials, and the suite (suite.py) against them.
The run stops at the first AccessDenied and names the identity, action and resource. It fails
too when a scenario fails, a process dies, a route of openapi.yaml was not requested, or a role
allows on `Resource: "*"` an action that supports resource-level permissions.

--remove takes an action out of one statement first (STATEMENT is the Sid, or #N for the N-th
statement without one); mutate.py uses it to show that each removal is caught. Logs and the
report (used.json: every action each identity was allowed, on what) are in target/iam/<run>/.
"""

from __future__ import annotations

import argparse
import json
import secrets
import socket
import subprocess
import sys
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

import render
import stack
import suite

# The local runner's largest per-hop SQS delay in this run (SQS's is 900 s), so that the
# "not due yet" hop happens several times within seconds.
MAX_DELAY_SECS = 2


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=str(stack.ROOT / "template.yaml"))
    parser.add_argument("--remove", action="append", default=[], metavar="IDENTITY/STATEMENT/ACTION")
    parser.add_argument("--scenario", action="append", default=[], help="run only these scenarios (and their set-up)")
    parser.add_argument("--binaries", default=str(stack.ROOT / "target/debug"))
    return parser.parse_args(argv)


class Watch:
    """Stops the run at the first denial or crashed process, naming it."""

    def __init__(self, moto: stack.Moto, principals: dict[str, stack.Principal], processes: stack.Processes) -> None:
        self.moto = moto
        self.by_arn = {p.arn: p for p in principals.values()}
        self.processes = processes
        self.offset = 0
        self.denials: list[dict[str, Any]] = []

    def describe(self, denial: dict[str, Any]) -> str:
        principal = self.by_arn.get(denial["identity"])
        who = denial["identity"]
        if principal is not None:
            who = principal.logical_id + (f" (function {', '.join(principal.functions)})" if principal.functions else "")
        return f"AccessDenied: {who} may not {denial['action']} on {denial['resource']}"

    def poll(self) -> None:
        if self.moto.denials.exists():
            with open(self.moto.denials, encoding="utf-8") as log:
                log.seek(self.offset)
                for line in log:
                    if line.endswith("\n"):
                        self.denials.append(json.loads(line))
                        self.offset += len(line.encode())
        if self.denials:
            raise suite.Stop(self.describe(self.denials[0]))
        exited = self.processes.exited()
        if exited:
            raise suite.Stop(f"function process exited: {', '.join(exited)}; see its log")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serves_http(sam: dict[str, Any], function: render.Function) -> bool:
    events = sam["Resources"].get(function.logical_id, {}).get("Properties", {}).get("Events", {}) or {}
    return any(event.get("Type") in ("HttpApi", "Api") for event in events.values())


def wait_healthy(base: str, watch: Watch, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        watch.poll()
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise suite.Stop(f"the API at {base} was not healthy within {timeout:.0f} s")


def admin_runner(moto: stack.Moto, binaries: Path, operator: stack.Principal, local_env: dict[str, str], log_dir: Path):
    """outbox-admin under the operator's credentials, pointed at the stack like a deployment."""
    # The suite's http phone is a gateway on loopback, which only a local stack may name.
    local = {"OUTBOX_ALLOW_PRIVATE_TARGETS": "true"}
    env = {**stack.base_env(moto), **operator.credentials.env(), **local_env, **local, "RUST_LOG": "warn"}
    log = log_dir / "outbox-admin.log"

    def admin(*args: str) -> str:
        result = subprocess.run(
            [str(binaries / "outbox-admin"), *args], env=env, capture_output=True, text=True, timeout=120
        )
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"$ outbox-admin {' '.join(args)}\n{result.stdout}{result.stderr}(exit {result.returncode})\n")
        if result.returncode != 0:
            raise suite.SuiteFailure(f"outbox-admin {' '.join(args)} failed: {result.stdout}{result.stderr}".strip())
        return result.stdout

    return admin


def write_report(log_dir: Path, moto: stack.Moto, principals: dict[str, stack.Principal]) -> dict[str, list[str]]:
    """used.json: per identity, every action it was allowed and on which resources."""
    by_arn = {p.arn: p.logical_id for p in principals.values()}
    used: dict[str, dict[str, set[str]]] = {}
    if moto.allowed.exists():
        for row in json.loads(moto.allowed.read_text(encoding="utf-8")):
            identity = by_arn.get(row["identity"])
            if identity is not None:
                used.setdefault(identity, {}).setdefault(row["action"], set()).add(row["resource"])
    report = {i: {a: sorted(r) for a, r in sorted(actions.items())} for i, actions in sorted(used.items())}
    (log_dir / "used.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return {identity: sorted(actions) for identity, actions in report.items()}


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    run = f"iam{secrets.token_hex(4)}"
    log_dir = stack.ROOT / "target/iam" / run
    log_dir.mkdir(parents=True, exist_ok=True)
    latest = stack.ROOT / "target/iam/latest"
    latest.unlink(missing_ok=True)
    latest.symlink_to(run)
    binaries = Path(args.binaries)
    started = time.monotonic()

    sam = render.load(args.template)
    cfn = render.translate(sam, run)
    for removal in args.remove:
        render.remove_action(cfn, removal)
        print(f"iam: removed {removal}")
    funcs = render.functions(cfn, sam)
    identities = render.identities(cfn, funcs)
    http_functions = [f for f in funcs if serves_http(sam, f)]
    if len(http_functions) != 1:
        print(f"iam: expected one function with an HttpApi event, found {[f.logical_id for f in http_functions]}")
        return 1

    moto = stack.Moto(log_dir)
    processes = stack.Processes(log_dir)
    receiver: suite.Receiver | None = None
    principals: dict[str, stack.Principal] = {}
    failure: str | None = None
    watch: Watch | None = None
    try:
        local_env = stack.provision(moto, run, binaries, log_dir)
        refs = render.bind_environment(funcs, local_env)
        resolver = render.Resolver(cfn, render.LocalStack(run, render.parameters(sam, run), refs, stack.lookup(moto)))
        problems = [p for identity in identities for p in render.wildcard_grants(identity, resolver)]
        if problems:
            raise suite.Stop("not least privilege, these allow an action on every resource:\n  " + "\n  ".join(problems))
        principals = stack.create_identities(moto, identities, resolver, run)
        deployer = stack.create_deployer(moto, run)
        for identity in identities:
            sources = ", ".join(source for _, _, source in identity.policies)
            who = f"functions {', '.join(identity.functions)}" if identity.functions else "outbox-admin"
            print(f"iam: {identity.logical_id} ({who}): {sources}")
        moto.enforce()

        for function in funcs:
            command = function.binary.removeprefix("outbox-")
            probe = subprocess.run([str(binaries / "outbox-local"), command, "--help"], capture_output=True, timeout=60)
            if probe.returncode != 0:
                raise suite.Stop(
                    f"{function.logical_id} (binary {function.binary}) has no `outbox-local {command}`: "
                    "add that subcommand, so that the function runs locally under its own role"
                )
        receiver = suite.Receiver()
        api_port = free_port()
        for function in funcs:
            extra = {"RUST_LOG": "info", "OUTBOX_MAX_DELAY_SECS": str(MAX_DELAY_SECS)}
            if function in http_functions:
                extra["PORT"] = str(api_port)
            env = stack.function_env(moto, function, local_env, principals[function.role], extra)
            command = function.binary.removeprefix("outbox-")
            processes.start(function.logical_id, [str(binaries / "outbox-local"), command], env)
        watch = Watch(moto, principals, processes)
        base = f"http://127.0.0.1:{api_port}"
        wait_healthy(base, watch)
        print(f"iam: {len(funcs)} function processes up, moto at {moto.endpoint}, logs in {log_dir}")

        ctx = suite.Context(
            base=base,
            admin=admin_runner(moto, binaries, principals[render.OPERATOR_POLICY], local_env, log_dir),
            deployer=lambda service: moto.client(service, deployer),
            local_env=local_env,
            check=watch.poll,
            receiver=receiver,
            max_delay=MAX_DELAY_SECS,
            spec_routes=suite.load_spec_routes(stack.ROOT / "openapi.yaml"),
        )
        for scenario in suite.SCENARIOS:
            if args.scenario and scenario.__name__ not in args.scenario and scenario is not suite.operator_sets_up_an_org:
                continue
            began = time.monotonic()
            scenario(ctx)
            print(f"iam: ok {scenario.__name__} ({time.monotonic() - began:.1f} s)", flush=True)
        watch.poll()
        missing = suite.uncovered(ctx)
        if missing and not args.scenario:
            failure = "routes of openapi.yaml no scenario requested: " + ", ".join(missing)
    except (suite.Stop, suite.SuiteFailure, render.RenderError) as err:
        failure = str(err)
        if watch is not None and not isinstance(err, suite.Stop):
            # What the suite saw go wrong is often the effect of a denial: name the cause first.
            try:
                watch.poll()
            except suite.Stop as cause:
                failure = f"{cause}\n  (then: {err})"
    except Exception:  # a bug of the harness itself: show all of it
        failure = traceback.format_exc()
    finally:
        processes.stop()
        if receiver is not None:
            receiver.stop()
        moto.stop()

    used = write_report(log_dir, moto, principals)
    for identity, actions in used.items():
        print(f"iam: {identity} used {', '.join(actions)}")
    elapsed = time.monotonic() - started
    if failure:
        for denial in (watch.denials[1:10] if watch else []):
            print(f"iam: also {watch.describe(denial)}")
        print(f"iam: FAILED after {elapsed:.0f} s: {failure}")
        print(f"iam: logs in {log_dir}")
        return 1
    print(f"iam: passed in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
