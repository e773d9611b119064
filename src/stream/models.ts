/**
 * Which model version the pipeline runs. Two sources:
 *  - FixedModel: one model directory, loaded at start (`model` in the serve config; the demo).
 *  - RegistryFollower: the registry's `active` pointer (`registry.modelsRoot`, the directory the
 *    API's ModelRegistry writes), polled every `pollMs`. A promotion, rollback or auto-promoted
 *    refit changes the target; each partition of the pipeline hands its sites over at its next
 *    batch boundary (KafkaPipeline). Every version ever active is a directory under
 *    `<root>/versions/`, so a checkpoint written by an older version can always be restored with it.
 *
 * An activation is identified by the pointer's `changedAt`: a partition only moves to an activation
 * newer than the one its checkpoint records, so a member that has not polled the pointer yet never
 * moves a partition back to the version it just left.
 */
import path from 'node:path';
import { loadDetector, type Detector } from '../detector.ts';
import { readActivePointer, versionsDir } from '../adapters/model-registry-files.ts';

export interface ModelTarget {
  detector: Detector;
  /** The activation's time (the pointer's changedAt); null for a fixed model directory. */
  activation: string | null;
}

export interface ModelSource {
  /** The version the stream should run now. */
  target(): ModelTarget;
  /** A version's detector (for restoring a checkpoint it wrote); null if this source cannot provide it. */
  version(version: string): Promise<Detector | null>;
  close(): void;
}

export class FixedModel implements ModelSource {
  constructor(private readonly det: Detector) {}

  target(): ModelTarget {
    return { detector: this.det, activation: null };
  }

  async version(version: string): Promise<Detector | null> {
    return version === this.det.modelVersion ? this.det : null;
  }

  close(): void {}
}

export class RegistryFollower implements ModelSource {
  private current!: ModelTarget;
  private readonly loaded = new Map<string, Promise<Detector>>();
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  /** The pointer (changedAt) last reported as not followable: reported once, retried every poll. */
  private reported: string | null = null;

  private constructor(readonly root: string, private readonly log: (msg: string) => void) {}

  /** Reads the pointer and loads the active version; fails (naming the directory) if there is none. */
  static async open(root: string, opts: { pollMs: number; log?: (msg: string) => void }): Promise<RegistryFollower> {
    const f = new RegistryFollower(path.resolve(root), opts.log ?? (() => {}));
    const p = await readActivePointer(f.root);
    if (!p) throw new Error(`registry.modelsRoot ${root}: no active model version (no ${path.join(root, 'active')}); promote one with the API first`);
    f.current = { detector: await f.load(p.version), activation: p.changedAt };
    f.timer = setInterval(() => void f.poll(), opts.pollMs);
    f.timer.unref();
    return f;
  }

  target(): ModelTarget {
    return this.current;
  }

  async version(version: string): Promise<Detector | null> {
    try {
      return await this.load(version);
    } catch (err) {
      this.log(`model version ${version} cannot be loaded from ${versionsDir(this.root)}: ${(err as Error).message}`);
      return null;
    }
  }

  /** Re-reads the pointer now (the timer does it every pollMs); resolves once a new target is loaded. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    let changedAt: string | null = null;
    try {
      const p = await readActivePointer(this.root);
      if (!p || p.changedAt === this.current.activation) return;
      changedAt = p.changedAt;
      const detector = await this.load(p.version);
      this.log(`registry: version ${p.version} active since ${p.changedAt} (${p.reason} by ${p.by}); partitions switch at their next batch`);
      this.current = { detector, activation: p.changedAt };
    } catch (err) {
      // A version that does not load (or an unreadable pointer): keep the current target, try again next time.
      if (this.reported !== changedAt) this.log(`registry: cannot follow the active pointer: ${(err as Error).message}`);
      this.reported = changedAt;
    } finally {
      this.polling = false;
    }
  }

  /**
   * Loads a version once. Versions are immutable, so a loaded one stays valid; they are kept until
   * close (a pipeline runs a handful of versions in its lifetime, each a few MB at most).
   */
  private load(version: string): Promise<Detector> {
    // The name comes from the pointer or a checkpoint record: it must stay inside the versions directory.
    if (!/^[\w.-]{1,128}$/.test(version) || version === '.' || version === '..') return Promise.reject(new Error(`invalid model version name ${JSON.stringify(version.slice(0, 140))}`));
    let d = this.loaded.get(version);
    if (!d) {
      d = loadDetector(path.join(versionsDir(this.root), version));
      d.catch(() => this.loaded.delete(version));
      this.loaded.set(version, d);
    }
    return d;
  }

  /** Stops polling and frees the loaded versions (call it after the pipeline stopped using them). */
  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const d of this.loaded.values()) {
      d.then((det) => {
        det.model.dispose();
        det.adjacency.dispose();
      }, () => {});
    }
    this.loaded.clear();
  }
}
