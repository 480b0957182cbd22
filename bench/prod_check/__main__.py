"""`python -m bench.prod_check`: run the check and append its results (scripts/prod-check.sh builds the images)."""

import argparse
import sys

from bench.harness import Aborted, publish
from bench.prod_check import __doc__ as DOC
from bench.prod_check.check import Check
from bench.prod_check.report import report
from bench.prod_check.stack import log


def main() -> int:
    parser = argparse.ArgumentParser(description=DOC.splitlines()[0])
    parser.add_argument("--image", default="hearth:latest")
    parser.add_argument("--proxy-image", default="hearth/proxy:latest")
    parser.add_argument("--previous-image", default="hearth:prev")
    # The proxy is not the panel: the previous panel runs behind this commit's proxy, which balances.
    parser.add_argument("--previous-proxy-image", default="hearth/proxy:latest")
    parser.add_argument("--compose", default="docker-compose")
    parser.add_argument("--keep", action="store_true", help="leave the stack running at the end")
    args = parser.parse_args()
    check = Check(args)
    try:
        check.run()
    except Aborted as exc:
        log(f"FAILED: {exc}")
        for step in check.steps:
            log(f"  passed: {step}")
        return 1
    publish(report(check), append=True)
    log("passed; results appended to bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
