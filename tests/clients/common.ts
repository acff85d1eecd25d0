// Shared helpers of the TypeScript round trips (no generated types here).

// The two bits of Node's `process` used here (tests/tools has no @types/node).
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

export class Mismatch extends Error {}

export function check(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Mismatch(what);
}

export function env(name: string, fallback: string): string {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : v;
}

export const BASE = env("VELLUM_URL", "http://127.0.0.1:18123").replace(/\/+$/, "");
export const EMAIL = env("VELLUM_EMAIL", "admin@example.com");
export const PASSWORD = env("VELLUM_PASSWORD", "admin-passphrase-1");

export async function main(phase: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    console.error(`roundtrip ${phase}: ${e instanceof Mismatch ? "MISMATCH" : "ERROR"}: ${msg}`);
    process.exit(1);
  }
}
