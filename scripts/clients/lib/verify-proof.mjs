// verify-proof.mjs STATE_ROOT < eth_getProof-answer.json: verifies the proof (lib/common.mjs,
// @ethereumjs/mpt) and prints what was verified; exits 1 with the reason if it does not hold.
import fs from "node:fs";
import { verifyProof } from "./common.mjs";
try {
  const p = JSON.parse(fs.readFileSync(0, "utf8"));
  process.stdout.write(await verifyProof(process.argv[2], p));
} catch (e) {
  process.stderr.write(`proof does not verify: ${e.message}\n`);
  process.exit(1);
}
