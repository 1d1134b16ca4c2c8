"""Write a copy of a container seccomp profile that also allows io_uring.

Usage: python3 scripts/docker/seccomp_allow_io_uring.py DEFAULT.json > seccomp-io_uring.json

DEFAULT.json is your engine's default profile: Docker's is profiles/seccomp/default.json in
the moby repository (take the tag of your Docker version); Podman's is
/usr/share/containers/seccomp.json. Both refuse io_uring_setup, io_uring_enter and
io_uring_register; this adds one rule allowing the three and leaves the rest as it is.
Then: docker run --security-opt seccomp=seccomp-io_uring.json ...
"""
from __future__ import annotations

import json
import sys

IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]


def allow_io_uring(profile: dict) -> dict:
    if profile.get("defaultAction") == "SCMP_ACT_ALLOW":
        return profile  # everything not listed is allowed already
    rules = [rule for rule in profile.get("syscalls", [])
             if not (rule.get("action") != "SCMP_ACT_ALLOW" and set(rule.get("names", [])) <= set(IO_URING))]
    for rule in rules:  # a rule that refuses them among other calls keeps refusing only the others
        if rule.get("action") != "SCMP_ACT_ALLOW" and set(rule.get("names", [])) & set(IO_URING):
            rule["names"] = [name for name in rule["names"] if name not in IO_URING]
    rules.append({"names": IO_URING, "action": "SCMP_ACT_ALLOW"})
    return {**profile, "syscalls": rules}


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.strip().splitlines()[2])
    with open(sys.argv[1], encoding="utf-8") as source:
        json.dump(allow_io_uring(json.load(source)), sys.stdout, indent=2)
    sys.stdout.write("\n")
