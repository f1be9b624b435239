#!/usr/bin/env python3
"""Runs the shell steps of one CI recipe of docs/ci.md the way the CI system would,
for tests/e2e/test_ci_recipes.sh.

    ci_emulator.py DOC RECIPE EVENT WORKDIR LOGDIR BINDIR

RECIPE is the fence's name (```yaml ci-recipe=github / gitlab). EVENT is "push" (a
build of a protected branch: the remote is writable) or "pr" (a pull or merge request:
read-only). The recipe's shell runs unchanged, in WORKDIR, one shell per step as the CI
system starts them; what only the CI service can do is emulated and said so:

- GitHub: actions/checkout (WORKDIR is the checkout), aws-actions/configure-aws-credentials
  (exports the loopback server's keys, as the action exports the role's), the
  "Install kache" step (BINDIR, holding the kache under test, goes on PATH), and the
  ${{ }} expressions this recipe uses. $GITHUB_ENV, $GITHUB_PATH and
  $GITHUB_STEP_SUMMARY are files, as on a runner.
- GitLab: the install lines of before_script (BINDIR on PATH), id_tokens, and the
  choice of rules; before_script and script share one shell, after_script gets its own.

The loopback S3 server stands for AWS: KACHE_S3_BUCKET/ENDPOINT/REGION are pointed at
it after the recipe's own values are checked. Each step's output goes to
LOGDIR/<role>.out (role: pull, build, push, report, main, after). Exits 1 when the
recipe lacks a step it must have or a step fails; 77 without PyYAML.
"""
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIP: python3 has no yaml module (PyYAML)")
    sys.exit(77)

CRED_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def die(msg):
    print("ci_emulator: FAIL: " + msg)
    sys.exit(1)


def recipe(doc, name):
    text = open(doc).read()
    found = re.findall(r"^```yaml ci-recipe=%s\n(.*?)^```$" % re.escape(name), text, re.M | re.S)
    if len(found) != 1:
        die("docs/ci.md has %d recipes named %s (want exactly one)" % (len(found), name))
    return yaml.safe_load(found[0])


def role_of(script):
    for role, needle in (("pull", "kache sync --pull"), ("push", "kache sync --push"),
                         ("report", "kache report"), ("build", "cargo build")):
        if needle in script:
            return role
    return "other"


def base_env(bindir):
    env = dict(os.environ)
    creds = {k: env.pop(k) for k in CRED_VARS if k in env}
    for k in list(env):
        if k.startswith("KACHE_S3_") or k in ("KACHE_REMOTE_READONLY", "RUSTC_WRAPPER"):
            del env[k]
    return env, creds


def point_at_loopback(env, recipe_env):
    for k in ("KACHE_S3_BUCKET", "KACHE_S3_REGION"):
        if not recipe_env.get(k):
            die("the recipe does not set %s" % k)
    env["KACHE_S3_BUCKET"] = os.environ["S3_BUCKET"]
    env["KACHE_S3_REGION"] = os.environ["S3_REGION"]
    env["KACHE_S3_ENDPOINT"] = os.environ["S3_ENDPOINT"]
    if os.environ.get("CI_TEST_S3_PREFIX"):
        env["KACHE_S3_PREFIX"] = os.environ["CI_TEST_S3_PREFIX"]


def run_shell(script, env, cwd, log, argv):
    with open(log, "a") as out:
        out.write("+ " + script.replace("\n", "\n+ ") + "\n")
        out.flush()
        p = subprocess.run(argv + [script], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    return p.returncode


# ------------------------------------------------------------------ GitHub Actions

def github_value(value, event):
    """The ${{ }} expressions the recipe uses; any other is an error (teach this test)."""
    value = str(value)
    if "${{" not in value:
        return value
    if value == "${{ github.event_name == 'pull_request' && '1' || '0' }}":
        return "1" if event == "pr" else "0"
    die("unknown expression in the workflow: %s (teach tests/e2e/ci_emulator.py)" % value)


def github(doc, event, workdir, logdir, bindir):
    wf = recipe(doc, "github")
    if (wf.get("permissions") or {}).get("id-token") != "write":
        die("the workflow lacks 'permissions: id-token: write' (no OIDC token without it)")
    jobs = wf.get("jobs") or {}
    if len(jobs) != 1:
        die("the workflow should have one job")
    job = next(iter(jobs.values()))
    steps = job.get("steps") or []
    recipe_env = {k: github_value(v, event) for k, v in (wf.get("env") or {}).items()}
    recipe_env.update({k: github_value(v, event) for k, v in (job.get("env") or {}).items()})
    if recipe_env.get("RUSTC_WRAPPER") != "kache":
        die("the workflow does not set RUSTC_WRAPPER=kache")

    env, creds = base_env(bindir)
    env.update(recipe_env)
    point_at_loopback(env, recipe_env)
    runner_temp = os.path.join(logdir, "runner-temp")
    os.makedirs(runner_temp, exist_ok=True)
    files = {k: os.path.join(runner_temp, k.lower()) for k in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY")}
    for f in files.values():
        open(f, "w").close()
    env.update(files)
    env["RUNNER_TEMP"] = runner_temp
    env["GITHUB_EVENT_NAME"] = "pull_request" if event == "pr" else "push"

    seen = []
    for i, step in enumerate(steps):
        name = step.get("name") or step.get("uses") or "step %d" % i
        if "uses" in step:
            action = step["uses"].split("@")[0]
            if action == "actions/checkout":
                print("   [github] %s: emulated (the workspace is checked out already)" % name)
            elif action == "aws-actions/configure-aws-credentials":
                if not (step.get("with") or {}).get("role-to-assume"):
                    die("configure-aws-credentials without role-to-assume")
                env.update(creds)
                seen.append("credentials")
                print("   [github] %s: emulated (exports the loopback server's keys, as the action "
                      "exports the role's temporary ones)" % name)
            else:
                die("no emulation for action %s" % action)
            continue
        script = step.get("run")
        if script is None:
            die("step %r has neither uses nor run" % name)
        cond = step.get("if")
        if cond is not None and cond not in ("always()", "${{ always() }}"):
            die("run step %r has a condition the emulator cannot judge: %s" % (name, cond))
        if name == "Install kache":
            if "meson install" not in script or "GITHUB_PATH" not in script:
                die("the install step does not meson install kache and put it on GITHUB_PATH")
            with open(files["GITHUB_PATH"], "a") as f:
                f.write(bindir + "\n")
            seen.append("install")
            print("   [github] %s: emulated (the kache under test goes on PATH through $GITHUB_PATH)" % name)
        else:
            role = role_of(script)
            step_env = dict(env)
            step_env.update({k: github_value(v, event) for k, v in (step.get("env") or {}).items()})
            # What earlier steps wrote to $GITHUB_PATH / $GITHUB_ENV, as the runner applies it.
            paths = [p for p in open(files["GITHUB_PATH"]).read().splitlines() if p]
            step_env["PATH"] = os.pathsep.join(reversed(paths) if paths else []) + \
                (os.pathsep if paths else "") + env["PATH"]
            for line in open(files["GITHUB_ENV"]).read().splitlines():
                if "=" in line:
                    k, v = line.split("=", 1)
                    step_env[k] = v
            if role == "report" and not has_report_in(step_env):
                if "--format github" not in script or "GITHUB_STEP_SUMMARY" not in script:
                    die("the report step does not write `kache report --format github` to $GITHUB_STEP_SUMMARY")
                seen.append(role)
                print("   [github] %s: in the recipe, not run: this build has no `kache report` yet" % name)
                continue
            rc = run_shell(script, step_env, workdir, os.path.join(logdir, role + ".out"),
                           ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"])
            print("   [github] %s: ran (%s), exit %d" % (name, role, rc))
            if rc != 0:
                die("step %r failed (exit %d); its output: %s" % (name, rc, open(os.path.join(logdir, role + ".out")).read()[-3000:]))
            if role == "report" and os.path.getsize(files["GITHUB_STEP_SUMMARY"]) == 0:
                die("the report step wrote nothing to $GITHUB_STEP_SUMMARY")
            seen.append(role)
    want = ["credentials", "install", "pull", "build", "push", "report"]
    if [s for s in seen if s in want] != want:
        die("the workflow's steps come as %s, want %s in this order" % (seen, want))


def has_report_in(env):
    return subprocess.run(["kache", "report", "--help"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


# ------------------------------------------------------------------ GitLab CI

def expand(value, env):
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), str(value))


def gitlab(doc, event, workdir, logdir, bindir):
    ci = recipe(doc, "gitlab")
    jobs = {k: v for k, v in ci.items() if not k.startswith(".") and isinstance(v, dict) and "script" in v}
    if len(jobs) != 1:
        die("the GitLab recipe should have one job")
    job = next(iter(jobs.values()))
    env, creds = base_env(bindir)
    builds = os.path.join(logdir, "builds")
    os.makedirs(builds, exist_ok=True)
    env.update({"CI_BUILDS_DIR": builds, "CI_PROJECT_DIR": workdir,
                "CI_PIPELINE_SOURCE": "merge_request_event" if event == "pr" else "push",
                "CI_COMMIT_REF_PROTECTED": "false" if event == "pr" else "true"})
    recipe_env = {k: str(v) for k, v in (job.get("variables") or {}).items()}
    # The first rule whose condition names this pipeline (the emulator does not parse
    # GitLab's expression language: it matches the variable the rule tests).
    rule_var = "CI_PIPELINE_SOURCE" if event == "pr" else "CI_COMMIT_REF_PROTECTED"
    rules = [r for r in job.get("rules") or [] if rule_var in str(r.get("if", ""))]
    if not rules:
        die("no rule of the job matches a %s pipeline" % ("merge request" if event == "pr" else "protected branch"))
    recipe_env.update({k: str(v) for k, v in (rules[0].get("variables") or {}).items()})
    for k, v in recipe_env.items():
        env[k] = expand(v, {**env, **recipe_env})
    if env.get("RUSTC_WRAPPER") != "kache":
        die("the job does not set RUSTC_WRAPPER=kache")
    if "AWS_ROLE_ARN" not in recipe_env or "AWS_WEB_IDENTITY_TOKEN_FILE" not in recipe_env:
        die("the job does not hand kache a web identity (AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE)")
    for name in (job.get("id_tokens") or {}):
        env[name] = "emulated-oidc-token"
    point_at_loopback(env, recipe_env)
    # The STS exchange of the token is AWS's part: the loopback server's keys stand for
    # the credentials it hands out (they come first in kache's credential chain).
    env.update(creds)
    print("   [gitlab] id_tokens and the STS exchange: emulated (the loopback server's keys)")
    env["PATH"] = bindir + os.pathsep + env["PATH"]

    main, installs = [], 0
    for line in job.get("before_script") or []:
        if "apt-get" in line or "KACHE_SRC" in line:
            installs += 1
            continue
        main.append(line)
    if installs == 0:
        die("before_script does not install kache")
    print("   [gitlab] %d install lines of before_script: emulated (the kache under test is on PATH)" % installs)
    main += job.get("script") or []
    shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
    for part, lines in (("main", main), ("after", job.get("after_script") or [])):
        script = "\n".join(lines)
        rc = run_shell(script, env, workdir, os.path.join(logdir, part + ".out"), shell)
        print("   [gitlab] %s: ran, exit %d" % ("before_script + script" if part == "main" else "after_script", rc))
        if rc != 0:
            die("%s failed (exit %d): %s" % (part, rc, open(os.path.join(logdir, part + ".out")).read()[-3000:]))
    text = "\n".join(main)
    if not ("kache sync --pull" in text and text.index("kache sync --pull") < text.index("cargo build")):
        die("the job does not pull before it builds")
    if "kache sync --push" not in "\n".join(job.get("after_script") or []):
        die("after_script does not push")


def main():
    if len(sys.argv) != 7:
        die(__doc__)
    doc, name, event, workdir, logdir, bindir = sys.argv[1:]
    os.makedirs(logdir, exist_ok=True)
    {"github": github, "gitlab": gitlab}[name](doc, event, workdir, logdir, bindir)


if __name__ == "__main__":
    main()
