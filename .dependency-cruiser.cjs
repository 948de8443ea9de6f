// The layering of DESIGN.md ("Layering"), checked by `npm run lint:deps` (dependency-cruiser) over src/.
// Rooms, top to bottom:
//   main.ts -> cli.ts -> agent.ts                       the entry point and THE composition root
//   capabilities/<family>/                              one folder per family; never another family
//   commands/ -> console/, config/                      commands may use the transport; console/ never commands/
//   exec/, db/                                          side by side: neither imports the other
//   platform/ <-> log/                                  the floor: they may use each other (no file cycles)
// The floor and exec/ and db/ import nothing above them. src/version.ts is a leaf anyone may import.
// Type-only imports count: a `Part` type imported from agent.ts is as much a cycle as a value.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "infrastructure-not-to-capabilities",
      comment: "console/, commands/, exec/, db/, platform/, log/ and config/ never import capabilities/ (DESIGN.md Layering).",
      severity: "error",
      from: { path: "^src/(console|commands|exec|db|platform|log|config)/" },
      to: { path: "^src/capabilities/" },
    },
    {
      name: "console-not-to-commands",
      comment: "console/ is transport only: it knows no command (DESIGN.md Layering).",
      severity: "error",
      from: { path: "^src/console/" },
      to: { path: "^src/commands/" },
    },
    {
      name: "lower-layers-not-upward",
      comment: "exec/, db/, platform/ and log/ import nothing above them: not console/, commands/, config/, capabilities/, nor the entry and root files.",
      severity: "error",
      from: { path: "^src/(exec|db|platform|log)/" },
      to: { path: ["^src/(console|commands|config|capabilities)/", "^src/(main|cli|agent)\\.ts$"] },
    },
    {
      name: "floor-not-to-exec-or-db",
      comment: "platform/ and log/ are the floor: they do not import exec/ or db/ (exec/ and db/ stand on them).",
      severity: "error",
      from: { path: "^src/(platform|log)/" },
      to: { path: "^src/(exec|db)/" },
    },
    {
      name: "exec-and-db-apart",
      comment: "exec/ (the only place that starts processes) and db/ (the only way to the state database) stand side by side.",
      severity: "error",
      from: { path: "^src/(exec|db)/" },
      to: { path: "^src/(exec|db)/", pathNot: "^src/$1/" },
    },
    {
      name: "capability-not-to-other-capability",
      comment: "A capability never imports another: what one needs of another is handed to it by agent.ts.",
      severity: "error",
      from: { path: "^src/capabilities/([^/]+)/" },
      to: { path: "^src/capabilities/", pathNot: "^src/capabilities/$1/" },
    },
    {
      name: "capabilities-only-from-root",
      comment: "Outside capabilities/, only agent.ts and cli.ts (hidden worker subcommands, --once) import a capability.",
      severity: "error",
      from: { path: "^src/", pathNot: ["^src/capabilities/", "^src/(agent|cli)\\.ts$"] },
      to: { path: "^src/capabilities/" },
    },
    {
      name: "capability-factory-only-from-root",
      comment: "A capability's factory (its index.ts) is imported by agent.ts and cli.ts only, not by its own files.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(agent|cli)\\.ts$" },
      to: { path: "^src/capabilities/[^/]+/index\\.ts$" },
    },
    {
      name: "no-circular",
      comment: "No import cycles anywhere, type-only imports included.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-orphans",
      comment: "A module nothing imports is dead code (the entry point and declaration files aside).",
      severity: "error",
      from: { orphan: true, pathNot: ["^src/main\\.ts$", "\\.d\\.ts$"] },
      to: {},
    },
    {
      name: "not-to-unresolvable",
      comment: "An import that does not resolve to a file is a typo or a missing package.",
      severity: "error",
      from: {},
      to: { couldNotResolve: true, pathNot: "^bun(:|$)" },
    },
    {
      name: "not-to-dev-dep",
      comment: "Shipped code does not use a devDependency (the compiled binary would not have it).",
      severity: "error",
      from: { path: "^src/" },
      to: { dependencyTypes: ["npm-dev"], dependencyTypesNot: ["type-only"], pathNot: "node_modules/@types/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^bun(:|$)" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["bun", "import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".json", ".sql"],
    },
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
