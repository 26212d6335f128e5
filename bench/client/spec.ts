/** What the orchestrator (run.ts) asks of one worker process, and what the worker answers. */

export type Library = 'mozzie' | 'mqttjs';
export type Workload = 'qos0' | 'qos1';

export const LIBRARIES: readonly Library[] = ['mozzie', 'mqttjs'];
export const WORKLOADS: readonly Workload[] = ['qos0', 'qos1'];

/** mosquitto: the real broker; sink: a null broker that only acknowledges (the clients set the rate). */
export type Target = 'mosquitto' | 'sink';
export const TARGETS: readonly Target[] = ['mosquitto', 'sink'];

export interface WorkerRequest {
  readonly library: Library;
  readonly workload: Workload;
  readonly port: number;
  /** Broker process whose CPU time is read at the start and end of the measured stretch (0: none). */
  readonly brokerPid: number;
  readonly version: 4 | 5;
  readonly payloadBytes: number;
  /** Messages published before measuring (JIT warm-up, socket buffers grown). */
  readonly warmupMessages: number;
  /** Messages in the measured stretch. */
  readonly messages: number;
  /** QoS 0: publish this many, then await the last one. */
  readonly batch: number;
  /** QoS 1: publish this many, then await all of them. */
  readonly window: number;
}

export interface WorkerResult {
  readonly library: Library;
  readonly workload: Workload;
  readonly messages: number;
  readonly elapsedMs: number;
  /** Messages per second, up to the broker having acknowledged the last one. */
  readonly rate: number;
  /** Worker CPU (user + system) during the measured stretch, in % of one core. */
  readonly cpuPercent: number;
  /** The kernel's part of cpuPercent (system calls: socket reads and writes). */
  readonly cpuSystemPercent: number;
  /** Worker CPU microseconds per message. */
  readonly cpuMicrosPerMessage: number;
  /** Broker CPU during the measured stretch, in % of one core (-1 when not measured). */
  readonly brokerCpuPercent: number;
  /**
   * CPU time of other processes on the two benchmark CPUs during the stretch, % of one core (-1 when
   * unknown): a shared machine shows up here, and run.ts measures such a round again.
   */
  readonly foreignCpuPercent: number;
  /** Highest RSS seen during the stretch minus the RSS before it, in bytes. */
  readonly rssGrowth: number;
  /** Heap used after the stretch (no GC) minus before it (after a full GC), in bytes. */
  readonly heapGrowth: number;
  /** Heap used after a full GC at the end minus before, in bytes: what the client kept. */
  readonly heapRetained: number;
}
