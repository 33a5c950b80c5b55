/**
 * Rendered manifests checked against the Kubernetes API schemas shipped by npm packages, in two ways:
 * - `schemaErrors`: the OpenAPI schemas compiled by kubernetes-models (types, enums, required fields);
 * - `unknownFieldErrors`: the same models' TypeScript interfaces, type-checked as object literals, so a
 *   misspelt or misplaced field fails (what `kubectl --validate=strict` would say; the schemas alone
 *   accept unknown fields, and Helm would silently drop them at install).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { Secret, Service, ServiceAccount } from 'kubernetes-models/v1';
import {
  PrometheusRule,
  ServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { REPO_ROOT } from './helm.js';

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

interface ModelEntry {
  validate(data: Manifest): void;
  /** Module and interface the strict check types the object with. */
  module: string;
  type: string;
}

function entry(Model: new (data: never) => { validate(): void }, module: string, type: string): ModelEntry {
  return { validate: (data) => new Model(data as never).validate(), module, type };
}

// Every kind the chart may render; a new kind must be added here, or its manifests fail the check.
const MODELS: Record<string, ModelEntry> = {
  'apps/v1/DaemonSet': entry(DaemonSet, 'kubernetes-models/apps/v1', 'IDaemonSet'),
  'v1/Secret': entry(Secret, 'kubernetes-models/v1', 'ISecret'),
  'v1/Service': entry(Service, 'kubernetes-models/v1', 'IService'),
  'v1/ServiceAccount': entry(ServiceAccount, 'kubernetes-models/v1', 'IServiceAccount'),
  'monitoring.coreos.com/v1/ServiceMonitor': entry(
    ServiceMonitor,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
    'IServiceMonitor',
  ),
  'monitoring.coreos.com/v1/PrometheusRule': entry(
    PrometheusRule,
    '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1',
    'IPrometheusRule',
  ),
};

/** The documents of `helm template` output; empty documents are dropped, YAML errors throw. */
export function parseManifests(text: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const manifests: Manifest[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML is invalid: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Manifest | null;
    if (value !== null) manifests.push(value);
  }
  return manifests;
}

function keyOf(m: Manifest): string {
  return `${m.apiVersion}/${m.kind}`;
}

/** One message per manifest that is of an unknown kind or breaks its schema. */
export function schemaErrors(manifests: readonly Manifest[]): string[] {
  const errors: string[] = [];
  for (const m of manifests) {
    const model = MODELS[keyOf(m)];
    if (model === undefined) {
      errors.push(`${keyOf(m)} ${m.metadata?.name}: no schema known for this kind`);
      continue;
    }
    try {
      model.validate(m);
    } catch (err) {
      errors.push(`${keyOf(m)} ${m.metadata.name}: ${(err as Error).message}`);
    }
  }
  return errors;
}

/** Type-checks each manifest as a literal of its model's interface; returns TypeScript's complaints. */
export function unknownFieldErrors(manifests: readonly Manifest[]): string[] {
  // Under node_modules so that the packages resolve from it; removed afterwards.
  const dir = join(REPO_ROOT, 'node_modules', '.cache', 'multinic-agent-manifests');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `check-${randomBytes(4).toString('hex')}.ts`);
  const lines: string[] = [];
  manifests.forEach((m, i) => {
    const model = MODELS[keyOf(m)];
    if (model === undefined) return;
    lines.push(`import type { ${model.type} as T${i} } from '${model.module}';`);
    lines.push(`export const m${i}: T${i} = ${JSON.stringify(m, null, 2)};`);
  });
  writeFileSync(file, lines.join('\n'));
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => describe(d));
  } finally {
    rmSync(file, { force: true });
  }
}

function describe(d: ts.Diagnostic): string {
  const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  if (d.file === undefined || d.start === undefined) return text;
  const { line } = d.file.getLineAndCharacterOfPosition(d.start);
  // The offending line of the generated file names the field.
  const source = d.file.text.split('\n')[line]?.trim() ?? '';
  return `${text} (at: ${source})`;
}
