/**
 * graphql-codegen configuration for typed IVEN clients (docs/codegen.md explains it).
 *
 * From this repository, with the pinned tools of tests/js installed (`cd tests/js && npm ci`):
 *
 *   cd tests/js && node_modules/.bin/graphql-codegen --config ../../docs/codegen.ts
 *
 * writes build/codegen/schema.ts (every schema type, plugin `typescript`) and
 * build/codegen/operations.ts (plugin `typescript-operations`: per named operation of the
 * README its result and variables types, e.g. `CreateEventMutation` and
 * `CreateEventMutationVariables`). Paths are relative to the repository, whatever the current
 * directory; run it where the plugins are installed. A frontend project copies this file and
 * points it at its own operations and output through the environment (or edits the defaults):
 *
 *   IVEN_CODEGEN_SCHEMA     the schema: schema/schema.graphql (checked in, always current), or a
 *                           running server's http://127.0.0.1:8000/graphql (introspection is on
 *                           outside production)
 *   IVEN_CODEGEN_DOCUMENTS  the operations: a path or glob (e.g. "src/**\/*.graphql"); by
 *                           default the ```graphql blocks of README.md
 *   IVEN_CODEGEN_OUTPUT     the folder to write schema.ts and operations.ts into
 *                           (default build/codegen)
 *
 * Every custom scalar is mapped, and `strictScalars` makes a scalar the server adds later an
 * error here instead of a silent `any` (docs/scalars.md says what each one carries).
 */
import type { CodegenConfig } from "@graphql-codegen/cli";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";

/** The repository's root: this file's defaults are relative to it, whatever the cwd. */
const ROOT = resolve(__dirname, "..");

/** The operations of README.md's ```graphql blocks (each one named), as one document. */
function readmeOperations(path: string): string {
  const readme = readFileSync(path, "utf8");
  const blocks: string[] = [];
  for (const match of readme.matchAll(/^([ \t]*)```graphql\n([\s\S]*?)^\1```/gm)) {
    blocks.push(match[2]);
  }
  return blocks.join("\n");
}

const env = process.env;

/** The scalars' TypeScript types (docs/scalars.md), shared by both outputs. */
const scalarsConfig = {
  strictScalars: true,
  scalars: {
    // global ids are opaque strings, in and out
    ID: "string",
    // RFC 3339 with its offset, "2030-06-01T12:00:00+02:00": parse with your date library
    DateTime: "string",
    // an exact decimal string, "12.50": keep it a string (or a decimal library), never a float
    Decimal: "string",
    // any JSON value
    JSON: "Record<string, unknown> | unknown[] | string | number | boolean | null",
    // a file of a multipart request (apollo-upload-client, urql): input only
    Upload: "File | Blob",
  },
  useTypeImports: true,
};

const out = env.IVEN_CODEGEN_OUTPUT ?? resolve(ROOT, "build/codegen");

const config: CodegenConfig = {
  overwrite: true,
  schema: env.IVEN_CODEGEN_SCHEMA ?? resolve(ROOT, "schema/schema.graphql"),
  documents: env.IVEN_CODEGEN_DOCUMENTS ?? readmeOperations(resolve(ROOT, "README.md")),
  generates: {
    // every type of the schema (objects, inputs, enums), for code that needs more than the
    // operations' own types
    [resolve(out, "schema.ts")]: {
      plugins: ["typescript"],
      config: { ...scalarsConfig, enumsAsTypes: true },
    },
    // per named operation: its result type and its variables' type, with the enums and inputs
    // they use (typescript-operations 6 writes those itself, so it gets its own file)
    [resolve(out, "operations.ts")]: {
      plugins: ["typescript-operations"],
      config: scalarsConfig,
    },
  },
};

export default config;
