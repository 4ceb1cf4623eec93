"""The local stack of `make iam`: moto with IAM enforced, the template's identities in it, and one
process per function running under its role's credentials."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import render

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

# Seconds for a request to moto or a process to come up; generous for 2 shared cores.
START_TIMEOUT = 60


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def env(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env

    def boto(self) -> dict[str, str | None]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


# Before IAM is enforced moto accepts any key; these only sign the set-up requests.
SETUP = Credentials("setup", "setup")


@dataclass
class Principal:
    """An identity of the template as created in moto."""

    logical_id: str
    arn: str  # what moto names in a denial: the assumed-role session or the user
    credentials: Credentials
    functions: list[str]


class Moto:
    """scripts/moto_server.py on a free port, logging every authorisation decision under `log_dir`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.denials = log_dir / "denials.jsonl"
        self.allowed = log_dir / "allowed.json"
        self._log = open(log_dir / "moto.log", "w", encoding="utf-8")
        self.process = subprocess.Popen(
            [PYTHON, str(ROOT / "scripts/moto_server.py"), "--port", "0", "--until-stdin-closes", "--iam", str(log_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        port = _read_line(self.process.stdout, START_TIMEOUT)
        if not port or not port.strip().isdigit():
            self.stop()
            raise RuntimeError(f"moto did not start; see {log_dir / 'moto.log'}")
        self.endpoint = f"http://127.0.0.1:{port.strip()}"

    def client(self, service: str, credentials: Credentials = SETUP) -> Any:
        config = botocore.config.Config(
            s3={"addressing_style": "path"}, connect_timeout=5, read_timeout=30, retries={"max_attempts": 2}
        )
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name=render.REGION, config=config, **credentials.boto()
        )

    def enforce(self) -> None:
        """From now on every request is authenticated and authorised (moto's INITIAL_NO_AUTH_ACTION_COUNT = 0)."""
        request = urllib.request.Request(
            f"{self.endpoint}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()

    def stop(self) -> None:
        """Stops the server, which then writes allowed.json."""
        if self.process.poll() is None:
            try:
                if self.process.stdin:
                    self.process.stdin.close()
                self.process.wait(timeout=15)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.process.kill()
                self.process.wait()
        self._log.close()


def _read_line(stream: Any, timeout: float) -> str | None:
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return None


def create_identities(
    moto: Moto, identities: list[render.Identity], resolver: render.Resolver, stack: str
) -> dict[str, Principal]:
    """Each role with exactly the policies rendered for it, assumed the way Lambda assumes an
    execution role; the operator as an IAM user with its managed policy. Runs before enforcement."""
    iam = moto.client("iam")
    sts = moto.client("sts")
    principals: dict[str, Principal] = {}
    for identity in identities:
        documents = [(f"{i}-{name}"[:128], resolver.resolve(doc)) for i, (name, doc, _) in enumerate(identity.policies)]
        name = render.role_name(stack, identity.logical_id)
        if identity.kind == "role":
            trust = resolver.resolve(identity.trust)
            role = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
            for policy_name, document in documents:
                iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
            session = identity.functions[0]
            assumed = sts.assume_role(RoleArn=role["Arn"], RoleSessionName=session, DurationSeconds=43200)
            creds = assumed["Credentials"]
            principals[identity.logical_id] = Principal(
                identity.logical_id,
                assumed["AssumedRoleUser"]["Arn"],
                Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]),
                identity.functions,
            )
        else:
            user = iam.create_user(UserName=name)["User"]
            for policy_name, document in documents:
                iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            principals[identity.logical_id] = Principal(
                identity.logical_id, user["Arn"], Credentials(key["AccessKeyId"], key["SecretAccessKey"]), []
            )
    return principals


def create_deployer(moto: Moto, stack: str) -> Credentials:
    """Stands in for CloudFormation and for the test's own look-ups: everything allowed."""
    iam = moto.client("iam")
    name = f"{stack}-deployer"
    iam.create_user(UserName=name)
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="deployer", PolicyDocument=json.dumps(everything))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])


_ENV_LINE = re.compile(r"^(OUTBOX_[A-Z0-9_]+)=(.*)$")


def provision(moto: Moto, prefix: str, binaries: Path, log_dir: Path) -> dict[str, str]:
    """`outbox-local provision`: creates the resources and seeds, like `sam deploy` would create
    them; prints the variables the functions are configured with."""
    env = {**base_env(moto), **SETUP.env(), "OUTBOX_LOCAL_PREFIX": prefix, "RUST_LOG": "warn"}
    result = subprocess.run(
        [str(binaries / "outbox-local"), "provision"],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT * 2,
    )
    (log_dir / "provision.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    if result.returncode != 0:
        raise RuntimeError(f"outbox-local provision failed:\n{result.stdout}{result.stderr}")
    variables = dict(m.groups() for line in result.stdout.splitlines() if (m := _ENV_LINE.match(line)))
    if "OUTBOX_TABLE" not in variables:
        raise RuntimeError(f"outbox-local provision printed no OUTBOX_* variables:\n{result.stdout}")
    return variables


def base_env(moto: Moto) -> dict[str, str]:
    """A clean environment: nothing of the caller's AWS settings may leak in."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **keep,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "AWS_REGION": render.REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_EC2_METADATA_DISABLED": "true",
    }


class Processes:
    """The function processes; each logs to its own file, and all stop together."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen[bytes], Any]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.log_dir / f"{name}.log", "wb")
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.running.append((name, process, log))

    def exited(self) -> list[str]:
        return [f"{name} (exit {p.returncode})" for name, p, _ in self.running if p.poll() is not None]

    def stop(self) -> None:
        for _, process, _ in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _, process, log in self.running:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


def function_env(
    moto: Moto, function: render.Function, local_env: dict[str, str], principal: Principal, extra: dict[str, str]
) -> dict[str, str]:
    """What Lambda would give the function: its role's credentials and the template's variables
    that name resources (with their local values); tuning keeps the local runner's defaults."""
    env = {**base_env(moto), **principal.credentials.env(), **extra}
    for name in function.environment:
        if name in local_env:
            env[name] = local_env[name]
    return env


def lookup(moto: Moto) -> Any:
    """Attributes only the emulator knows, for intrinsics the renderer cannot build itself."""

    def get(kind: str, ref: str, attribute: str) -> str:
        if kind == "AWS::DynamoDB::Table" and attribute == "StreamArn":
            table = moto.client("dynamodb").describe_table(TableName=ref)["Table"]
            if "LatestStreamArn" not in table:
                raise render.RenderError(f"table {ref} has no stream locally: provision it with one")
            return table["LatestStreamArn"]
        raise render.RenderError(f"GetAtt {attribute} of a {kind} is not resolved for the local stack")

    return get
