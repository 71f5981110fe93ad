// j EXPR: reads JSON from stdin (or, if it is not JSON, the trimmed text), binds it to `x`,
// evaluates the JavaScript expression EXPR and prints the result: strings bare, undefined as
// nothing, anything else as JSON (bigints as decimal). Used by cast.sh to take answers apart.
import fs from "node:fs";
const text = fs.readFileSync(0, "utf8").trim();
let x;
try {
  // A bare decimal stays a string (cast prints balances beyond 2^53); JSON numbers would round.
  x = /^-?[0-9]+$/.test(text) ? text : JSON.parse(text);
} catch {
  x = text;
}
let v;
try {
  v = new Function("x", `return (${process.argv[2] || "x"});`)(x);
} catch (e) {
  process.stderr.write(`(${e.message}, on ${JSON.stringify(text.slice(0, 120))})\n`);
  process.exit(1);
}
if (typeof v === "string") process.stdout.write(v + "\n");
else if (v !== undefined) process.stdout.write(JSON.stringify(v, (_, y) => (typeof y === "bigint" ? y.toString() : y)) + "\n");
