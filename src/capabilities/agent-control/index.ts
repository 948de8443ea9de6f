// The agent's own commands: ping, help, quit, restart (and restart collector), reconnect, byebye.
import type { Capability } from "../../commands/capability.ts";
import { agentCommands, type AgentCommandDeps } from "./commands.ts";

export type AgentControlDeps = AgentCommandDeps;

export function createAgentControl(deps: AgentControlDeps): Capability {
  return { name: "agent-control", commands: agentCommands(deps) };
}
