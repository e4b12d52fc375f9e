#!/usr/bin/env python3
"""Check spin.toml against the repository and the build.

    python3 scripts/check-manifest.py [--manifest spin.toml] [--no-sources]
    python3 scripts/check-manifest.py --self-test

Checks:
  - every component `source` file exists (after the wasm build; skip with --no-sources);
  - every `[[trigger.http]]` names a declared component, and every component has a trigger;
  - no two HTTP routes collide: exact duplicates, identical wildcard prefixes (`/x/...`
    twice), and a wildcard `/x/...` that shadows an exact route of another component
    (`:name` segments match any segment);
  - every `{{ name }}` in `[component.*.variables]` and in `allowed_outbound_hosts` is
    declared in `[variables]`; every declared variable is used by some component;
  - variable names are lowercase letters, digits and underscores (snake case); a variable is
    either required or has a default, not both;
  - each component's build `workdir` (if any) exists, and no `watch` glob contains `..`
    (spin watch joins globs onto workdir and never resolves `..`, so such a glob never fires).

Prints one line per problem and exits 1, else prints `manifest ok: N components, M routes`.
Python 3.11+, standard library only.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
import tempfile
import tomllib
from pathlib import Path

VAR_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
COMPONENT_ID = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
TEMPLATE = re.compile(r"\{\{(.*?)\}\}")


def template_refs(value: str) -> list[str]:
    """Names referenced as `{{ name }}` in a template string (stripped, unvalidated)."""
    return [m.strip() for m in TEMPLATE.findall(value)]


def route_key(route: str) -> tuple[bool, tuple[str, ...]]:
    """(is_wildcard, segments) with `:name` segments reduced to ':' and trailing '/' dropped."""
    wildcard = route == "/..." or route.endswith("/...")
    path = route[: -len("/...")] if wildcard else route
    segs = tuple(":" if s.startswith(":") else s for s in path.split("/") if s != "")
    return wildcard, segs


def segs_str(segs: tuple[str, ...], wildcard: bool) -> str:
    s = "/" + "/".join(segs)
    if wildcard:
        s = s.rstrip("/") + "/..."
    return s


def prefix_covers(prefix: tuple[str, ...], segs: tuple[str, ...]) -> bool:
    """True if a wildcard with this prefix matches a path with these segments."""
    if len(segs) < len(prefix):
        return False
    return all(p == s or p == ":" or s == ":" for p, s in zip(prefix, segs))


def check(manifest: dict, base: Path, check_sources: bool = True) -> tuple[list[str], int, int]:
    """Return (problems, number of components, number of http routes)."""
    problems: list[str] = []

    if manifest.get("spin_manifest_version") != 2:
        problems.append("spin_manifest_version must be 2")

    # --- variables -------------------------------------------------------------------------
    variables = manifest.get("variables", {})
    if not isinstance(variables, dict):
        problems.append("[variables] must be a table")
        variables = {}
    for name, spec in variables.items():
        if not VAR_NAME.match(name):
            problems.append(
                f"variable '{name}': name must be lowercase letters, digits and single "
                "underscores, starting with a letter"
            )
        if not isinstance(spec, dict):
            problems.append(f"variable '{name}': must be a table like {{ default = \"...\" }}")
            continue
        required = spec.get("required", False)
        has_default = "default" in spec
        if required and has_default:
            problems.append(f"variable '{name}': is required and has a default (pick one)")
        if not required and not has_default:
            problems.append(f"variable '{name}': has neither `required = true` nor a default")
        if has_default and not isinstance(spec["default"], str):
            problems.append(f"variable '{name}': default must be a string")

    # --- components ------------------------------------------------------------------------
    components = manifest.get("component", {})
    if not isinstance(components, dict):
        problems.append("[component] must be a table of components")
        components = {}
    used_vars: set[str] = set()

    def refs_in(where: str, value: object) -> None:
        if not isinstance(value, str):
            problems.append(f"{where}: must be a string")
            return
        for ref in template_refs(value):
            if not VAR_NAME.match(ref):
                problems.append(f"{where}: '{{{{ {ref} }}}}' is not a variable reference")
            elif ref not in variables:
                problems.append(f"{where}: variable '{ref}' is not declared in [variables]")
            else:
                used_vars.add(ref)

    for cid, comp in components.items():
        where = f"component '{cid}'"
        if not COMPONENT_ID.match(cid):
            problems.append(f"{where}: id must be lowercase kebab-case")
        if not isinstance(comp, dict):
            problems.append(f"{where}: must be a table")
            continue

        source = comp.get("source")
        if source is None:
            problems.append(f"{where}: no source")
        elif isinstance(source, str):
            if check_sources and not (base / source).is_file():
                problems.append(f"{where}: source {source} does not exist (build it first)")
        elif not isinstance(source, dict):
            problems.append(f"{where}: source must be a path or a table")

        hosts = comp.get("allowed_outbound_hosts", [])
        if not isinstance(hosts, list):
            problems.append(f"{where}: allowed_outbound_hosts must be a list")
            hosts = []
        for host in hosts:
            refs_in(f"{where} allowed_outbound_hosts {host!r}", host)

        cvars = comp.get("variables", {})
        if not isinstance(cvars, dict):
            problems.append(f"{where}: [component.{cid}.variables] must be a table")
            cvars = {}
        for key, value in cvars.items():
            if not VAR_NAME.match(key):
                problems.append(
                    f"{where} variable '{key}': name must be lowercase letters, digits and "
                    "single underscores, starting with a letter"
                )
            refs_in(f"{where} variable '{key}'", value)

        build = comp.get("build")
        if build is not None:
            if not isinstance(build, dict):
                problems.append(f"{where}: [component.{cid}.build] must be a table")
                continue
            if not isinstance(build.get("command"), (str, list)):
                problems.append(f"{where}: build has no command")
            workdir = build.get("workdir")
            if workdir is not None:
                if not isinstance(workdir, str) or Path(workdir).is_absolute():
                    problems.append(f"{where}: build workdir must be a relative path")
                elif not (base / workdir).is_dir():
                    problems.append(f"{where}: build workdir {workdir} does not exist")
            for glob in build.get("watch", []):
                if ".." in Path(str(glob)).parts:
                    problems.append(
                        f"{where}: watch glob {glob!r} contains '..' and never matches "
                        "(spin watch does not resolve '..'); drop workdir and use paths "
                        "relative to spin.toml"
                    )

    for name in variables:
        if name not in used_vars:
            problems.append(f"variable '{name}': declared but used by no component")

    # --- http triggers ---------------------------------------------------------------------
    triggers = manifest.get("trigger", {}).get("http", [])
    if not isinstance(triggers, list):
        problems.append("[[trigger.http]] must be an array of tables")
        triggers = []
    routes: list[tuple[str, str, bool, tuple[str, ...]]] = []  # (route, component, wild, segs)
    triggered: set[str] = set()
    for i, trig in enumerate(triggers):
        if not isinstance(trig, dict):
            problems.append(f"trigger.http #{i + 1}: must be a table")
            continue
        comp = trig.get("component")
        route = trig.get("route")
        label = f"trigger.http #{i + 1} (route {route!r})"
        if isinstance(comp, str):
            if comp not in components:
                problems.append(f"{label}: component '{comp}' is not declared")
            triggered.add(comp)
            comp_name = comp
        elif isinstance(comp, dict):
            comp_name = f"<inline #{i + 1}>"
        else:
            problems.append(f"{label}: no component")
            continue
        if isinstance(route, dict):  # e.g. { private = true }: not reachable over HTTP
            continue
        if not isinstance(route, str) or not route.startswith("/"):
            problems.append(f"{label}: route must be a string starting with '/'")
            continue
        wild, segs = route_key(route)
        routes.append((route, comp_name, wild, segs))

    for cid in components:
        if cid not in triggered:
            problems.append(f"component '{cid}': no trigger uses it")

    for a in range(len(routes)):
        for b in range(a + 1, len(routes)):
            ra, ca, wa, sa = routes[a]
            rb, cb, wb, sb = routes[b]
            if wa == wb and sa == sb:
                kind = "wildcard prefix" if wa else "route"
                problems.append(
                    f"duplicate {kind} {segs_str(sa, wa)}: '{ra}' -> {ca} and '{rb}' -> {cb}"
                )
                continue
            if ca == cb or wa == wb:
                continue
            (wr, wc, wsegs), (er, ec, esegs) = (
                ((ra, ca, sa), (rb, cb, sb)) if wa else ((rb, cb, sb), (ra, ca, sa))
            )
            if prefix_covers(wsegs, esegs):
                problems.append(
                    f"route collision: wildcard '{wr}' -> {wc} shadows exact route "
                    f"'{er}' -> {ec}"
                )

    return problems, len(components), len(routes)


# --- self-test ---------------------------------------------------------------------------

GOOD = """
spin_manifest_version = 2
[application]
name = "t"
version = "0.1.0"
[variables]
database_url = { required = true, secret = true }
db_host = { default = "127.0.0.1:5432" }
token = { required = true }
[[trigger.http]]
route = "/health"
component = "health"
[[trigger.http]]
route = "/health/..."
component = "health"
[[trigger.http]]
route = "/api/v1/..."
component = "api"
[[trigger.http]]
route = "/items/:id"
component = "api"
[component.health]
source = "health.wasm"
allowed_outbound_hosts = ["postgres://{{ db_host }}"]
[component.health.variables]
database_url = "{{ database_url }}"
[component.health.build]
command = "cargo build"
workdir = "health"
watch = ["src/**/*.rs"]
[component.api]
source = "api.wasm"
allowed_outbound_hosts = ["postgres://{{db_host}}"]
[component.api.variables]
database_url = "{{ database_url }}"
api_token = "Bearer {{ token }}"
[component.api.build]
command = "cargo build -p api"
"""


def _mut(fn):
    def apply(m: dict) -> dict:
        m = copy.deepcopy(m)
        fn(m)
        return m

    return apply


def _add_route(route: str, comp: str):
    return _mut(lambda m: m["trigger"]["http"].append({"route": route, "component": comp}))


SELF_TESTS = [
    # (name, mutation of GOOD, expected substrings: one problem line each, in any order)
    ("good manifest passes", _mut(lambda m: None), []),
    ("missing source file",
     _mut(lambda m: m["component"]["api"].__setitem__("source", "missing.wasm")),
     ["source missing.wasm does not exist"]),
    ("exact duplicate route (also under the other component's wildcard)",
     _add_route("/health", "api"),
     ["duplicate route /health", "wildcard '/health/...' -> health shadows exact route"]),
    ("exact duplicate route, same component", _add_route("/items/:id", "api"),
     ["duplicate route /items/:"]),
    ("duplicate with trailing slash and param names", _add_route("/items/:name/", "health"),
     ["duplicate route /items/:"]),
    ("wildcard shadows exact route of another component", _add_route("/api/v1/users", "health"),
     ["wildcard '/api/v1/...' -> api shadows exact route '/api/v1/users' -> health"]),
    ("wildcard shadows its own prefix route", _add_route("/api/v1", "health"),
     ["shadows exact route '/api/v1' -> health"]),
    ("root wildcard shadows everything of others", _add_route("/...", "api"),
     ["'/...' -> api shadows exact route '/health' -> health"]),
    ("identical wildcard prefixes", _add_route("/api/v1/...", "health"),
     ["duplicate wildcard prefix /api/v1/..."]),
    ("undeclared variable in component variables",
     _mut(lambda m: m["component"]["api"]["variables"].__setitem__("x", "{{ nope }}")),
     ["variable 'nope' is not declared"]),
    ("undeclared variable in allowed_outbound_hosts",
     _mut(lambda m: m["component"]["health"]["allowed_outbound_hosts"].append(
         "postgres://{{ other_host }}:5432")),
     ["variable 'other_host' is not declared"]),
    ("bad variable name",
     _mut(lambda m: (m["variables"].__setitem__("DbPort", {"default": "1"}),
                     m["component"]["api"]["variables"].__setitem__("p", "{{ DbPort }}"))),
     ["variable 'DbPort': name must be", "'{{ DbPort }}' is not a variable reference",
      "variable 'DbPort': declared but used by no component"]),
    ("bad component variable key",
     _mut(lambda m: m["component"]["api"]["variables"].__setitem__("api-key", "x")),
     ["variable 'api-key': name must be"]),
    ("unused declared variable",
     _mut(lambda m: m["variables"].__setitem__("spare", {"default": "x"})),
     ["variable 'spare': declared but used by no component"]),
    ("required variable with a default",
     _mut(lambda m: m["variables"]["token"].__setitem__("default", "x")),
     ["is required and has a default"]),
    ("missing build workdir",
     _mut(lambda m: m["component"]["health"]["build"].__setitem__("workdir", "nowhere")),
     ["build workdir nowhere does not exist"]),
    ("watch glob with ..",
     _mut(lambda m: m["component"]["health"]["build"]["watch"].append("../../src/**/*.rs")),
     ["contains '..'"]),
    ("trigger names an undeclared component", _add_route("/x", "ghost"),
     ["component 'ghost' is not declared"]),
    ("component without a trigger",
     _mut(lambda m: m["trigger"].__setitem__(
         "http", [t for t in m["trigger"]["http"] if t["component"] != "api"])),
     ["component 'api': no trigger uses it"]),
]


def self_test() -> int:
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "health.wasm").write_bytes(b"\0asm")
        (base / "api.wasm").write_bytes(b"\0asm")
        (base / "health").mkdir()
        good = tomllib.loads(GOOD)
        for name, mutate, expected in SELF_TESTS:
            problems, _, _ = check(mutate(good), base, check_sources=True)
            ok = len(problems) == len(expected) and all(
                any(e in p for p in problems) for e in expected
            )
            if ok:
                passed += 1
            else:
                failed += 1
                print(f"self-test FAILED: {name}: expected {expected}, got {problems}")
        # --no-sources skips exactly the source check
        problems, _, _ = check(
            SELF_TESTS[1][1](good), base, check_sources=False
        )
        if problems:
            failed += 1
            print(f"self-test FAILED: --no-sources still reported {problems}")
        else:
            passed += 1
    print(f"manifest self-test: {passed} passed, {failed} failed")
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", default=None, help="path to spin.toml (default: repo root)")
    parser.add_argument("--no-sources", action="store_true",
                        help="skip the check that component source files exist")
    parser.add_argument("--self-test", action="store_true",
                        help="run the checks against small inline bad manifests")
    args = parser.parse_args()

    if args.self_test:
        return self_test()

    path = Path(args.manifest) if args.manifest else Path(__file__).resolve().parent.parent / "spin.toml"
    try:
        with open(path, "rb") as f:
            manifest = tomllib.load(f)
    except OSError as e:
        print(f"{path}: cannot read: {e.strerror}")
        return 1
    except tomllib.TOMLDecodeError as e:
        print(f"{path}: invalid TOML: {e}")
        return 1

    problems, n_components, n_routes = check(manifest, path.parent, not args.no_sources)
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"manifest ok: {n_components} components, {n_routes} routes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
