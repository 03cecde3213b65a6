"""Compares an Autobahn fuzzingclient index.json with the committed expected results.

Usage: compare.py INDEX EXPECTED [update]. With `update`, writes EXPECTED from INDEX instead.
Only each case's `behavior` and `behaviorClose` are compared (durations vary).
"""
import json
import sys


def outcomes(index):
    (agent,) = index.values()
    return {
        case: {"behavior": r["behavior"], "behaviorClose": r["behaviorClose"]}
        for case, r in agent.items()
    }


def main():
    index_path, expected_path = sys.argv[1], sys.argv[2]
    update = len(sys.argv) > 3 and sys.argv[3] == "update"
    with open(index_path) as f:
        got = outcomes(json.load(f))
    if update:
        with open(expected_path, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
        print("autobahn: wrote %d cases to %s" % (len(got), expected_path))
        return 0
    with open(expected_path) as f:
        want = json.load(f)
    diff = sorted(
        c for c in set(got) | set(want) if got.get(c) != want.get(c)
    )
    counts = {}
    for r in got.values():
        counts[r["behavior"]] = counts.get(r["behavior"], 0) + 1
    print("autobahn: %d cases: %s" % (len(got), ", ".join(
        "%s %d" % kv for kv in sorted(counts.items()))))
    if diff:
        for c in diff:
            print("  %s: expected %s, got %s" % (c, want.get(c), got.get(c)))
        print("autobahn: %d cases differ from expected-results.json (a regression, or update "
              "the file with AUTOBAHN_UPDATE=update)" % len(diff))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
