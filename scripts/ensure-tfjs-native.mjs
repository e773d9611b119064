#!/usr/bin/env node
// Makes the native @tensorflow/tfjs-node backend loadable without its own install step (which
// downloads libtensorflow from a host these machines cannot reach).
//
// 1. If `@tensorflow/tfjs-node` already loads in a child process: print one line, exit 0.
// 2. Otherwise: take libtensorflow_cc.so.2 / libtensorflow_framework.so.2 and the C headers from
//    the `tensorflow-cpu` wheel on PyPI (cached under .cache/tfjs-native/), lay them out in the
//    package's deps/, compile the N-API binding with node-gyp against the local Node headers, and
//    check that the backend loads and computes a matMul.
// 3. If that fails: say that the wasm backend will be used and exit 0, so `npm install` never
//    fails because of it -- unless GANF_REQUIRE_NATIVE=1 (CI), then exit 1.
//
// Env: GANF_REQUIRE_NATIVE=1  fail hard if the native backend does not load
//      GANF_SKIP_NATIVE=1     do nothing (the wasm backend will be used)
//      GANF_FORCE_NATIVE_REBUILD=1  rebuild the binding even if it already loads
//      GANF_TF_WHEEL_VERSION  tensorflow-cpu version to take libtensorflow from (default 2.21.0)
//      GANF_TF_WHEEL          path to a tensorflow-cpu wheel to use instead of the cache / PyPI
//      GANF_NODEDIR           Node install prefix holding include/node (default: found locally)
// No dependencies beyond Node itself, python3 (+pip) and a C++ toolchain for node-gyp.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CACHE_DIR = path.join(ROOT, '.cache', 'tfjs-native');
const TF_VERSION = process.env.GANF_TF_WHEEL_VERSION || '2.21.0';
const REQUIRE_NATIVE = process.env.GANF_REQUIRE_NATIVE === '1';
const LOG_FILE = path.join(CACHE_DIR, 'build.log');
// Header directories (inside the wheel's tensorflow/include/) that the binding's includes reach:
// tensorflow/c/{c_api,eager/c_api,...}.h -> tensorflow/core/platform/ctstring*.h -> tsl/platform,
// xla/tsl/c/tsl_status.h. Taken whole (about 6 MB) so small header moves between TF releases fit.
const HEADER_DIRS = ['tensorflow/c/', 'tensorflow/core/platform/', 'tsl/', 'xla/tsl/'];
const LIBS = ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2'];
// tfjs-node's scripts/install.js skips its download when deps/lib/libtensorflow.so.<this> exists.
const TFJS_NODE_LIBTF_VERSION = '2.9.1';

const t0 = Date.now();
const say = (msg) => console.log(`[tfjs-native] ${msg}`);
const secs = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

class BuildError extends Error {}

function logToFile(title, text) {
  try {
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    fs.appendFileSync(LOG_FILE, `\n===== ${new Date().toISOString()} ${title}\n${text ?? ''}\n`);
  } catch {
    /* logging is best effort */
  }
}

/** Run a command, capturing output into build.log; throw BuildError with its tail on failure. */
function run(cmd, args, { cwd = ROOT, env = process.env, what, timeoutMs = 20 * 60_000 } = {}) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', maxBuffer: 256 << 20, timeout: timeoutMs });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  logToFile(`${cmd} ${args.join(' ')} (cwd ${cwd}) -> ${r.error ? r.error.message : `exit ${r.status}`}`, out);
  if (r.error || r.status !== 0) {
    const tail = out.trim().split('\n').slice(-15).join('\n');
    throw new BuildError(
      `${what ?? cmd} failed (${r.error ? r.error.message : `exit ${r.status ?? r.signal}`})` +
        (tail ? `:\n${tail}` : ''),
    );
  }
  return r;
}

function commandWorks(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60_000 });
  return !r.error && r.status === 0;
}

// ---------------------------------------------------------------------------------------------
// Probe: does the native backend load in a fresh process?

const PROBE = `
const tf = require(process.env.GANF_TFJS_NODE_MAIN);
const backend = tf.getBackend();
const m = tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])).arraySync();
process.stdout.write('\\nGANF_PROBE ' + JSON.stringify({ backend, matMul: m, tf: tf.version && tf.version['tfjs-node'] }) + '\\n');
`;

function probe(tfjsNodeMain) {
  const r = spawnSync(process.execPath, ['-e', PROBE], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, GANF_TFJS_NODE_MAIN: tfjsNodeMain, TF_CPP_MIN_LOG_LEVEL: '2' },
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('GANF_PROBE '));
  if (r.status === 0 && line) {
    const res = JSON.parse(line.slice('GANF_PROBE '.length));
    if (res.backend === 'tensorflow') return { ok: true, ...res };
    return { ok: false, reason: `tfjs-node loaded but the active backend is "${res.backend}"` };
  }
  const err = `${r.stderr ?? ''}${r.error ? r.error.message : ''}`;
  const msg = err.split('\n').find((l) => /^\s*(\w*Error|Error)\b/.test(l)) ?? err.trim().split('\n')[0];
  if (/native addon module \(\S+\) can not be found/.test(msg ?? '')) return { ok: false, reason: 'its native addon is not built' };
  return { ok: false, reason: (msg || `exit ${r.status}`).trim() };
}

// ---------------------------------------------------------------------------------------------
// Build steps

function locateTfjsNode() {
  const req = createRequire(path.join(ROOT, 'package.json'));
  let pkgJson;
  try {
    pkgJson = req.resolve('@tensorflow/tfjs-node/package.json');
  } catch {
    throw new BuildError('@tensorflow/tfjs-node is not installed (run npm install first)');
  }
  const pkgDir = path.dirname(pkgJson);
  const pkg = JSON.parse(fs.readFileSync(pkgJson, 'utf8'));
  const main = path.join(pkgDir, pkg.main || 'index.js');
  // Where dist/index.js will look for the addon: node-pre-gyp's find() over the "binary" field.
  let bindingPath;
  try {
    bindingPath = createRequire(pkgJson)('@mapbox/node-pre-gyp').find(pkgJson);
  } catch {
    const napi = Math.max(...pkg.binary.napi_versions.filter((v) => v <= Number(process.versions.napi)));
    bindingPath = path.join(pkgDir, 'lib', `napi-v${napi}`, `${pkg.binary.module_name}.node`);
  }
  const napiMatch = /napi-v(\d+)/.exec(bindingPath);
  if (!napiMatch) throw new BuildError(`unexpected addon path ${bindingPath}`);
  return { pkgDir, pkgJson, main, bindingPath, napiVersion: napiMatch[1], moduleName: pkg.binary.module_name };
}

function findPython() {
  for (const py of [process.env.PYTHON, 'python3', 'python'].filter(Boolean)) {
    if (commandWorks(py, ['-c', 'import zipfile, sys; assert sys.version_info >= (3, 8)'])) return py;
  }
  throw new BuildError('python3 not found (needed to fetch/unpack the tensorflow-cpu wheel and by node-gyp)');
}

function findCachedWheel() {
  if (process.env.GANF_TF_WHEEL) {
    if (!fs.existsSync(process.env.GANF_TF_WHEEL)) throw new BuildError(`GANF_TF_WHEEL=${process.env.GANF_TF_WHEEL} does not exist`);
    return path.resolve(process.env.GANF_TF_WHEEL);
  }
  if (!fs.existsSync(CACHE_DIR)) return undefined;
  const wheels = fs
    .readdirSync(CACHE_DIR)
    .filter((f) => /^tensorflow_cpu-[\w.]+-.*linux.*x86_64\.whl$/.test(f))
    .sort();
  const exact = wheels.filter((f) => f.startsWith(`tensorflow_cpu-${TF_VERSION}-`));
  const pick = (exact.length ? exact : wheels).at(-1);
  return pick && path.join(CACHE_DIR, pick);
}

function downloadWheel(python) {
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(CACHE_DIR, 'download-'));
  try {
    const spec = `tensorflow-cpu==${TF_VERSION}`;
    // Pinned tags first, so the same wheel is fetched whatever the local Python is; the
    // libtensorflow*.so inside do not depend on the Python version. Plain download as fallback.
    const attempts = [
      ['--only-binary=:all:', '--platform', 'manylinux_2_27_x86_64', '--python-version', '3.11',
        '--implementation', 'cp', '--abi', 'cp311'],
      [],
    ];
    let lastErr;
    for (const extra of attempts) {
      try {
        run(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-q', ...extra, spec, '-d', tmp], {
          what: `pip download ${spec}`,
        });
        const whl = fs.readdirSync(tmp).find((f) => f.endsWith('.whl'));
        if (!whl) throw new BuildError(`pip download ${spec} produced no wheel`);
        const dest = path.join(CACHE_DIR, whl);
        fs.renameSync(path.join(tmp, whl), dest); // only complete wheels land in the cache
        return dest;
      } catch (e) {
        lastErr = e;
      }
    }
    throw lastErr;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

const UNPACK_PY = `
import os, shutil, sys, zipfile
whl, out, libs, dirs = sys.argv[1], sys.argv[2], sys.argv[3].split(','), sys.argv[4].split(',')
inc = 'tensorflow/include/'
n = 0
with zipfile.ZipFile(whl) as z:
    names = set(z.namelist())
    for lib in libs:
        if 'tensorflow/' + lib not in names:
            sys.exit('wheel has no tensorflow/' + lib)
        with z.open('tensorflow/' + lib) as src, open(os.path.join(out, 'lib', lib), 'wb') as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        os.chmod(os.path.join(out, 'lib', lib), 0o755)
    for name in names:
        if name.startswith(inc) and not name.endswith('/') and any(name[len(inc):].startswith(d) for d in dirs):
            dest = os.path.join(out, 'include', name[len(inc):])
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            with z.open(name) as src, open(dest, 'wb') as dst:
                shutil.copyfileobj(src, dst)
            n += 1
print(n)
`;

/** Lay out deps/lib and deps/include from the wheel (staged, then swapped in). */
function unpackDeps(python, wheel, depsDir) {
  const stage = `${depsDir}.partial`;
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(path.join(stage, 'lib'), { recursive: true });
  fs.mkdirSync(path.join(stage, 'include'), { recursive: true });
  const r = run(python, ['-c', UNPACK_PY, wheel, stage, LIBS.join(','), HEADER_DIRS.join(',')], {
    what: `unpacking ${path.basename(wheel)}`,
  });
  for (const h of ['tensorflow/c/c_api.h', 'tensorflow/c/eager/c_api.h']) {
    if (!fs.existsSync(path.join(stage, 'include', h))) throw new BuildError(`wheel lacks header ${h}`);
  }
  const lib = path.join(stage, 'lib');
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(lib, 'libtensorflow.so')); // -ltensorflow
  fs.symlinkSync('libtensorflow_framework.so.2', path.join(lib, 'libtensorflow_framework.so'));
  // Marker for tfjs-node's own installer (a later `npm rebuild` then skips its download).
  fs.symlinkSync('libtensorflow_cc.so.2', path.join(lib, `libtensorflow.so.${TFJS_NODE_LIBTF_VERSION}`));
  fs.writeFileSync(
    path.join(stage, 'ganf-source.json'),
    JSON.stringify({ wheel: path.basename(wheel), headers: Number(r.stdout.trim()), at: new Date().toISOString() }, null, 2) + '\n',
  );
  fs.rmSync(depsDir, { recursive: true, force: true });
  fs.renameSync(stage, depsDir);
}

function depsReady(depsDir) {
  try {
    const src = JSON.parse(fs.readFileSync(path.join(depsDir, 'ganf-source.json'), 'utf8'));
    return (
      [...LIBS.map((l) => `lib/${l}`), 'lib/libtensorflow.so', 'include/tensorflow/c/eager/c_api.h'].every((f) =>
        fs.existsSync(path.join(depsDir, f)),
      ) && src.wheel
    );
  } catch {
    return undefined;
  }
}

function findNodeGyp() {
  const req = createRequire(path.join(ROOT, 'package.json'));
  const candidates = [
    process.env.npm_config_node_gyp, // set by npm while it runs lifecycle scripts
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(path.dirname(process.execPath), 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  try {
    candidates.push(req.resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    /* not a project dependency */
  }
  const npmGyp = spawnSync('npm', ['root', '-g'], { encoding: 'utf8', timeout: 30_000 });
  if (npmGyp.status === 0) candidates.push(path.join(npmGyp.stdout.trim(), 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  const found = candidates.find((c) => c && fs.existsSync(c));
  if (!found) throw new BuildError('node-gyp not found (it normally ships inside npm)');
  return found;
}

/** An offline Node header dir: a prefix with include/node/{node_api.h,common.gypi}. */
function findNodeDir() {
  const versionDir = process.version.slice(1);
  const home = process.env.HOME || '/root';
  const candidates = [
    process.env.GANF_NODEDIR,
    process.env.npm_config_nodedir,
    path.resolve(path.dirname(process.execPath), '..'),
    '/usr/local',
    '/usr',
    path.join(home, '.cache', 'node-gyp', versionDir),
    path.join(home, '.node-gyp', versionDir),
  ];
  const ok = candidates.find(
    (d) => d && ['node_api.h', 'common.gypi'].every((f) => fs.existsSync(path.join(d, 'include', 'node', f))),
  );
  if (!ok) {
    throw new BuildError(
      `no local Node headers found (looked for include/node/node_api.h under ${candidates.filter(Boolean).join(', ')}); ` +
        'set GANF_NODEDIR to a Node install prefix that has them',
    );
  }
  return ok;
}

function buildBinding(tfjs, nodeDir, nodeGyp) {
  const moduleDir = path.dirname(tfjs.bindingPath);
  fs.rmSync(tfjs.bindingPath, { force: true });
  run(
    process.execPath,
    [
      nodeGyp,
      'rebuild',
      `--nodedir=${nodeDir}`,
      `--directory=${tfjs.pkgDir}`,
      `--jobs=${Math.max(1, Math.min(4, os.availableParallelism()))}`,
      // The variables binding.gyp expects from node-pre-gyp:
      `--module_name=${tfjs.moduleName}`,
      `--module_path=${moduleDir}`,
      `--napi_build_version=${tfjs.napiVersion}`,
    ],
    { cwd: tfjs.pkgDir, what: 'node-gyp build of the tfjs-node binding' },
  );
  if (!fs.existsSync(tfjs.bindingPath)) throw new BuildError(`build finished but ${tfjs.bindingPath} is missing`);
}

// ---------------------------------------------------------------------------------------------

function fail(reason) {
  say(`native backend NOT available: ${reason}`);
  if (fs.existsSync(LOG_FILE)) say(`details: ${path.relative(ROOT, LOG_FILE)}`);
  if (REQUIRE_NATIVE) {
    say('GANF_REQUIRE_NATIVE=1, so this is an error.');
    process.exit(1);
  }
  say('the wasm backend will be used instead (everything works, training is slower).');
  process.exit(0);
}

function main() {
  if (process.env.GANF_SKIP_NATIVE === '1') {
    say('GANF_SKIP_NATIVE=1: not building the native backend; the wasm backend will be used.');
    return;
  }
  let tfjs;
  try {
    tfjs = locateTfjsNode();
  } catch (e) {
    return fail(e.message);
  }

  const force = process.env.GANF_FORCE_NATIVE_REBUILD === '1';
  const before = force ? { ok: false, reason: 'rebuild forced' } : probe(tfjs.main);
  if (before.ok) {
    say(`native backend already loads (${before.backend}, tfjs-node ${before.tf}) [${secs(t0)}]`);
    return;
  }
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    return fail(`${before.reason}; building it here is only supported on linux x64 (this is ${process.platform} ${process.arch})`);
  }
  say(`tfjs-node does not load yet (${before.reason.slice(0, 160)}); building it from the tensorflow-cpu wheel`);

  try {
    const depsDir = path.join(tfjs.pkgDir, 'deps');
    const python = findPython();
    const nodeDir = findNodeDir();
    const nodeGyp = findNodeGyp();
    const ready = depsReady(depsDir);
    if (ready && !process.env.GANF_TF_WHEEL) {
      say(`reusing deps/ laid out from ${ready}`);
    } else {
      let wheel = findCachedWheel();
      if (wheel) {
        say(`using cached wheel ${path.relative(ROOT, wheel)}`);
      } else {
        const t = Date.now();
        say(`downloading tensorflow-cpu==${TF_VERSION} from PyPI (about 270 MB) ...`);
        wheel = downloadWheel(python);
        say(`downloaded ${path.basename(wheel)} [${secs(t)}]`);
      }
      const t = Date.now();
      try {
        unpackDeps(python, wheel, depsDir);
      } catch (e) {
        if (process.env.GANF_TF_WHEEL || !(e instanceof BuildError)) throw e;
        // A truncated/corrupt cached wheel: drop it and fetch once more.
        say(`cached wheel unusable (${e.message.split('\n')[0]}); downloading it again`);
        fs.rmSync(wheel, { force: true });
        wheel = downloadWheel(python);
        unpackDeps(python, wheel, depsDir);
      }
      say(`laid out libtensorflow + C headers in ${path.relative(ROOT, depsDir)} [${secs(t)}]`);
    }
    const t = Date.now();
    say(`compiling the binding with node-gyp (Node headers from ${nodeDir}/include/node) ...`);
    buildBinding(tfjs, nodeDir, nodeGyp);
    say(`built ${path.relative(ROOT, tfjs.bindingPath)} [${secs(t)}]`);
  } catch (e) {
    if (!(e instanceof BuildError)) logToFile('unexpected error', e.stack);
    return fail(`build failed: ${e.message}`);
  }

  const after = probe(tfjs.main);
  if (!after.ok) return fail(`built, but it still does not load: ${after.reason}`);
  say(`native backend OK: ${after.backend}, matMul [[1,2],[3,4]]x[[5,6],[7,8]] = ${JSON.stringify(after.matMul)} [total ${secs(t0)}]`);
}

main();
