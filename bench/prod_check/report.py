"""The check's section of bench/RESULTS.md."""

import json
import os
import subprocess
import time
from pathlib import Path

import docker

from bench.harness import ROOT
from bench.prod_check.check import Check


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    engine = docker.from_env().version()
    git = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return f"{os.cpu_count()} x {cpu}, {memory:.1f} GiB; Linux {os.uname().release}; Docker {engine['Version']}; git {git}"


def report(check: Check) -> str:
    sizes = json.loads(os.environ.get("HEARTH_CHECK_IMAGES", "{}"))
    compose = subprocess.run(
        [*check.args.compose.split(), "version", "--short"], capture_output=True, text=True
    )
    lines = [
        f"## Production path (make prod-check) — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
        f"Machine: {machine()}; {check.args.compose} {compose.stdout.strip()}.",
        f"Panel image before the upgrade `{check.args.previous_image}` (built from the previous commit), after it "
        f"`{check.args.image}`; proxy `{check.args.previous_proxy_image}` then `{check.args.proxy_image}`;",
        "stack: PostgreSQL, Redis, web x2, worker x2 (concurrency 2), beat, monitor, sftp, nginx TLS proxy;",
        "node: the test environment's engine 2 over SSH (paramiko) through a relay on the compose gateway.",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for name, value in sizes.items():
        lines.append(f"| {name} | {value} |")
    lines += [
        f"| cold start (docker-compose up -d on empty volumes → /api/health over HTTPS) | {check.figures['cold_start_s']} s |",
        f"| … until every service is healthy | {check.figures['all_healthy_s']} s |",
        f"| upgrade (docker-compose up -d on the new image → /api/health) | {check.figures['upgrade_s']:.1f} s |",
        "",
        "What was shown:",
        "",
        *[f"- {step}" for step in check.steps],
        "",
    ]
    return "\n".join(lines)
