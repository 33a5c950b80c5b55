import type { BackendKind } from '../../core/os-release.js';
import type { NicConfig, OtherFile, OwnedFile } from '../../core/types.js';

/** A configuration file as it will be on the host. */
export interface ConfigFile {
  path: string;
  name: string;
  content: string;
}

export interface OwnedScan {
  /** The agent's own files (carrying the ownership header), sorted by name. */
  files: OwnedFile[];
  /** `multinicN` names whose path holds a file the agent does not own. */
  reservedNames: string[];
  /** Those files, and files named like the agent's at other paths: adoptable or foreign. */
  others: OtherFile[];
}

export type FileValidation = { ok: true } | { ok: false; name: string | null; message: string };

/**
 * What differs between netplan (Ubuntu) and NetworkManager (RHEL): where files live, their format, how
 * they are checked and applied. Everything else (plan, backup, verify, rollback) is shared.
 */
export interface Backend {
  readonly kind: BackendKind;
  /** Host path of the file for `multinicN`. */
  pathOf(name: string): string;
  /** The file for `config`, its header naming row `rowId` as the owner. */
  render(config: NicConfig, rowId: number): string;
  scan(): Promise<OwnedScan>;
  /**
   * Checks the complete set of agent files as they will be after the change, with the OS's own tool,
   * before anything on the host is touched. On failure, names the file's NIC when the tool says which.
   */
  validate(files: readonly ConfigFile[]): Promise<FileValidation>;
  /** Applies everything written, once for the whole batch; `set` names what changed. */
  apply(set: ApplySet): Promise<void>;
  /**
   * Safe mode: applies everything written as a trial that the OS tool reverts by itself unless it is
   * confirmed in time (netplan try). Resolves once the trial configuration is active.
   */
  startTrial(set: ApplySet): Promise<Trial>;
}

/**
 * What a batch changed. netplan applies everything at once and ignores it; NetworkManager brings up the
 * configured connections and takes down the removed ones.
 */
export interface ApplySet {
  configure: NicConfig[];
  /** Names whose configuration was removed. */
  remove: string[];
}

/** An applied configuration waiting for its verdict. */
export interface Trial {
  /** Keeps the configuration. */
  confirm(): Promise<void>;
  /** Restores the runtime configuration that was active before the trial (files are the caller's job). */
  revert(): Promise<void>;
}
