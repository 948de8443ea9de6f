// CLI wiring (commander) only: parses flags and calls into the modules. Every failure becomes one clear
// line on stderr and an exit code: 0 success, 78 configuration error, 1 anything else. Never a stack trace.
// With no arguments (how the service unit starts the agent) the agent starts without commander and the
// subcommands' modules: the idle agent then holds about 0.4 MB less anonymous memory (BENCHMARKS.md, "Round 3").
import type { Command } from "commander";
import { readFileSync } from "node:fs";
import { applyJscTuning } from "./exec/jsc-tuning.ts";
import { ConfigError, EX_CONFIG, RegisterError } from "./config/errors.ts";
import { loadConfig, SYSTEM_CONFIG_PATH } from "./config/load.ts";
import { releaseDelegatedCgroup } from "./exec/cgroup.ts";
import { runProcess } from "./exec/run.ts";
import { LogHub, stderrSink } from "./log/logger.ts";
import { readPlatform } from "./platform/os-release.ts";
import { AlreadyRunningError } from "./platform/pidfile.ts";
import { USER_AGENT, VERSION } from "./version.ts";

class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** A flag combination that makes no sense; exit 1 like commander's own usage errors. */
class UsageError extends Error {}

function fail(err: unknown): number {
  if (err instanceof ExitCode) return err.code;
  if (err instanceof ConfigError) {
    process.stderr.write(`alpamon: config error: ${err.message}\n`);
    return EX_CONFIG;
  }
  if (err instanceof AlreadyRunningError || err instanceof RegisterError) {
    process.stderr.write(`alpamon: ${err.message}\n`);
    return 1;
  }
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`alpamon: ${message.split("\n")[0]}\n`);
  return 1;
}

async function askYesNo(question: string): Promise<boolean> {
  // Loaded here, not at the top: node:readline costs every running agent memory it never uses.
  const { createInterface } = await import("node:readline/promises");
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function readKeyFile(path: string): string {
  try {
    return readFileSync(path === "-" ? "/dev/stdin" : path, "utf8").trim();
  } catch (err) {
    throw new ConfigError("setup", "--key-file", `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

interface RootOptions {
  config?: string;
  once?: boolean;
  json?: boolean;
  dataDir?: string;
  version?: boolean;
}

/** The root command: the agent in the foreground, `--once`, or `--version`. */
async function runRoot(opts: RootOptions): Promise<void> {
  if (opts.version) {
    console.log(`alpamon ${VERSION}`);
    return;
  }
  if (opts.json && !opts.once) throw new UsageError("--json only works together with --once");
  if (opts.dataDir && !opts.once) throw new UsageError("--data-dir only works together with --once");
  if (opts.once) {
    const { runOnce } = await import("./capabilities/metrics/once-command.ts");
    await runOnce({ json: !!opts.json, dataDir: opts.dataDir });
    return;
  }
  const config = loadConfig({ explicitPath: opts.config });
  const tuningFailed = applyJscTuning();
  if (tuningFailed) console.error(`alpamon: running without the JavaScriptCore tuning: ${tuningFailed}`);
  // Loaded here, not at the top: the file worker and the other subcommands start without the agent's modules.
  const { runAgent } = await import("./agent.ts");
  const code = await runAgent(config, new LogHub(stderrSink));
  if (code !== 0) throw new ExitCode(code);
}

function buildProgram({ Command, Option }: typeof import("commander")): Command {
  const program = new Command("alpamon")
    .description("Secure server agent for the Alpacon console")
    .addHelpCommand(true)
    .enablePositionalOptions()
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text.startsWith("error:") ? `alpamon: ${text}` : text) })
    .option("-c, --config <file>", "config file (default: $ALPAMON_CONFIG, /etc/alpamon/alpamon.conf, ~/.alpamon.conf)")
    .option("--once", "take one metric sample over about one second, print it and exit (needs no config)")
    .option("--json", "with --once: print the sample as one JSON object")
    .addOption(new Option("--data-dir <dir>", "with --once: state directory to record the sample in").default(undefined))
    .option("-V, --version", "print the version")
    .action(runRoot);

  program
    .command("version")
    .description("print the version")
    .action(() => {
      console.log(`alpamon ${VERSION}`);
    });

  program
    .command("setup")
    .description(
      "write the config file from ALPACON_URL, PLUGIN_ID, PLUGIN_KEY, ALPACON_SSL_VERIFY, ALPACON_CA_CERT, PLUGIN_DEBUG or flags",
    )
    .option("--url <url>", "console URL (ALPACON_URL)")
    .option("--id <id>", "server id (PLUGIN_ID)")
    .option("--key-file <file>", "file holding the server key, or - for stdin (PLUGIN_KEY); keys never go on the command line")
    .option("--ssl-verify <bool>", "verify the console's TLS certificate (ALPACON_SSL_VERIFY, default true)")
    .option("--ca-cert <file>", "CA bundle for the console (ALPACON_CA_CERT)")
    .option("--debug <bool>", "debug logging (PLUGIN_DEBUG, default false)")
    .option("--config <file>", "where to write", SYSTEM_CONFIG_PATH)
    .option("--force", "replace an existing config file without asking")
    .action(async (opts: Record<string, string | boolean | undefined>) => {
      const { runSetup, setupInputFromEnv } = await import("./config/setup.ts");
      const key = typeof opts.keyFile === "string" ? readKeyFile(opts.keyFile) : undefined;
      const input = setupInputFromEnv(process.env, {
        url: opts.url as string | undefined,
        id: opts.id as string | undefined,
        key,
        sslVerify: opts.sslVerify as string | undefined,
        caCert: opts.caCert as string | undefined,
        debug: opts.debug as string | undefined,
      });
      console.log("Starting alpamon setup...");
      await runSetup(input, {
        target: opts.config as string,
        force: !!opts.force,
        confirmOverwrite: process.stdin.isTTY ? () => askYesNo("Overwrite it with a new configuration?") : undefined,
      });
    });

  program
    .command("ftp-worker", { hidden: true })
    .description("internal: the file worker the agent starts as a user")
    .allowExcessArguments(true)
    .action(async (_opts: unknown, cmd: Command) => {
      const { runFileWorker } = await import("./capabilities/files/worker-main.ts");
      const code = await runFileWorker(cmd.args);
      if (code !== 0) throw new ExitCode(code);
    });

  program
    .command("tunnel-daemon", { hidden: true })
    .description("internal: the relay helper of one tunnel, which the agent starts as nobody")
    .argument("<socket>")
    .argument("[allowed-ports]")
    .action(async (socket: string, ports: string | undefined) => {
      const { runTunnelDaemon } = await import("./capabilities/tunnel/relay-daemon.ts");
      // Exits at once: a helper's relays and stdin must not keep it alive after it stopped.
      process.exit(await runTunnelDaemon([socket, ports ?? ""]));
    });

  program
    .command("inventory-collect", { hidden: true })
    .description("internal: the inventory helper the agent starts as root for each collection; prints one JSON line")
    .argument("<what>", "comma-separated snapshot keys, and firewall for the agent's own chains; or commit-2026 or commit-older alone")
    .requiredOption("--data-dir <dir>", "the agent's data directory (its firewall is built as the agent's is)")
    .option("--agent-version <version>", "for a commit: the version of the agent that asked, which the commit reports")
    .action(async (what: string, opts: { dataDir: string; agentVersion?: string }) => {
      const { runInventoryCollect } = await import("./capabilities/inventory/collect-main.ts");
      const { hostCollectorEnv } = await import("./capabilities/inventory/collectors/env.ts");
      const { systemClock } = await import("./platform/clock.ts");
      const code = await runInventoryCollect(what, {
        env: hostCollectorEnv(VERSION, () => systemClock.now()),
        async firewallChains(log) {
          const { createFirewall } = await import("./capabilities/firewall/index.ts");
          return createFirewall({ runProcess, dataDir: opts.dataDir, clock: systemClock, log }).collectFirewallChains();
        },
        write: (text) => process.stdout.write(text),
        complain: (text) => process.stderr.write(text),
        ...(opts.agentVersion === undefined ? {} : { agentVersion: opts.agentVersion }),
      });
      if (code !== 0) throw new ExitCode(code);
    });

  program
    .command("cgroup-release", { hidden: true })
    .description("internal: ExecStartPre of the unit; lets systemd start the agent beside users' leftover processes")
    .action(() => {
      const released = releaseDelegatedCgroup();
      if (!released.ok) throw new Error(released.message);
      if (released.changed) console.log(`alpamon: ${released.message}`);
    });

  program
    .command("register")
    .description("register this server with the console using an API token, write the config and start the service")
    .requiredOption("--url <url>", "console URL")
    .option("--token-file <file>", "file holding the API token (servers:register scope), or - for stdin")
    .option("--token <token>", "API token (visible in process listings: prefer --token-file or ALPACON_TOKEN)")
    .option("--name <name>", "server name (default: the host name)")
    .option("--ssl-verify <bool>", "verify the console's TLS certificate (default true)")
    .option("--ca-cert <file>", "CA bundle for the console")
    .option(
      "--tag <key=value>",
      "server tag (repeatable, or k1=v1,k2=v2)",
      (value: string, prev: string[]) => [...prev, value],
      [] as string[],
    )
    .option("--config <file>", "where to write", SYSTEM_CONFIG_PATH)
    .option("--force", "replace an existing registration")
    .option("--no-start", "do not enable and start the service")
    .option("--no-cloud-probe", "do not ask the cloud metadata service (AWS, GCP, Azure) for cloud:* tags")
    .action(async (opts: Record<string, string | string[] | boolean | undefined>) => {
      const { parseTags, resolveToken, runRegister } = await import("./config/register.ts");
      const { token, warning } = resolveToken({
        flag: opts.token as string | undefined,
        file: opts.tokenFile as string | undefined,
        env: process.env,
      });
      if (warning) process.stderr.write(`alpamon: ${warning}\n`);
      await runRegister(
        {
          url: opts.url as string,
          token,
          name: opts.name as string | undefined,
          sslVerify: opts.sslVerify as string | undefined,
          caCert: opts.caCert as string | undefined,
          tags: parseTags(opts.tag as string[]),
        },
        {
          target: opts.config as string,
          force: !!opts.force,
          noStart: opts.start === false,
          platform: () => readPlatform(),
          userAgent: USER_AGENT,
          runProcess,
          cloud: opts.cloudProbe === false ? false : {},
        },
      );
    });

  program
    .command("unregister")
    .description("stop and disable the service and remove this server's local registration (the config file)")
    .option("--config <file>", "the config file to remove", SYSTEM_CONFIG_PATH)
    .option("--yes", "do not ask for confirmation (required when stdin is not a terminal)")
    .option("--no-stop", "leave the service running")
    .action(async (opts: { config: string; yes?: boolean; stop: boolean }) => {
      if (!opts.yes) {
        if (!process.stdin.isTTY) throw new UsageError("unregister needs --yes when stdin is not a terminal");
        if (!(await askYesNo(`Remove the registration in ${opts.config}?`))) throw new ExitCode(1);
      }
      const { runUnregister } = await import("./config/register.ts");
      await runUnregister({ target: opts.config, noStop: !opts.stop, runProcess });
    });

  return program;
}

export async function runCli(argv: string[]): Promise<number> {
  // No arguments: what commander would do, the root command with every option unset, without loading it.
  const commander = argv.length > 0 ? await import("commander") : undefined;
  try {
    if (commander) await buildProgram(commander).parseAsync(argv, { from: "user" });
    else await runRoot({});
    return 0;
  } catch (err) {
    if (commander && err instanceof commander.CommanderError) {
      // Help and version output are successes; usage errors were already printed as one line.
      return err.exitCode === 0 || err.code === "commander.helpDisplayed" || err.code === "commander.help" ? 0 : 1;
    }
    return fail(err);
  }
}
