// The maintainer scripts (packaging/scripts/postinst, prerm, postrm) run for real by /bin/sh in a private
// mount namespace whose /etc, /var/lib, /var/log, /run and /usr/local/bin are empty tmpfs mounts, with
// systemctl, systemd-run, systemd-tmpfiles and alpamon replaced by stubs that log their argv. The host's own
// directories are never touched (the mounts vanish with the namespace). Needs root and unshare (util-linux).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SCRIPTS = join(import.meta.dir, "../../packaging/scripts");
let work = "";
let stubs = "";
let runs = 0;

const STUB = `#!/bin/sh
echo "$(basename "$0") $*" >> "$STUB_LOG"
if [ "$(basename "$0")" = alpamon ] && [ "$1" = setup ]; then
    [ -n "$ALPACON_URL" ] && mkdir -p /etc/alpamon && echo "[server]" > /etc/alpamon/alpamon.conf
fi
if [ "$(basename "$0")" = systemctl ] && [ "$1" = is-active ]; then exit "\${STUB_ACTIVE:-0}"; fi
if [ "$(basename "$0")" = systemctl ] && [ "$1" = list-timers ]; then printf '%s' "$STUB_TIMERS"; fi
exit 0
`;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
  /** argv lines the stubs logged. */
  calls: string[];
  /** `ls`-like facts gathered inside the namespace after the script ran. */
  state: string;
}

/** Runs `script args` in a fresh namespace; `prepare` is shell run before it (inside the namespace). */
function runScript(
  script: string,
  args: string[],
  opts: { systemd?: boolean; prepare?: string; env?: Record<string, string> } = {},
): Outcome {
  const log = join(work, `calls-${++runs}.log`);
  writeFileSync(log, "");
  const harness = [
    "set -e",
    'for d in /etc /var/lib /var/log /run /usr/local/bin; do mount -t tmpfs tmpfs "$d"; done',
    opts.systemd === false ? ":" : "mkdir -p /run/systemd/system",
    opts.prepare ?? ":",
    "set +e",
    `/bin/sh "${join(SCRIPTS, script)}" "$@"`,
    "code=$?",
    '{ echo "link=$(readlink /usr/local/bin/alpamon)"; for d in /etc/alpamon /var/lib/alpamon /var/log/alpamon; do [ -e "$d" ] && echo "exists=$d"; done; } > "$STATE"',
    "exit $code",
  ].join("\n");
  const state = join(work, `state-${runs}`);
  const r = Bun.spawnSync(["unshare", "-m", "--propagation", "private", "/bin/sh", "-c", harness, "harness", ...args], {
    cwd: "/",
    env: { PATH: `${stubs}:/usr/sbin:/usr/bin:/sbin:/bin`, STUB_LOG: log, STATE: state, ...opts.env },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  let stateText = "";
  try {
    stateText = readFileSync(state, "utf8");
  } catch {
    // the harness failed before the script ran; the assertions on code/stderr will say so
  }
  const calls = readFileSync(log, "utf8").split("\n").filter(Boolean);
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString(), calls, state: stateText };
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "alpamon-scripts-"));
  stubs = join(work, "stubs");
  mkdirSync(stubs);
  for (const name of ["systemctl", "systemd-run", "systemd-tmpfiles", "alpamon"]) writeFileSync(join(stubs, name), STUB, { mode: 0o755 });
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("postinst", () => {
  for (const args of [["configure", ""], ["1"]]) {
    test(`fresh install (${args.join(" ").trim()}) without credentials succeeds, explains how to finish and starts nothing`, () => {
      const r = runScript("postinst", args);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("alpamon register --url");
      expect(r.calls).toContain("systemd-tmpfiles --create /usr/lib/tmpfiles.d/alpamon.conf");
      expect(r.calls).toContain("systemctl daemon-reload");
      expect(r.calls.filter((c) => /^alpamon |enable|restart/.test(c))).toEqual([]);
      expect(r.state).toContain("link=/usr/bin/alpamon");
    });
  }

  test("fresh install with ALPACON_URL, PLUGIN_ID and PLUGIN_KEY runs setup, then enables and starts the service", () => {
    const r = runScript("postinst", ["configure", ""], { env: { ALPACON_URL: "https://c.example", PLUGIN_ID: "i", PLUGIN_KEY: "k" } });
    expect(r.code).toBe(0);
    expect(r.calls).toContain("alpamon setup");
    expect(r.calls).toContain("systemctl enable alpamon.service");
    expect(r.calls).toContain("systemctl restart alpamon.service");
    expect(r.stdout).not.toContain("not configured yet");
  });

  test("without systemd running it neither reloads nor starts anything", () => {
    const r = runScript("postinst", ["configure", ""], {
      systemd: false,
      prepare: "mkdir -p /etc/alpamon; echo x > /etc/alpamon/alpamon.conf",
    });
    expect(r.code).toBe(0);
    expect(r.calls.filter((c) => c.startsWith("systemctl"))).toEqual([]);
  });

  test("a compatibility path the admin owns is left alone", () => {
    const r = runScript("postinst", ["1"], { prepare: "echo mine > /usr/local/bin/alpamon" });
    expect(r.code).toBe(0);
    expect(r.state).toContain("link=\n");
  });

  for (const args of [["configure", "0.0.9"], ["2"]]) {
    test(`upgrade (${args.join(" ")}) restarts a running agent through a transient timer, enabling nothing`, () => {
      const r = runScript("postinst", args);
      expect(r.code).toBe(0);
      const run = r.calls.find((c) => c.startsWith("systemd-run"));
      expect(run).toMatch(
        /^systemd-run --unit=alpamon-upgrade-restart-\d+ --on-active=30 --timer-property=AccuracySec=1s systemctl restart alpamon.service$/,
      );
      expect(r.calls.filter((c) => /enable|alpamon setup/.test(c))).toEqual([]);
    });
  }

  test("upgrade while the agent's own restart timer is pending schedules no second one", () => {
    const r = runScript("postinst", ["configure", "0.0.9"], { env: { STUB_TIMERS: "alpamon-upgrade-restart-1.timer" } });
    expect(r.code).toBe(0);
    expect(r.calls).toContain("systemctl list-timers --all --no-legend alpamon-upgrade-restart-*");
    expect(r.calls.filter((c) => c.startsWith("systemd-run"))).toEqual([]);
  });

  test("upgrade of a stopped agent schedules nothing", () => {
    const r = runScript("postinst", ["configure", "0.0.9"], { env: { STUB_ACTIVE: "3" } });
    expect(r.code).toBe(0);
    expect(r.calls.filter((c) => c.startsWith("systemd-run"))).toEqual([]);
  });
});

describe("prerm and postrm", () => {
  for (const arg of ["remove", "0"]) {
    test(`prerm ${arg} stops and disables the service`, () => {
      const r = runScript("prerm", [arg]);
      expect(r.code).toBe(0);
      expect(r.calls).toEqual(["systemctl stop alpamon.service", "systemctl disable alpamon.service"]);
    });
  }

  test("prerm upgrade leaves the service alone", () => {
    const r = runScript("prerm", ["upgrade", "1.0.0"]);
    expect(r.code).toBe(0);
    expect(r.calls).toEqual([]);
  });

  const installed =
    "mkdir -p /etc/alpamon /var/lib/alpamon /var/log/alpamon; echo k > /etc/alpamon/alpamon.conf; ln -s /usr/bin/alpamon /usr/local/bin/alpamon";

  test("postrm remove drops the symlink but keeps config, state and logs", () => {
    const r = runScript("postrm", ["remove"], { prepare: installed });
    expect(r.code).toBe(0);
    expect(r.state).toContain("link=\n");
    expect(r.state).toContain("exists=/etc/alpamon");
    expect(r.state).toContain("exists=/var/lib/alpamon");
  });

  test("postrm purge removes config, state and logs", () => {
    const r = runScript("postrm", ["purge"], { prepare: installed });
    expect(r.code).toBe(0);
    expect(r.state).not.toContain("exists=");
    expect(r.state).toContain("link=\n");
  });

  test("an unknown argument is an error", () => {
    expect(runScript("postrm", ["bogus"]).code).toBe(1);
    expect(runScript("postinst", ["bogus"]).code).toBe(1);
  });
});
