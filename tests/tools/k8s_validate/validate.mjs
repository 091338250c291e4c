// validate.mjs - validates Kubernetes objects against the Kubernetes
// OpenAPI schemas, as the npm package kubernetes-models ships them
// (compiled by ajv; package.json and package-lock.json pin the versions).
//
//   node validate.mjs NODE_MODULES OBJECTS.json...
//
// Each OBJECTS.json holds a JSON array of objects (tests/tools/
// kustomize_lite.py --json). Every object is checked against the schema
// of its apiVersion and kind: types, required fields, enums and formats.
// The schemas, like the API server's OpenAPI, allow unknown fields (the
// API server drops them, or refuses them with strict field validation):
// a misspelt `readinesProbe` would pass them and silently do nothing. So
// every field is also looked up in the package's type declarations (the
// .d.ts interface of each object type, generated from the same OpenAPI)
// and an unknown one is an error, as `kubectl apply --validate=strict`
// makes it. Prints one line per object; exit 1 when any is invalid or has
// no schema here.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";

const [modules, ...files] = process.argv.slice(2);
if (!modules || files.length === 0) {
  console.error("usage: node validate.mjs NODE_MODULES OBJECTS.json...");
  process.exit(2);
}

// apiVersion "v1" is the core group, kept under v1/ in the package;
// "apps/v1" under apps/v1/.
function modelPath(apiVersion, kind) {
  const parts = String(apiVersion).split("/");
  const dir = parts.length === 1 ? ["v1"] : parts;
  if (parts.length === 1 && parts[0] !== "v1") return null;
  return join(modules, "kubernetes-models", ...dir, `${kind}.js`);
}

// The fields of the interface a .d.ts file declares first, each with the
// .d.ts of its type (null: a scalar, a string map or an alias such as
// IntOrString, whose inside is not an object of known fields).
const declCache = new Map();
function declFields(dts) {
  if (declCache.has(dts)) return declCache.get(dts);
  const text = readFileSync(dts, "utf8");
  const where = new Map();
  for (const m of text.matchAll(/import \{([^}]*)\} from "([^"]+)"/g)) {
    const from = m[2].startsWith(".")
      ? join(dirname(dts), m[2])
      : join(modules, m[2]);
    for (const name of m[1].split(",").map((x) => x.trim()))
      where.set(name, from.replace(/\.js$/, "") + ".d.ts");
  }
  const body = text.match(/^export interface I\w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/m);
  let fields = null;
  if (body) {
    fields = new Map();
    for (const m of body[1].matchAll(/^ {4}"([^"]+)"\??: (.*)$/gm)) {
      const t = m[2].startsWith("{") ? null : m[2].match(/IIo\w+/);
      fields.set(m[1], t && where.has(t[0]) ? where.get(t[0]) : null);
    }
  }
  declCache.set(dts, fields);
  return fields;
}

// Paths of the fields of value that its type does not declare.
function unknownFields(value, dts, path, out) {
  if (value === null || typeof value !== "object" || !dts) return out;
  if (Array.isArray(value)) {
    value.forEach((v, i) => unknownFields(v, dts, `${path}/${i}`, out));
    return out;
  }
  const fields = existsSync(dts) ? declFields(dts) : null;
  if (!fields) return out;
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) out.push(`${path}/${k}`);
    else unknownFields(v, fields.get(k), `${path}/${k}`, out);
  }
  return out;
}

let bad = 0;
for (const file of files) {
  const objs = JSON.parse(readFileSync(file, "utf8"));
  for (const obj of objs) {
    const what = `${obj.apiVersion} ${obj.kind}/${obj.metadata?.name}`;
    const p = modelPath(obj.apiVersion, obj.kind);
    if (!p || !existsSync(p)) {
      console.log(`INVALID ${what}: no schema for this apiVersion and kind`);
      bad++;
      continue;
    }
    const mod = await import(pathToFileURL(p).href);
    const Model = mod[obj.kind];
    try {
      new Model(obj).validate();
      const extra = unknownFields(obj, p.replace(/\.js$/, ".d.ts"), "", []);
      if (extra.length > 0)
        throw new Error(`unknown fields: ${extra.join(", ")}`);
      console.log(`ok ${what}`);
    } catch (e) {
      console.log(`INVALID ${what}: ${e.message}`);
      bad++;
    }
  }
}
process.exit(bad === 0 ? 0 : 1);
