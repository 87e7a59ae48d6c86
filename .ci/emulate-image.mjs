// Proves the Dockerfile's commands without a Docker engine: runs each stage's COPY and RUN
// instructions, in order, in a directory of its own standing in for the stage's filesystem
// (/app of stage "build" is <work>/build/app), then starts the runtime stage's CMD with its
// ENV as its USER, runs its HEALTHCHECK command and calls the API like a client.
// Usage: node .ci/emulate-image.mjs <empty work directory> <DATABASE_URL>
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { basename, join } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';

const [work, databaseUrl] = process.argv.slice(2);
if (!work || !databaseUrl) throw new Error('usage: emulate-image.mjs <work directory> <DATABASE_URL>');
const context = process.cwd();
/** Users of the base image (node:24-*) by name. */
const users = { root: 0, node: 1000 };

const dockerfile = DockerfileParser.parse(readFileSync(join(context, 'Dockerfile'), 'utf8'));
const stages = [];
for (const instruction of dockerfile.getInstructions()) {
  const keyword = instruction.getKeyword();
  if (keyword === 'FROM') {
    // The base image's Node is the one on PATH: the stages run with it, so it must be the same major.
    const image = instruction.getImageName() + ':' + instruction.getImageTag();
    const major = /^node:(\d+)-/.exec(image)?.[1];
    const onPath = execFileSync('node', ['--version'], { encoding: 'utf8' }).trim();
    if (!major || !onPath.startsWith(`v${major}.`)) {
      throw new Error(`the stages of ${image} need Node ${major ?? '?'} first on PATH, not ${onPath} (see .ci/run)`);
    }
    const name = instruction.getBuildStage() ?? `stage${stages.length}`;
    stages.push({
      name,
      root: join(work, name),
      workdir: '/',
      env: {},
      user: 'root',
      cmd: undefined,
      healthcheck: undefined,
      steps: [],
    });
    continue;
  }
  const stage = stages.at(-1);
  if (!stage) throw new Error(`${keyword} before FROM`);
  stage.steps.push(instruction);
}

const inStage = (stage, path) => join(stage.root, path.startsWith('/') ? path : join(stage.workdir, path));
const jsonArguments = (text) => JSON.parse(text.trim());

function copy(stage, instruction) {
  const from = instruction
    .getFlags()
    .find((flag) => flag.getName() === 'from')
    ?.getValue();
  const source = from ? stages.find((candidate) => candidate.name === from) : undefined;
  if (from && !source) throw new Error(`COPY --from=${from}: no such stage`);
  const args = instruction.getArguments().map((argument) => argument.getValue());
  const destination = args.pop();
  for (const path of args) {
    const origin = source ? inStage(source, path) : join(context, path);
    const directory = statSync(origin).isDirectory();
    const target = inStage(stage, destination.endsWith('/') || args.length > 1 ? join(destination, basename(path)) : destination);
    if (!directory) mkdirSync(join(target, '..'), { recursive: true });
    cpSync(origin, target, { recursive: true });
  }
}

for (const stage of stages) {
  console.log(`\n--- stage ${stage.name}`);
  mkdirSync(stage.root, { recursive: true });
  for (const instruction of stage.steps) {
    const keyword = instruction.getKeyword();
    switch (keyword) {
      case 'WORKDIR':
        stage.workdir = instruction.getArgumentsContent().trim();
        mkdirSync(inStage(stage, '.'), { recursive: true });
        break;
      case 'ENV':
        for (const property of instruction.getProperties()) stage.env[property.getName()] = property.getValue();
        break;
      case 'COPY':
        copy(stage, instruction);
        break;
      case 'RUN': {
        const command = instruction.getArgumentsContent();
        console.log(`RUN ${command}`);
        execFileSync('sh', ['-c', command], {
          cwd: inStage(stage, '.'),
          env: { ...process.env, ...stage.env },
          stdio: 'inherit',
        });
        break;
      }
      case 'USER':
        stage.user = instruction.getArgumentsContent().trim();
        break;
      case 'CMD':
        stage.cmd = jsonArguments(instruction.getArgumentsContent());
        break;
      case 'HEALTHCHECK':
        stage.healthcheck = jsonArguments(
          instruction
            .getArgumentsContent()
            .trim()
            .replace(/^CMD\s+/, ''),
        );
        break;
      case 'EXPOSE':
        break;
      default:
        throw new Error(`emulate-image.mjs does not know ${keyword}: teach it, or keep the Dockerfile to what it checks`);
    }
  }
}

const runtime = stages.at(-1);
const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = server.address();
    server.close(() => resolve(free));
  });
});
const uid = users[runtime.user] ?? Number(runtime.user);
const asUser = process.getuid?.() === 0 ? { uid, gid: uid } : {};
if (process.getuid?.() !== 0) console.log(`(not root: running the CMD as this user instead of ${runtime.user})`);
// The service's user must reach its files, as in the image, where / is world-readable.
for (let path = join(runtime.root, 'app'); path.startsWith(work); path = join(path, '..')) execFileSync('chmod', ['a+rx', path]);
execFileSync('chmod', ['a+rx', work]);

const env = {
  PATH: process.env.PATH,
  ...runtime.env,
  PORT: String(port),
  DATABASE_URL: databaseUrl,
  API_KEYS: 'image-app:image-check-secret-0123456789abcdef0123',
  COCKPIT_SECRET: 'image-check-cockpit-secret-0123456789abcdef',
};
console.log(`\n--- CMD ${JSON.stringify(runtime.cmd)} as ${runtime.user}, port ${port}`);
const [command, ...args] = runtime.cmd;
const server = spawn(command, args, { cwd: inStage(runtime, '.'), env, stdio: ['ignore', 'inherit', 'inherit'], ...asUser });
const exited = new Promise((resolve) => server.on('exit', (code) => resolve(code)));

const base = `http://127.0.0.1:${port}`;
async function waitReady() {
  for (let attempt = 0; attempt < 120; attempt++) {
    const status = await fetch(`${base}/health/ready`).then(
      (response) => response.status,
      () => 0,
    );
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error('the runtime stage did not become ready within 60 s');
}

try {
  await waitReady();
  console.log(`\n--- HEALTHCHECK ${JSON.stringify(runtime.healthcheck)}`);
  const [check, ...checkArgs] = runtime.healthcheck;
  execFileSync(check, checkArgs, { env, stdio: 'inherit', ...asUser });
  const headers = {
    'X-App-Id': 'image-app',
    'X-App-Token': 'image-check-secret-0123456789abcdef0123',
    'Content-Type': 'application/json',
  };
  const sourceId = `image-${Date.now()}`;
  const created = await fetch(`${base}/v1/customers`, { method: 'POST', headers, body: JSON.stringify({ source_id: sourceId }) });
  if (created.status !== 200) throw new Error(`POST /v1/customers answered ${created.status}: ${await created.text()}`);
  const read = await fetch(`${base}/v1/customers/${sourceId}`, { headers });
  if (read.status !== 200) throw new Error(`GET /v1/customers/${sourceId} answered ${read.status}`);
  const docs = await fetch(`${base}/docs/`);
  if (docs.status !== 200) throw new Error(`GET /docs/ answered ${docs.status}`);
} finally {
  server.kill('SIGTERM');
}
const code = await exited;
if (code !== 0) throw new Error(`the service exited with ${code} after SIGTERM`);
console.log(
  "\nimage check passed: the Dockerfile's stages built, and its CMD migrated, served, passed its HEALTHCHECK and stopped cleanly",
);
