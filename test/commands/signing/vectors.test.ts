// The canonical payload and Ed25519 verification against upstream-2026.md §1.7: the upstream payload
// strings, our four signature vectors (RFC 8032 TEST 1 key), and a one-byte change to any signed field.
import { describe, expect, test } from "bun:test";
import { canonicalPayload, type SignedFields } from "../../../src/commands/signing/payload.ts";
import { decodeBase64Exact, ed25519PublicKey, verifyEd25519 } from "../../../src/commands/signing/verify.ts";
import { sha256Hex } from "../../console/fake-signer.ts";

const RFC8032_TEST1_PUBLIC = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

interface Vector {
  name: string;
  command: SignedFields;
  serverId: string;
  payload?: string;
  sha256: string;
  signature: string;
}

const A: Vector = {
  name: "A",
  command: { id: "cmd-123", shell: "system", line: "whoami", user: "root", group: "root", analyzed_at: "2026-03-01T12:00:00+00:00" },
  serverId: "server-456",
  payload:
    '{"command_id":"cmd-123","groupname":"root","line":"whoami","server_id":"server-456","shell":"system","timestamp":"2026-03-01T12:00:00+00:00","username":"root"}',
  sha256: "70834aeb7e903843a9a060a0a724db09fbe05cba8fb39f13df063b1ea528b1e4",
  signature: "jMuSTDQxl/cg04/cFRZ8ctBXQ+MHHbTU2jq+JWOYQjh3uLC+uW20CgnM6pItuPv9jEzf2tqFsmgxhhjk4mq5Dg==",
};
const B: Vector = {
  name: "B",
  command: {
    id: "cmd-1",
    shell: "system",
    line: "echo '<h1>test</h1>' & cat /etc/passwd",
    user: "root",
    group: "root",
    analyzed_at: "2026-01-01T00:00:00+00:00",
  },
  serverId: "srv-1",
  payload:
    '{"command_id":"cmd-1","groupname":"root","line":"echo \'<h1>test</h1>\' & cat /etc/passwd","server_id":"srv-1","shell":"system","timestamp":"2026-01-01T00:00:00+00:00","username":"root"}',
  sha256: "d9e53ceb6bdad4a13d1b3dcc195060c584ea74318dae5a63dee9b723b0487715",
  signature: "DOK6JLaT6Rc6REzI3SOSsXJqy/2DkHCYk+XSN3XRmzjAV9/L1nbfD7Wj+h1K9cLZRAxAPbdbYx6ljYurDIRdDw==",
};
const C: Vector = {
  name: "C",
  command: { ...B.command, line: "echo hello\u2028world\u2029end" },
  serverId: "srv-1",
  sha256: "eaa52dfa27bafecc991a13efc0717e84c60eecbed0b27e0eaf962e54dbe24e26",
  signature: "Q91xWLXNwKA1msbvWScjEvQ+LBkztVJLnHGKeglyX/F0kvpDmE7rGYOZXxqjLO0iuNVacuBolji5dCwGapCgCw==",
};
const D: Vector = {
  name: "D",
  command: {
    id: "7c1e0f5a-3b2d-4c8e-9f10-2a4b6c8d0e1f",
    shell: "system",
    line: "printf 'a\tb\\n' \"q\" café 😀 \u0001",
    user: "deploy",
    group: "",
    analyzed_at: "",
  },
  serverId: "b1d2c3e4-0000-4000-8000-000000000001",
  payload:
    '{"command_id":"7c1e0f5a-3b2d-4c8e-9f10-2a4b6c8d0e1f","groupname":"","line":"printf \'a\\tb\\\\n\' \\"q\\" café 😀 \\u0001","server_id":"b1d2c3e4-0000-4000-8000-000000000001","shell":"system","timestamp":"","username":"deploy"}',
  sha256: "16064616bb70a022a8a065f37d0606f65474ddccfdb4a7ec3e929990a7e93caf",
  signature: "VEsj6VBTBzsIuQYaB5EAM97QDl4wKuPqbF5ArHP3Xe14c6Gup+pXjGx6oF3xgyDtuyqWi4KVjGZ2qV6PQ09yDA==",
};
const C_HEX =
  "7b22636f6d6d616e645f6964223a22636d642d31222c2267726f75706e616d65223a22726f6f74222c226c696e65223a226563686f2068656c6c6fe280a8776f726c64e280a9656e64222c227365727665725f6964223a227372762d31222c227368656c6c223a2273797374656d222c2274696d657374616d70223a22323032362d30312d30315430303a30303a30302b30303a3030222c22757365726e616d65223a22726f6f74227d";

const key = ed25519PublicKey(RFC8032_TEST1_PUBLIC)!;
const verifies = (command: SignedFields, serverId: string, signature: string) =>
  verifyEd25519(key, canonicalPayload(command, serverId), decodeBase64Exact(signature, 64)!);

describe("canonical payload", () => {
  test("upstream's payload strings (TestBuildCanonicalPayload)", () => {
    expect(
      canonicalPayload(
        { id: "test-uuid", shell: "system", line: "echo hello", user: "root", group: "alpacon", analyzed_at: "2026-01-01T00:00:00+00:00" },
        "server-uuid",
      ).toString(),
    ).toBe(
      '{"command_id":"test-uuid","groupname":"alpacon","line":"echo hello","server_id":"server-uuid","shell":"system","timestamp":"2026-01-01T00:00:00+00:00","username":"root"}',
    );
    // No analyzed_at: an empty string, never null or omitted; null user/group likewise.
    expect(canonicalPayload({ id: "cmd-1", shell: "system", line: "ls", user: "deploy", group: "deploy" }, "srv-1").toString()).toBe(
      '{"command_id":"cmd-1","groupname":"deploy","line":"ls","server_id":"srv-1","shell":"system","timestamp":"","username":"deploy"}',
    );
    expect(canonicalPayload({ id: "x", shell: "system", line: "", user: null, group: null, analyzed_at: null }, "s").toString()).toBe(
      '{"command_id":"x","groupname":"","line":"","server_id":"s","shell":"system","timestamp":"","username":""}',
    );
  });

  test.each([A, B, C, D])("vector %# has the spec's bytes", (v) => {
    const bytes = canonicalPayload(v.command, v.serverId);
    if (v.payload) expect(bytes.toString("utf8")).toBe(v.payload);
    expect(sha256Hex(bytes)).toBe(v.sha256);
  });

  test("U+2028/2029 stay raw; a literal backslash-u2028 is escaped as text", () => {
    expect(canonicalPayload(C.command, C.serverId).toString("hex")).toBe(C_HEX);
    const literal = canonicalPayload({ ...B.command, line: "a\\u2028b" }, "s").toString();
    expect(literal).toContain('"line":"a\\\\u2028b"');
  });

  test("a lone surrogate becomes U+FFFD, as Go's decoder makes it", () => {
    const text = canonicalPayload({ ...B.command, line: "x\uD800y\uDC00" }, "s").toString("utf8");
    expect(text).toContain('"line":"x\uFFFDy\uFFFD"');
  });
});

describe("Ed25519 verification", () => {
  test.each([A, B, C, D])("vector %# verifies with the RFC 8032 TEST 1 key", (v) => {
    expect(verifies(v.command, v.serverId, v.signature)).toBe(true);
  });

  const fields = ["id", "shell", "line", "user", "group", "analyzed_at"] as const;
  test.each(fields)("a one-byte change to %s fails", (field) => {
    const changed = { ...A.command, [field]: `${A.command[field]}x` };
    expect(verifies(changed, A.serverId, A.signature)).toBe(false);
  });

  test("another server_id fails (it is our own id, not the message's)", () => {
    expect(verifies(A.command, "server-457", A.signature)).toBe(false);
  });

  test("one flipped bit of the signature fails", () => {
    const bytes = decodeBase64Exact(A.signature, 64)!;
    bytes[10]! ^= 1;
    expect(verifyEd25519(key, canonicalPayload(A.command, A.serverId), bytes)).toBe(false);
  });

  test("signatures must be standard base64 with padding of exactly 64 bytes", () => {
    expect(decodeBase64Exact(A.signature, 64)).toHaveLength(64);
    expect(decodeBase64Exact(A.signature.replace(/=+$/, ""), 64)).toBeUndefined();
    expect(decodeBase64Exact(A.signature.replace(/\+/g, "-").replace(/\//g, "_"), 64)).toBeUndefined();
    expect(decodeBase64Exact(Buffer.alloc(63).toString("base64"), 64)).toBeUndefined();
    expect(decodeBase64Exact(Buffer.alloc(65).toString("base64"), 64)).toBeUndefined();
    expect(ed25519PublicKey(Buffer.alloc(31).toString("base64"))).toBeUndefined();
  });
});
